"""The DaemonSet rules (Kubernetes' pkg/controller/daemon), as pure functions that return a plan.

Which nodes should run a daemon pod (`node_should_run`), what the manage loop creates and
deletes (`manage`), which old pods a rolling update replaces (`rolling_update`), and the
status counters (`status_counts`). The controller only reads caches and writes the plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubelite.api.apps_v1 import (
    CONTROLLER_REVISION_HASH_LABEL,
    DAEMONSET_TEMPLATE_GENERATION_LABEL,
    DaemonSet,
)
from kubelite.api.core_v1 import Node, Pod, Toleration
from kubelite.api.nodeaffinity import pod_fits_node
from kubelite.api.taints import tolerated
from kubelite_controller_manager.deployment.rollout import scaled_value
from kubelite_controller_manager.replicaset.pods import is_available, is_ready

# AddOrUpdateDaemonPodTolerations: a daemon pod stays on a node that is not ready, unreachable,
# under pressure or cordoned (it is the node's own agent: logs, networking, storage).
_DAEMON_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
)
_HOST_NETWORK_TOLERATION = ("node.kubernetes.io/network-unavailable", "NoSchedule")


def daemon_tolerations(pod_spec: Any) -> list[Toleration]:
    """The template's tolerations plus the daemon ones it does not already have."""
    have = list(pod_spec.tolerations or [])
    wanted = list(_DAEMON_TOLERATIONS) + ([_HOST_NETWORK_TOLERATION] if pod_spec.hostNetwork else [])
    for key, effect in wanted:
        if not any(t.key == key and t.effect == effect and t.operator == "Exists" for t in have):
            have.append(Toleration(key=key, operator="Exists", effect=effect))
    return have


def node_should_run(node: Node, pod_spec: Any) -> tuple[bool, bool]:
    """NodeShouldRunDaemonPod: (should run, should keep running).

    A node runs the pod when it matches the pod's nodeSelector and required node affinity and
    every NoSchedule/NoExecute taint is tolerated (with the daemon tolerations added); a pod
    already there keeps running unless a NoExecute taint is not tolerated.
    Example: a node tainted dedicated=db:NoSchedule and a template without that toleration:
    (False, True): no new pod goes there, an existing one is left alone."""
    name, labels = node.metadata.name or "", node.metadata.labels or {}
    if pod_spec.nodeName and pod_spec.nodeName != name:
        return False, False
    if not pod_fits_node(pod_spec, labels, name):
        return False, False
    tolerations = daemon_tolerations(pod_spec)
    taints = (node.spec.taints if node.spec else None) or []
    no_execute = all(tolerated(tolerations, t) for t in taints if t.effect == "NoExecute")
    no_schedule = all(tolerated(tolerations, t) for t in taints if t.effect == "NoSchedule")
    return no_execute and no_schedule, no_execute


def node_of(pod: Pod) -> str:
    """The node a daemon pod is for: its nodeName once bound, else the node its affinity pins."""
    if pod.spec and pod.spec.nodeName:
        return pod.spec.nodeName
    affinity = pod.spec.affinity if pod.spec else None
    required = affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution \
        if affinity and affinity.nodeAffinity else None
    for term in (required.nodeSelectorTerms or []) if required else []:
        for req in term.matchFields or []:
            if req.key == "metadata.name" and req.operator == "In" and len(req.values or []) == 1:
                return (req.values or [""])[0]
    return ""


def is_updated(pod: Pod, hash_: str, generation: int | None) -> bool:
    """IsPodUpdated: the pod carries the current revision's hash (or the template generation)."""
    labels = pod.metadata.labels or {}
    by_generation = generation is not None and labels.get(DAEMONSET_TEMPLATE_GENERATION_LABEL) == str(generation)
    return labels.get(CONTROLLER_REVISION_HASH_LABEL) == hash_ or by_generation


def _terminal(pod: Pod) -> bool:
    return pod.status is not None and pod.status.phase in ("Succeeded", "Failed")


def _age_key(pod: Pod) -> tuple[str, str]:
    return pod.metadata.creationTimestamp or "", pod.metadata.name or ""


@dataclass
class Plan:
    create: list[str] = field(default_factory=list)  # node names
    delete: list[Pod] = field(default_factory=list)


def manage(should: dict[str, tuple[bool, bool]], pods_by_node: dict[str, list[Pod]], *, surge: bool) -> Plan:
    """podsShouldBeOnNode for every node: create where a pod should run and none exists (a
    terminating pod still counts, so hostPort daemons never overlap), delete failed pods,
    extra pods (all but the oldest, unless surging), and pods where it should not keep running.

    Example: nodes a (should run, no pod), b (two running pods), c (cordoned off by affinity,
    one pod): create on a, delete b's younger pod and c's pod."""
    plan = Plan()
    for node in sorted(set(should) | set(pods_by_node)):
        run, keep = should.get(node, (False, False))
        pods = pods_by_node.get(node, [])
        live = [p for p in pods if p.metadata.deletionTimestamp is None]
        if run and not [p for p in pods if not (_terminal(p) and p.metadata.deletionTimestamp)]:
            plan.create.append(node)
        elif keep:
            running = [p for p in live if not _terminal(p)]
            plan.delete += [p for p in live if _terminal(p)]
            if not surge and len(running) > 1:
                plan.delete += sorted(running, key=_age_key)[1:]
        else:
            plan.delete += live
    return plan


def _split(pods: list[Pod], hash_: str, generation: int | None) -> tuple[Pod | None, Pod | None, bool]:
    """findUpdatedPodsOnNode: (new pod, old pod, ok); not ok when a node has two of either."""
    new = old = None
    for pod in pods:
        if pod.metadata.deletionTimestamp is not None:
            continue
        if is_updated(pod, hash_, generation):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


@dataclass(frozen=True)
class Rollout:
    hash: str
    generation: int | None
    max_surge: int
    max_unavailable: int
    min_ready: int
    now: datetime


def budgets(ds: DaemonSet, desired: int) -> tuple[int, int]:
    """updatedDesiredNodeCounts: (maxSurge, maxUnavailable) of `desired` nodes, percentages
    rounded up; both zero becomes maxUnavailable 1.
    Example: maxUnavailable "10%" of 25 nodes: 3 (2.5 rounded up); maxSurge 0."""
    strategy = ds.spec.updateStrategy if ds.spec else None
    rolling = strategy.rollingUpdate if strategy else None
    surge = scaled_value(rolling.maxSurge if rolling else 0, desired, round_up=True)
    unavailable = scaled_value(rolling.maxUnavailable if rolling else 1, desired, round_up=True)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def rolling_update(pods_by_node: dict[str, list[Pod]], r: Rollout) -> Plan:
    """rollingUpdate: replace old pods within the budgets.

    Without surge, delete old pods (the manage loop then creates new ones) while fewer than
    maxUnavailable nodes are unavailable; an old pod that is not available anyway is always
    replaced. Example: 5 nodes all old and available, maxUnavailable 2: delete 2 old pods;
    next sync, those 2 nodes have no pod (unavailable), so nothing more until they are.

    With surge, start a new pod beside an available old one on up to maxSurge nodes, and
    delete the old pod once its node's new pod is available. Example: 3 old nodes, maxSurge 1:
    create on one node; when that pod is available delete its old pod and create on the next."""
    if r.max_surge == 0:
        return _replace_without_surge(pods_by_node, r)
    return _replace_with_surge(pods_by_node, r)


def _replace_without_surge(pods_by_node: dict[str, list[Pod]], r: Rollout) -> Plan:
    unavailable, must, candidates = 0, [], []
    for node in sorted(pods_by_node):
        new, old, ok = _split(pods_by_node[node], r.hash, r.generation)
        if not ok or (new is None) == (old is None):
            unavailable += 1  # nothing, or both: the manage loop fixes this node
        elif new is not None:
            unavailable += 0 if is_available(new, r.min_ready, r.now) else 1
        elif old is not None and not is_available(old, r.min_ready, r.now):
            must.append(old)
        elif old is not None and unavailable < r.max_unavailable:
            candidates.append(old)
    room = min(max(0, r.max_unavailable - unavailable), len(candidates))
    return Plan(delete=must + candidates[:room])


def _replace_with_surge(pods_by_node: dict[str, list[Pod]], r: Rollout) -> Plan:
    surging, allowed, candidates, delete = 0, [], [], []
    for node in sorted(pods_by_node):
        new, old, ok = _split(pods_by_node[node], r.hash, r.generation)
        if not ok:
            continue
        if new is None:
            if old is None:
                continue
            if not is_available(old, r.min_ready, r.now):
                allowed.append(node)
            elif surging < r.max_surge:
                candidates.append(node)
        elif old is not None:
            if is_available(new, r.min_ready, r.now):
                delete.append(old)
            else:
                surging += 1
    room = min(max(0, r.max_surge - surging), len(candidates))
    return Plan(create=allowed + candidates[:room], delete=delete)


@dataclass
class Counts:
    desired: int = 0
    current: int = 0
    misscheduled: int = 0
    ready: int = 0
    available: int = 0
    updated: int = 0


def status_counts(should: dict[str, tuple[bool, bool]], pods_by_node: dict[str, list[Pod]], r: Rollout) -> Counts:
    """updateDaemonSetStatus: per node that should run a pod, is one there, is the oldest ready,
    available, updated; a pod on a node that should not run one is misscheduled."""
    c = Counts()
    for node in set(should) | set(pods_by_node):
        pods = sorted(pods_by_node.get(node, []), key=_age_key)
        if not should.get(node, (False, False))[0]:
            c.misscheduled += 1 if pods else 0
            continue
        c.desired += 1
        if not pods:
            continue
        c.current += 1
        pod = pods[0]
        if is_ready(pod):
            c.ready += 1
            c.available += 1 if is_available(pod, r.min_ready, r.now) else 0
        c.updated += 1 if is_updated(pod, r.hash, r.generation) else 0
    return c
