"""One scheduling decision: filter, sample, score, pick (Kubernetes' schedulePod).

Pure: given the cache and a pod it returns what it decided and why; the caller
assumes, binds and publishes.
"""

from __future__ import annotations

import operator
import random
from collections import Counter
from dataclasses import dataclass, field

from kubelite_scheduler.cache import SchedulerCache
from kubelite_scheduler.nodeinfo import NodeInfo
from kubelite_scheduler.plugins import FILTERS, SCORES, CycleState, normalize, prepare
from kubelite_scheduler.podinfo import PodInfo

# Kubernetes' minFeasibleNodesToFind and minFeasibleNodesPercentageToFind.
MIN_FEASIBLE_NODES = 100
MIN_FEASIBLE_PERCENTAGE = 5
# core.ErrNoNodesAvailable: the whole message when the cluster has no nodes at all.
NO_NODES_MESSAGE = "no nodes available to schedule pods"


def feasible_nodes_to_find(num_nodes: int, percentage: int) -> int:
    """How many fitting nodes are enough (numFeasibleNodesToFind).

    percentage 0 means Kubernetes' adaptive default: 50% for small clusters,
    falling by 1% per 125 nodes, never below 5%; never fewer than 100 nodes.

    50 nodes: all 50. 1,000 nodes: 50 - 8 = 42 %, 420. 5,000 nodes: 50 - 40 = 10 %, 500.
    10,000 nodes: 50 - 80 is below 5 %, so 5 %, 500.
    """
    if num_nodes < MIN_FEASIBLE_NODES or percentage >= 100:
        return num_nodes
    if percentage <= 0:
        percentage = max(50 - num_nodes // 125, MIN_FEASIBLE_PERCENTAGE)
    return max(num_nodes * percentage // 100, MIN_FEASIBLE_NODES)


def unschedulable_message(num_nodes: int, reasons: dict[str, tuple[str, ...]]) -> str:
    """FitError.Error(): "0/N nodes are available: <count> <reason>, ...", the
    "<count> <reason>" strings sorted as strings, as Kubernetes does.

    3 nodes, two short of cpu and one tainted: "0/3 nodes are available: 1 node(s) had
    untolerated taint {gpu: true}, 2 Insufficient cpu." ("1 …" sorts before "2 …")."""
    if num_nodes == 0:
        return NO_NODES_MESSAGE
    histogram: Counter[str] = Counter()
    for node_reasons in reasons.values():
        histogram.update(node_reasons)
    msg = f"0/{num_nodes} nodes are available:"
    parts = sorted(f"{count} {reason}" for reason, count in histogram.items())
    return msg + (" " + ", ".join(parts) + "." if parts else "")


@dataclass(slots=True)
class Result:
    node: str | None
    num_nodes: int
    feasible: int  # fitting nodes found (the search stops at enough)
    evaluated: int  # nodes the filters looked at
    rejected: dict[str, tuple[str, ...]] = field(default_factory=dict)  # node -> reasons
    # The feasible nodes scored, and column-wise (aligned with `scored`) each rule's
    # weighted score and the totals: cheap to build and to encode for hundreds of nodes.
    scored: list[str] = field(default_factory=list)
    scores: dict[str, list[int]] = field(default_factory=dict)  # rule -> weighted score per scored node
    totals: list[int] = field(default_factory=list)
    message: str = ""  # why unschedulable


class Algorithm:
    """Keeps the round-robin start index across decisions, as Kubernetes does, so
    sampling spreads its starting point over the cluster."""

    def __init__(self, cache: SchedulerCache, *, percentage: int = 0, rng: random.Random | None = None) -> None:
        self.cache = cache
        self.percentage = percentage
        self.rng = rng or random.Random()
        self._next_start = 0

    def schedule(self, pod: PodInfo) -> Result:
        cache = self.cache
        nodes = cache.known_nodes()
        n = len(nodes)
        result = Result(None, n, 0, 0)
        if n == 0:
            result.message = unschedulable_message(0, {})
            return result
        state = prepare(pod, cache)
        active = [f for f in FILTERS if f.relevant(pod, cache)]
        filters = [f.fn for f in active]
        clean_filters = [f.fn for f in active if not f.passes_clean_nodes]
        want = feasible_nodes_to_find(n, self.percentage)
        feasible: list[NodeInfo] = []
        rejected = result.rejected
        start = self._next_start % n
        processed = 0
        for i in range(n):
            node = nodes[(start + i) % n]
            processed += 1
            for fn in clean_filters if node.clean else filters:
                reasons = fn(pod, node, state)
                if reasons:
                    rejected[node.name] = reasons
                    break
            else:
                feasible.append(node)
                if len(feasible) >= want:
                    break
        self._next_start = (start + processed) % n
        result.evaluated = processed
        result.feasible = len(feasible)
        if not feasible:
            result.message = unschedulable_message(n, rejected)
            return result
        if len(feasible) == 1:
            result.node = feasible[0].name
            return result
        self._score(pod, state, feasible, result)
        return result

    def _score(self, pod: PodInfo, state: CycleState, feasible: list[NodeInfo], result: Result) -> None:
        cache = self.cache
        totals = [0] * len(feasible)
        for score in SCORES:
            if not score.relevant(pod, cache, state):
                continue
            weight = score.weight
            weighted = normalize(score.normalize, score.fn(pod, feasible, state))
            if weight != 1:
                weighted = [v * weight for v in weighted]
            result.scores[score.name] = weighted
            totals = list(map(operator.add, totals, weighted))
        # Highest total wins; ties are broken uniformly at random (as selectHost).
        best = max(totals)
        best_at = [i for i, t in enumerate(totals) if t == best]
        chosen = best_at[0] if len(best_at) == 1 else self.rng.choice(best_at)
        result.node = feasible[chosen].name
        result.scored = [node.name for node in feasible]
        result.totals = totals
