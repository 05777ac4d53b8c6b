"""The scheduling rules, as a list: filters say whether a pod may go on a node,
scores say how good a node is. Each rule is a small named function with the
Kubernetes plugin (and its exact reason text) it keeps.

A filter returns None when the node passes, else the reasons it fails (the
strings that make up "0/3 nodes are available: ..."). A score returns a raw
number; `normalize` says how raw numbers become 0..100 across the candidate
nodes, and `weight` is Kubernetes' default plugin weight. A rule's `relevant`
test is Kubernetes' PreFilter "Skip": a pod without node affinity never pays
for the node-affinity rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubelite.api.core_v1 import Taint
from kubelite.api.nodeaffinity import term_matches
from kubelite.api.taints import tolerated
from kubelite_scheduler.cache import SchedulerCache
from kubelite_scheduler.nodeinfo import (
    NOT_READY_TAINT,
    UNREACHABLE_TAINT,
    UNSCHEDULABLE_TAINT,
    NodeInfo,
)
from kubelite_scheduler.podinfo import AffinityTerm, PodInfo

MAX_NODE_SCORE = 100

# Reason texts, verbatim from the Kubernetes scheduler plugins.
REASON_UNSCHEDULABLE = "node(s) were unschedulable"  # nodeunschedulable.ErrReasonUnschedulable
REASON_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"  # nodeaffinity.ErrReasonPod
REASON_PORTS = "node(s) didn't have free ports for the requested pod ports"  # nodeports.ErrReason
REASON_INSUFFICIENT_CPU = "Insufficient cpu"  # noderesources: "Insufficient " + resource
REASON_INSUFFICIENT_MEMORY = "Insufficient memory"
REASON_TOO_MANY_PODS = "Too many pods"
REASON_POD_AFFINITY = "node(s) didn't match pod affinity rules"  # interpodaffinity
REASON_POD_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
REASON_VOLUME_NODE_AFFINITY = "node(s) had volume node affinity conflict"  # volumebinding.ErrReasonNodeConflict


def untolerated_taint_reason(key: str | None, value: str | None) -> str:
    # tainttoleration: fmt.Sprintf("node(s) had untolerated taint {%s: %s}", taint.Key, taint.Value)
    return f"node(s) had untolerated taint {{{key or ''}: {value or ''}}}"


# -- helpers ---------------------------------------------------------------------


def node_selector_term_matches(term: Any, node: NodeInfo) -> bool:
    """A NodeSelectorTerm: all expressions and fields must match; an empty term matches nothing."""
    return term_matches(term, node.labels, node.name)


# -- per-pod precomputation (PreFilter / PreScore) ---------------------------------


@dataclass(slots=True)
class CycleState:
    """What one scheduling attempt computes once before looking at nodes."""

    pod: PodInfo
    # required pod affinity: per term, topology value -> matching pods there
    affinity_counts: list[dict[str, int]] = field(default_factory=list)
    affinity_matches_any: bool = False  # some existing pod matches some required affinity term
    # required anti-affinity of the incoming pod: per term, topology value -> matching pods
    anti_affinity_counts: list[dict[str, int]] = field(default_factory=list)
    # existing pods' required anti-affinity matching the incoming pod: (key, value) -> count
    existing_anti_affinity: dict[tuple[str, str], int] = field(default_factory=dict)
    # preferred pod (anti-)affinity: (key, value) -> summed weight
    preferred_affinity: dict[tuple[str, str], int] = field(default_factory=dict)


def prepare(pod: PodInfo, cache: SchedulerCache) -> CycleState:
    state = CycleState(pod)
    if cache.pods_with_required_anti_affinity:
        for other in cache.pods_with_required_anti_affinity.values():
            node = cache.nodes.get(other.node_name) or cache.nodes.get(cache.node_of(other.key) or "")
            if node is None:
                continue
            for term in other.anti_affinity_required:
                if term.matches(pod):
                    value = node.topology_value(term.topology_key)
                    if value is not None:
                        pair = (term.topology_key, value)
                        state.existing_anti_affinity[pair] = state.existing_anti_affinity.get(pair, 0) + 1
    if pod.affinity_required or pod.anti_affinity_required:
        state.affinity_counts = [defaultdict(int) for _ in pod.affinity_required]
        state.anti_affinity_counts = [defaultdict(int) for _ in pod.anti_affinity_required]
        for node in cache.nodes.values():
            for other in node.pods.values():
                for i, term in enumerate(pod.affinity_required):
                    if term.matches(other):
                        state.affinity_matches_any = True
                        value = node.topology_value(term.topology_key)
                        if value is not None:
                            state.affinity_counts[i][value] += 1
                for i, term in enumerate(pod.anti_affinity_required):
                    if term.matches(other):
                        value = node.topology_value(term.topology_key)
                        if value is not None:
                            state.anti_affinity_counts[i][value] += 1
    if pod.affinity_preferred or pod.anti_affinity_preferred or cache.pods_with_affinity:
        _prepare_preferred(state, pod, cache)
    return state


def _add_weight(state: CycleState, node: NodeInfo, term: AffinityTerm, weight: int) -> None:
    value = node.topology_value(term.topology_key)
    if value is not None:
        pair = (term.topology_key, value)
        state.preferred_affinity[pair] = state.preferred_affinity.get(pair, 0) + weight


def _prepare_preferred(state: CycleState, pod: PodInfo, cache: SchedulerCache) -> None:
    """interpodaffinity PreScore: the incoming pod's preferred terms against every
    existing pod, and (symmetry) existing pods' preferred terms against the incoming one."""
    if pod.affinity_preferred or pod.anti_affinity_preferred:
        for node in cache.nodes.values():
            for other in node.pods.values():
                _weigh_terms(state, node, pod, other)
    for other in cache.pods_with_affinity.values():
        node = cache.nodes.get(cache.node_of(other.key) or "")
        if node is not None:
            _weigh_terms(state, node, other, pod)


def _weigh_terms(state: CycleState, node: Any, owner: PodInfo, target: PodInfo) -> None:
    """Add `owner`'s preferred (anti-)affinity weights that `target` matches to `node`.

    Example: owner prefers app=db with weight 80 and avoids app=web with weight 20;
    a node whose pods include one db pod and two web pods scores 80 - 20 - 20 = 40."""
    for term in owner.affinity_preferred:
        if term.matches(target):
            _add_weight(state, node, term, term.weight)
    for term in owner.anti_affinity_preferred:
        if term.matches(target):
            _add_weight(state, node, term, -term.weight)


# -- filters --------------------------------------------------------------------

FilterFn = Callable[[PodInfo, NodeInfo, CycleState], tuple[str, ...] | None]


def node_ready_and_schedulable(pod: PodInfo, node: NodeInfo, state: CycleState) -> tuple[str, ...] | None:
    """NodeUnschedulable, plus the not-ready/unreachable NoSchedule taint that Kubernetes'
    node lifecycle controller would put on a node whose Ready condition is not True
    (kubelite applies it implicitly, so a fresh or dead node takes no pods)."""
    if node.unschedulable and not tolerated(pod.tolerations, _UNSCHEDULABLE):
        return (REASON_UNSCHEDULABLE,)
    if node.ready_status != "True":
        taint = _NOT_READY if node.ready_status == "False" else _UNREACHABLE
        if not any(t.key == taint.key for t in node.hard_taints) and not tolerated(pod.tolerations, taint):
            return (untolerated_taint_reason(taint.key, taint.value),)
    return None


_UNSCHEDULABLE = Taint(key=UNSCHEDULABLE_TAINT, effect="NoSchedule")
_NOT_READY = Taint(key=NOT_READY_TAINT, effect="NoSchedule")
_UNREACHABLE = Taint(key=UNREACHABLE_TAINT, effect="NoSchedule")


def taints_tolerated(pod: PodInfo, node: NodeInfo, state: CycleState) -> tuple[str, ...] | None:
    """TaintToleration: every NoSchedule and NoExecute taint must be tolerated."""
    for taint in node.hard_taints:
        if not tolerated(pod.tolerations, taint):
            return (untolerated_taint_reason(taint.key, taint.value),)
    return None


def node_selector(pod: PodInfo, node: NodeInfo, state: CycleState) -> tuple[str, ...] | None:
    """NodeAffinity (spec.nodeSelector part): every label must be present and equal."""
    labels = node.labels
    for k, v in pod.node_selector.items():
        if labels.get(k) != v:
            return (REASON_NODE_AFFINITY,)
    return None


def required_node_affinity(pod: PodInfo, node: NodeInfo, state: CycleState) -> tuple[str, ...] | None:
    """NodeAffinity (requiredDuringSchedulingIgnoredDuringExecution): the terms are ORed."""
    if any(node_selector_term_matches(t, node) for t in pod.required_node_terms or ()):
        return None
    return (REASON_NODE_AFFINITY,)


def volume_node_affinity(pod: PodInfo, node: NodeInfo, state: CycleState) -> tuple[str, ...] | None:
    """VolumeBinding: the node meets the node affinity of every volume the pod's claims are bound
    to (a local volume: its own node)."""
    for terms in pod.volume_terms:
        if not any(node_selector_term_matches(t, node) for t in terms):
            return (REASON_VOLUME_NODE_AFFINITY,)
    return None


def host_ports_free(pod: PodInfo, node: NodeInfo, state: CycleState) -> tuple[str, ...] | None:
    """NodePorts: a hostPort (protocol, port) is taken if some pod here uses it on the
    same IP, or either side binds every address (0.0.0.0)."""
    used = node.used_ports
    if not used:
        return None
    for want in pod.host_ports:
        for have in used:
            if have.port == want.port and have.protocol == want.protocol and (
                have.ip == want.ip or have.ip == "0.0.0.0" or want.ip == "0.0.0.0"
            ):
                return (REASON_PORTS,)
    return None


def resources_fit(pod: PodInfo, node: NodeInfo, state: CycleState) -> tuple[str, ...] | None:
    """NodeResourcesFit: pods count, cpu and memory requested by the pods bound or
    assumed here, plus this pod, must stay within allocatable. Every shortfall is a reason."""
    reasons: tuple[str, ...] = ()
    if len(node.pods) + 1 > node.alloc_pods:
        reasons += (REASON_TOO_MANY_PODS,)
    if pod.cpu and node.requested_cpu + pod.cpu > node.alloc_cpu:
        reasons += (REASON_INSUFFICIENT_CPU,)
    if pod.memory and node.requested_memory + pod.memory > node.alloc_memory:
        reasons += (REASON_INSUFFICIENT_MEMORY,)
    return reasons or None


def required_pod_affinity(pod: PodInfo, node: NodeInfo, state: CycleState) -> tuple[str, ...] | None:
    """InterPodAffinity Filter: existing pods' anti-affinity, then the pod's own anti-affinity,
    then its affinity (each term needs a matching pod in the node's topology domain; the
    first pod of a group that matches its own terms may go anywhere with the keys)."""
    for (key, value), count in state.existing_anti_affinity.items():
        if count > 0 and node.topology_value(key) == value:
            return (REASON_EXISTING_ANTI_AFFINITY,)
    for term, counts in zip(pod.anti_affinity_required, state.anti_affinity_counts, strict=True):
        value = node.topology_value(term.topology_key)
        if value is not None and counts.get(value, 0) > 0:
            return (REASON_POD_ANTI_AFFINITY,)
    if pod.affinity_required:
        if not state.affinity_matches_any and all(t.matches(pod) for t in pod.affinity_required):
            if all(node.topology_value(t.topology_key) is not None for t in pod.affinity_required):
                return None
            return (REASON_POD_AFFINITY,)
        for term, counts in zip(pod.affinity_required, state.affinity_counts, strict=True):
            value = node.topology_value(term.topology_key)
            if value is None or counts.get(value, 0) == 0:
                return (REASON_POD_AFFINITY,)
    return None


@dataclass(frozen=True, slots=True)
class Filter:
    name: str
    fn: FilterFn
    relevant: Callable[[PodInfo, SchedulerCache], bool]
    # True when the rule can only reject a node that is not "clean" (Ready, schedulable,
    # no NoSchedule/NoExecute taints): most nodes are, and skip the call (NodeInfo.clean).
    passes_clean_nodes: bool = False


def _always(pod: PodInfo, cache: SchedulerCache) -> bool:
    return True


# In Kubernetes' default order: cheap, common rejections first.
FILTERS: tuple[Filter, ...] = (
    Filter("node_ready_and_schedulable", node_ready_and_schedulable, _always, passes_clean_nodes=True),
    Filter("taints_tolerated", taints_tolerated, _always, passes_clean_nodes=True),
    Filter("node_selector", node_selector, lambda p, c: bool(p.node_selector)),
    Filter("required_node_affinity", required_node_affinity, lambda p, c: p.required_node_terms is not None),
    Filter("volume_node_affinity", volume_node_affinity, lambda p, c: bool(p.volume_terms)),
    Filter("host_ports_free", host_ports_free, lambda p, c: bool(p.host_ports)),
    Filter("resources_fit", resources_fit, _always),
    Filter(
        "required_pod_affinity", required_pod_affinity,
        lambda p, c: bool(p.affinity_required or p.anti_affinity_required or c.pods_with_required_anti_affinity),
    ),
)


# -- scores ---------------------------------------------------------------------
#
# A score rates every candidate node at once (one call per rule per pod, not per
# node: the per-node work is a single expression in a comprehension).

ScoreFn = Callable[[PodInfo, list[NodeInfo], CycleState], list[int]]


def _per_node_memoized(
    nodes: list[NodeInfo], key: str, fn: Callable[[PodInfo, NodeInfo], int], pod: PodInfo
) -> list[int]:
    """fn(pod, node) for each node, remembered on the node under `key` (the rule and the
    pod's requests) until the node changes (NodeInfo clears `score_memo`). Replicas share
    requests and a decision changes one node, so later pods mostly find the answer. The
    key is a str because a str caches its hash (a tuple would be rehashed per node)."""
    out = []
    for n in nodes:
        memo = n.score_memo
        value = memo.get(key)
        if value is None:
            if len(memo) > 32:
                memo.clear()
            value = memo[key] = fn(pod, n)
        out.append(value)
    return out


def least_allocated(pod: PodInfo, nodes: list[NodeInfo], state: CycleState) -> list[int]:
    """NodeResourcesFit LeastAllocated: mean over cpu and memory (weight 1 each) of
    (allocatable - requested) * 100 / allocatable, requests counted non-zero.

    A node of 4 cpu and 8 GiB with 1 cpu and 2 GiB requested, for a pod asking 1 cpu and
    2 GiB: cpu (4 - 2) * 100 / 4 = 50, memory (8 - 4) * 100 / 8 = 50, score 50."""
    return _per_node_memoized(nodes, f"least/{pod.nonzero_cpu}/{pod.nonzero_memory}", _least_allocated, pod)


def _least_allocated(pod: PodInfo, n: NodeInfo) -> int:
    ac, rc = n.alloc_cpu, n.nonzero_cpu + pod.nonzero_cpu
    am, rm = n.alloc_memory, n.nonzero_memory + pod.nonzero_memory
    free_cpu = (ac - rc) * MAX_NODE_SCORE // ac if 0 < ac and rc <= ac else 0
    free_mem = (am - rm) * MAX_NODE_SCORE // am if 0 < am and rm <= am else 0
    return (free_cpu + free_mem) // 2


def balanced_allocation(pod: PodInfo, nodes: list[NodeInfo], state: CycleState) -> list[int]:
    """NodeResourcesBalancedAllocation: (1 - std deviation of the cpu and memory
    fractions, each capped at 1) * 100, so nodes whose resources fill up evenly win.

    With the pod, cpu 50 % and memory 25 % requested: 100 * (1 - |0.5 - 0.25| / 2) = 87."""
    return _per_node_memoized(
        nodes, f"balanced/{pod.nonzero_cpu}/{pod.nonzero_memory}", _balanced_allocation, pod)


def _balanced_allocation(pod: PodInfo, n: NodeInfo) -> int:
    if n.alloc_cpu <= 0 or n.alloc_memory <= 0:
        return 0
    cpu = min(1.0, (n.nonzero_cpu + pod.nonzero_cpu) / n.alloc_cpu)
    mem = min(1.0, (n.nonzero_memory + pod.nonzero_memory) / n.alloc_memory)
    return int((1 - abs(cpu - mem) / 2) * MAX_NODE_SCORE)  # two values: std deviation = half the gap


def preferred_node_affinity(pod: PodInfo, nodes: list[NodeInfo], state: CycleState) -> list[int]:
    """NodeAffinity Score: sum of the weights of the preferred terms the node matches.

    Terms zone=a (weight 80) and disk=ssd (weight 20): a zone-a node with hdd scores 80,
    a zone-b node with ssd 20; normalized by the max: 100 and 25."""
    terms = pod.preferred_node_terms
    return [sum(t.weight or 0 for t in terms if node_selector_term_matches(t.preference, n)) for n in nodes]


def spread_same_owner(pod: PodInfo, nodes: list[NodeInfo], state: CycleState) -> list[int]:
    """PodTopologySpread's system default (hostname, ScheduleAnyway), as the older
    SelectorSpread did it: pods of one controller already on the node (fewer is better).

    Three nodes holding 2, 0 and 1 pods of the pod's ReplicaSet: raw [2, 0, 1], reversed
    by the max: [0, 100, 50], so the empty node wins."""
    owner = pod.owner_uid
    return [n.owner_counts.get(owner, 0) for n in nodes]


def preferred_pod_affinity(pod: PodInfo, nodes: list[NodeInfo], state: CycleState) -> list[int]:
    """InterPodAffinity Score: summed weights of preferred (anti-)affinity terms, both the
    pod's and existing pods', satisfied by the node's topology domains."""
    pairs = state.preferred_affinity.items()
    return [sum(w for (key, value), w in pairs if n.topology_value(key) == value) for n in nodes]


def prefer_no_schedule_taints(pod: PodInfo, nodes: list[NodeInfo], state: CycleState) -> list[int]:
    """TaintToleration Score: PreferNoSchedule taints the pod does not tolerate (fewer is better).

    Nodes with 1 and 0 untolerated PreferNoSchedule taints: raw [1, 0], normalized [0, 100]."""
    tolerations = pod.tolerations
    return [sum(1 for t in n.soft_taints if not tolerated(tolerations, t)) for n in nodes]


# How raw scores become 0..100 across the candidates (Kubernetes' NormalizeScore).
AS_IS = "as-is"  # already 0..100
BY_MAX = "by-max"  # helper.DefaultNormalizeScore(reverse=false): raw * 100 / max
BY_MAX_REVERSED = "by-max-reversed"  # DefaultNormalizeScore(reverse=true): 100 - raw * 100 / max
MIN_MAX = "min-max"  # interpodaffinity: (raw - min) * 100 / (max - min)


@dataclass(frozen=True, slots=True)
class Score:
    name: str
    fn: ScoreFn
    weight: int  # Kubernetes' default plugin weight
    normalize: str
    relevant: Callable[[PodInfo, SchedulerCache, CycleState], bool]


SCORES: tuple[Score, ...] = (
    Score("least_allocated", least_allocated, 1, AS_IS, lambda p, c, s: True),
    Score("balanced_allocation", balanced_allocation, 1, AS_IS, lambda p, c, s: True),
    Score("preferred_node_affinity", preferred_node_affinity, 2, BY_MAX, lambda p, c, s: bool(p.preferred_node_terms)),
    Score("spread_same_owner", spread_same_owner, 2, BY_MAX_REVERSED, lambda p, c, s: bool(p.owner_uid)),
    Score("preferred_pod_affinity", preferred_pod_affinity, 2, MIN_MAX, lambda p, c, s: bool(s.preferred_affinity)),
    # Skipped while no node has a PreferNoSchedule taint: every node would get the same 100.
    Score("prefer_no_schedule_taints", prefer_no_schedule_taints, 3, BY_MAX_REVERSED,
          lambda p, c, s: c.soft_tainted_nodes > 0),
)


def normalize(kind: str, raw: list[int]) -> list[int]:
    """Raw scores to 0..100 (NormalizeScore). For raw [2, 0, 1]: BY_MAX [100, 0, 50],
    BY_MAX_REVERSED [0, 100, 50], MIN_MAX [100, 0, 50]; for [-20, 0, 60] MIN_MAX gives
    [0, 25, 100] (anti-affinity weights are negative)."""
    if kind == AS_IS or not raw:
        return raw
    if kind == MIN_MAX:
        lo, hi = min(raw), max(raw)
        if hi == lo:
            return [0] * len(raw)
        return [(r - lo) * MAX_NODE_SCORE // (hi - lo) for r in raw]
    hi = max(raw)
    if hi == 0:
        return [MAX_NODE_SCORE if kind == BY_MAX_REVERSED else 0] * len(raw)
    if kind == BY_MAX:
        return [r * MAX_NODE_SCORE // hi for r in raw]
    return [MAX_NODE_SCORE - r * MAX_NODE_SCORE // hi for r in raw]
