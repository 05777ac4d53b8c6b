"""Deployment status and conditions, as Kubernetes' sync.go (calculateStatus) and
progress.go (syncRolloutStatus) compute them. Pure: `now` is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec

from kubelite.api.apps_v1 import (
    Deployment,
    DeploymentCondition,
    DeploymentStatus,
    ReplicaSet,
    ReplicaSetCondition,
)
from kubelite_controller_manager.deployment import rollout

AVAILABLE = "Available"
PROGRESSING = "Progressing"
REPLICA_FAILURE = "ReplicaFailure"

# Reasons (deployment_util.go)
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
FAILED_RS_CREATE = "ReplicaSetCreateError"


def format_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s: str | None) -> datetime | None:
    if not s:
        return None
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None


def new_condition(ctype: str, status: str, reason: str, message: str, now: datetime) -> DeploymentCondition:
    stamp = format_time(now)
    return DeploymentCondition(type=ctype, status=status, reason=reason, message=message,
                               lastUpdateTime=stamp, lastTransitionTime=stamp)


def get_condition(status: DeploymentStatus | None, ctype: str) -> DeploymentCondition | None:
    for c in (status.conditions or []) if status else []:
        if c.type == ctype:
            return c
    return None


def set_condition(status: DeploymentStatus, cond: DeploymentCondition) -> DeploymentStatus:
    """SetDeploymentCondition: same status and reason = no change (times kept); same status,
    new reason = lastTransitionTime kept. Returns a new status."""
    current = get_condition(status, cond.type or "")
    if current is not None and current.status == cond.status and current.reason == cond.reason:
        return status
    if current is not None and current.status == cond.status:
        cond = msgspec.structs.replace(cond, lastTransitionTime=current.lastTransitionTime)
    others = [c for c in status.conditions or [] if c.type != cond.type]
    return msgspec.structs.replace(status, conditions=[*others, cond])


def remove_condition(status: DeploymentStatus, ctype: str) -> DeploymentStatus:
    conds = [c for c in status.conditions or [] if c.type != ctype]
    return msgspec.structs.replace(status, conditions=conds or None)


def has_progress_deadline(d: Deployment) -> bool:
    return bool(d.spec and d.spec.progressDeadlineSeconds is not None
                and d.spec.progressDeadlineSeconds < 2**31 - 1)


def calculate_status(all_rss: Sequence[ReplicaSet | None], new_rs: ReplicaSet | None, d: Deployment,
                     now: datetime) -> DeploymentStatus:
    """calculateStatus: counts summed over the replica sets, and the Available condition
    (True once available >= replicas - maxUnavailable)."""
    rss = [rs for rs in all_rss if rs is not None]
    available = rollout.total_available(rss)
    unavailable = max(0, rollout.total_spec_replicas(rss) - available)
    old = d.status or DeploymentStatus()
    status = DeploymentStatus(
        observedGeneration=d.metadata.generation,
        replicas=rollout.total_actual(rss),
        updatedReplicas=rollout.actual_replicas(new_rs),
        readyReplicas=rollout.total_ready(rss),
        availableReplicas=available,
        unavailableReplicas=unavailable,
        collisionCount=old.collisionCount,
        conditions=list(old.conditions) if old.conditions else None,
    )
    if available >= rollout.spec_replicas(d) - rollout.max_unavailable(d):
        cond = new_condition(AVAILABLE, "True", MIN_AVAILABLE, "Deployment has minimum availability.", now)
    else:
        cond = new_condition(AVAILABLE, "False", MIN_UNAVAILABLE, "Deployment does not have minimum availability.", now)
    return set_condition(status, cond)


def deployment_complete(d: Deployment, status: DeploymentStatus) -> bool:
    """DeploymentComplete: every replica updated and available, and this generation observed."""
    replicas = rollout.spec_replicas(d)
    return (
        (status.updatedReplicas or 0) == replicas
        and (status.replicas or 0) == replicas
        and (status.availableReplicas or 0) == replicas
        and (status.observedGeneration or 0) >= (d.metadata.generation or 0)
    )


def deployment_progressing(d: Deployment, new: DeploymentStatus) -> bool:
    """DeploymentProgressing: more updated/ready/available pods, or fewer old ones, than before."""
    old = d.status or DeploymentStatus()
    old_old = (old.replicas or 0) - (old.updatedReplicas or 0)
    new_old = (new.replicas or 0) - (new.updatedReplicas or 0)
    return (
        (new.updatedReplicas or 0) > (old.updatedReplicas or 0)
        or new_old < old_old
        or (new.readyReplicas or 0) > (old.readyReplicas or 0)
        or (new.availableReplicas or 0) > (old.availableReplicas or 0)
    )


def deployment_timed_out(d: Deployment, status: DeploymentStatus, now: datetime) -> bool:
    """DeploymentTimedOut: no progress recorded for progressDeadlineSeconds."""
    if not has_progress_deadline(d):
        return False
    cond = get_condition(status, PROGRESSING)
    if cond is None or cond.reason == NEW_RS_AVAILABLE:
        return False
    if cond.reason == TIMED_OUT:
        return True
    since = parse_time(cond.lastUpdateTime)
    if since is None:
        return False
    return (now - since).total_seconds() > (d.spec.progressDeadlineSeconds or 0)  # type: ignore[union-attr]


def replica_failure(all_rss: Sequence[ReplicaSet | None], new_rs: ReplicaSet | None) -> DeploymentCondition | None:
    """getReplicaFailures: a ReplicaFailure of the new replica set first, else of any other."""
    def failure(rs: ReplicaSet | None) -> ReplicaSetCondition | None:
        for c in (rs.status.conditions or []) if rs is not None and rs.status else []:
            if c.type == REPLICA_FAILURE:
                return c
        return None

    found = failure(new_rs)
    if found is None:
        for rs in all_rss:
            found = failure(rs)
            if found is not None:
                break
    if found is None:
        return None
    return DeploymentCondition(type=REPLICA_FAILURE, status=found.status, reason=found.reason,
                               message=found.message, lastUpdateTime=found.lastTransitionTime,
                               lastTransitionTime=found.lastTransitionTime)


def rollout_status(all_rss: Sequence[ReplicaSet | None], new_rs: ReplicaSet | None, d: Deployment,
                   now: datetime) -> DeploymentStatus:
    """syncRolloutStatus: calculateStatus plus the Progressing condition
    (NewReplicaSetAvailable when complete, ReplicaSetUpdated while making progress,
    ProgressDeadlineExceeded once no progress was seen for progressDeadlineSeconds)
    and ReplicaFailure copied from the replica sets."""
    status = calculate_status(all_rss, new_rs, d, now)
    if not has_progress_deadline(d):
        status = remove_condition(status, PROGRESSING)
    current = get_condition(d.status, PROGRESSING)
    complete_before = (
        status.replicas == status.updatedReplicas and current is not None and current.reason == NEW_RS_AVAILABLE
    )
    if has_progress_deadline(d) and not complete_before:
        name = new_rs.metadata.name if new_rs is not None else None
        if deployment_complete(d, status):
            msg = (f'ReplicaSet "{name}" has successfully progressed.' if name
                   else f'Deployment "{d.metadata.name}" has successfully progressed.')
            status = set_condition(status, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE, msg, now))
        elif deployment_progressing(d, status):
            msg = (f'ReplicaSet "{name}" is progressing.' if name
                   else f'Deployment "{d.metadata.name}" is progressing.')
            cond = new_condition(PROGRESSING, "True", RS_UPDATED, msg, now)
            # progress refreshes lastUpdateTime even when the reason stays the same
            if current is not None:
                if current.status == "True":
                    cond = msgspec.structs.replace(cond, lastTransitionTime=current.lastTransitionTime)
                status = remove_condition(status, PROGRESSING)
            status = set_condition(status, cond)
        elif deployment_timed_out(d, status, now):
            msg = (f'ReplicaSet "{name}" has timed out progressing.' if name
                   else f'Deployment "{d.metadata.name}" has timed out progressing.')
            status = set_condition(status, new_condition(PROGRESSING, "False", TIMED_OUT, msg, now))
    failure = replica_failure(all_rss, new_rs)
    if failure is not None:
        status = set_condition(status, failure)
    else:
        status = remove_condition(status, REPLICA_FAILURE)
    return status


def seconds_until_deadline(d: Deployment, status: DeploymentStatus, now: datetime) -> float | None:
    """requeueStuckDeployment: when to look again to notice a missed deadline (None: no need)."""
    cond = get_condition(d.status, PROGRESSING)
    if not has_progress_deadline(d) or cond is None:
        return None
    if deployment_complete(d, status) or cond.reason == TIMED_OUT:
        return None
    since = parse_time(cond.lastUpdateTime)
    if since is None:
        return None
    left = since.timestamp() + (d.spec.progressDeadlineSeconds or 0) - now.timestamp()  # type: ignore[union-attr]
    return max(left, 0.0) + 1.0


def paused_condition_update(d: Deployment, now: datetime) -> DeploymentStatus | None:
    """checkPausedConditions: Progressing=Unknown DeploymentPaused while paused, and
    DeploymentResumed when resumed, so the deadline does not count paused time.
    None when nothing changes."""
    if not has_progress_deadline(d):
        return None
    cond = get_condition(d.status, PROGRESSING)
    if cond is not None and cond.reason == TIMED_OUT:
        return None
    paused_cond = cond is not None and cond.reason == PAUSED
    paused = bool(d.spec and d.spec.paused)
    status = d.status or DeploymentStatus()
    if paused and not paused_cond:
        return set_condition(status, new_condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused", now))
    if not paused and paused_cond:
        return set_condition(status, new_condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed", now))
    return None
