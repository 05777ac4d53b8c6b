"""Pure facts about pods that the ReplicaSet controller decides on: active, ready,
available, and the order in which surplus pods are deleted (Kubernetes'
controller.ActivePods and podutil.IsPodReady/IsPodAvailable)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from kubelite.api.core_v1 import Pod, PodCondition


def _parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None


def is_active(pod: Pod) -> bool:
    """FilterActivePods: not finished and not being deleted (those are already going away,
    so they neither count toward replicas nor get deleted again)."""
    phase = pod.status.phase if pod.status else None
    return phase not in ("Succeeded", "Failed") and pod.metadata.deletionTimestamp is None


def ready_condition(pod: Pod) -> PodCondition | None:
    for c in (pod.status.conditions or []) if pod.status else []:
        if c.type == "Ready":
            return c
    return None


def is_ready(pod: Pod) -> bool:
    cond = ready_condition(pod)
    return cond is not None and cond.status == "True"


def is_available(pod: Pod, min_ready_seconds: int, now: datetime) -> bool:
    """IsPodAvailable: ready, and ready for at least minReadySeconds (timed from the Ready
    condition's lastTransitionTime)."""
    if not is_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    since = _parse(ready_condition(pod).lastTransitionTime)  # type: ignore[union-attr]
    return since is not None and (now - since).total_seconds() >= min_ready_seconds


def seconds_until_available(pod: Pod, min_ready_seconds: int, now: datetime) -> float | None:
    """For a ready pod still inside minReadySeconds: how long until it counts as available."""
    if not min_ready_seconds or not is_ready(pod):
        return None
    since = _parse(ready_condition(pod).lastTransitionTime)  # type: ignore[union-attr]
    if since is None:
        return None
    left = min_ready_seconds - (now - since).total_seconds()
    return left if left > 0 else None


def max_restarts(pod: Pod) -> int:
    return max((cs.restartCount or 0 for cs in (pod.status.containerStatuses or []) if pod.status), default=0) \
        if pod.status else 0


_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def _desc_time(ts: str | None) -> tuple[int, float]:
    """Sort key putting empty times first, then newer before older."""
    t = _parse(ts)
    return (0, 0.0) if t is None else (1, -t.timestamp())


DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"


def deletion_cost(pod: Pod) -> int:
    """The pod-deletion-cost annotation (0 when absent or not an int32)."""
    value = (pod.metadata.annotations or {}).get(DELETION_COST_ANNOTATION)
    try:
        cost = int(value) if value is not None else 0
    except ValueError:
        return 0
    return cost if -(2**31) <= cost < 2**31 else 0


def node_ranks(related: Iterable[Pod]) -> dict[str, int]:
    """getPodsRankedByRelatedPodsOnSameNode: active related pods per node."""
    ranks: dict[str, int] = {}
    for pod in related:
        if is_active(pod):
            node = pod.spec.nodeName if pod.spec else None
            ranks[node or ""] = ranks.get(node or "", 0) + 1
    return ranks


def deletion_key(pod: Pod, ranks: dict[str, int] | None = None) -> tuple:
    """ActivePodsWithRanks.Less as a sort key: pods that sort first are deleted first.

    1. unassigned before assigned (nothing runs yet, nothing is lost);
    2. Pending < Unknown < Running;
    3. not ready before ready;
    4. lower pod-deletion-cost first (the user's say);
    5. more related pods on the same node first (keeps the set spread out);
    6. among ready pods, ready for less time first (the long-ready are proven);
    7. more container restarts first (fewer restarts are kept);
    8. newer before older (empty creation time first)."""
    node = pod.spec.nodeName if pod.spec else None
    assigned = 1 if node else 0
    phase = _PHASE_ORDINAL.get(pod.status.phase if pod.status else "", 0)
    ready = is_ready(pod)
    ready_since = _desc_time(ready_condition(pod).lastTransitionTime) if ready else (0, 0.0)  # type: ignore[union-attr]
    return (
        assigned,
        phase,
        1 if ready else 0,
        deletion_cost(pod),
        -(ranks or {}).get(node or "", 0),
        ready_since,
        -max_restarts(pod),
        _desc_time(pod.metadata.creationTimestamp),
    )


def pods_to_delete(pods: Iterable[Pod], count: int, related: Iterable[Pod] | None = None) -> list[Pod]:
    """getPodsToDelete: the `count` pods whose loss hurts least, in deletion order. `related`:
    the pods of every replica set with the same owner (default: `pods`), for the spread rank."""
    if count <= 0:
        return []
    pods = list(pods)
    ranks = node_ranks(pods if related is None else related)
    return sorted(pods, key=lambda p: deletion_key(p, ranks))[:count]
