"""ReplicaSet status from its pods (Kubernetes' replica_set_utils.go calculateStatus). Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec

from kubelite.api.apps_v1 import ReplicaSet, ReplicaSetCondition, ReplicaSetStatus
from kubelite.api.core_v1 import Pod
from kubelite.api.labels import selector_from_set
from kubelite_controller_manager.replicaset import pods as podutil

REPLICA_FAILURE = "ReplicaFailure"


def _stamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def calculate_status(rs: ReplicaSet, active_pods: Sequence[Pod], manage_error: str | None,
                     now: datetime) -> ReplicaSetStatus:
    """Counts over the replica set's active pods; ReplicaFailure (FailedCreate /
    FailedDelete) set when managing replicas failed and cleared when it works again.
    observedGeneration is set by the caller only once the status is written."""
    old = rs.status or ReplicaSetStatus()
    template_labels = (rs.spec.template.metadata.labels if rs.spec and rs.spec.template
                       and rs.spec.template.metadata else None) or {}
    fully_labeled = selector_from_set(template_labels)
    min_ready = (rs.spec.minReadySeconds or 0) if rs.spec else 0
    labeled = ready = available = 0
    for pod in active_pods:
        if fully_labeled.matches(pod.metadata.labels or {}):
            labeled += 1
        if podutil.is_ready(pod):
            ready += 1
            if podutil.is_available(pod, min_ready, now):
                available += 1
    conditions = list(old.conditions or [])
    failure = next((c for c in conditions if c.type == REPLICA_FAILURE), None)
    if manage_error is not None and failure is None:
        want = (rs.spec.replicas if rs.spec and rs.spec.replicas is not None else 1)
        diff = len(active_pods) - want
        reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
        conditions.append(ReplicaSetCondition(type=REPLICA_FAILURE, status="True", reason=reason,
                                              message=manage_error, lastTransitionTime=_stamp(now)))
    elif manage_error is None and failure is not None:
        conditions = [c for c in conditions if c.type != REPLICA_FAILURE]
    return msgspec.structs.replace(
        old,
        replicas=len(active_pods),
        fullyLabeledReplicas=labeled,
        readyReplicas=ready,
        availableReplicas=available,
        conditions=conditions or None,
    )
