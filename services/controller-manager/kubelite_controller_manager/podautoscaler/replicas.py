"""How many replicas one Resource metric asks for (Kubernetes' replica_calculator.go), pure.

desired = ceil(current × usage / target), with the ratio computed over the pods that have
metrics; nothing changes while the ratio is within the tolerance (0.1) of 1. For CPU, pods
that are not ready yet (or were measured before they became ready during their first five
minutes) do not count as busy; pods without metrics count as using their full request when
scaling down and nothing when scaling up, so neither pushes the decision further than the
pods that do report; a recomputed ratio that flips direction means no change.

Worked example (the Kubernetes documentation's): target 50 % of requests, 4 ready pods with
requests of 100m using 200m, 150m, 100m, 50m: usage 500m of 400m requested is 125 %, ratio
2.5, desired ceil(2.5 × 4) = 10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

TOLERANCE = 0.1
CPU_INITIALIZATION_PERIOD = timedelta(minutes=5)
INITIAL_READINESS_DELAY = timedelta(seconds=30)


@dataclass(frozen=True)
class PodSample:
    """What the calculator needs of one pod of the target."""

    name: str
    request: int  # the metric's request summed over the pod's containers (millicores or bytes); 0: unset
    usage: int | None  # from the metrics API (same units); None: no metrics
    ready: bool
    ignored: bool = False  # being deleted, or Failed
    pending: bool = False
    started: datetime | None = None
    ready_since: datetime | None = None  # the Ready condition's last transition
    measured_at: datetime | None = None  # the metrics' timestamp
    window: timedelta = timedelta(seconds=15)


@dataclass
class Proposal:
    replicas: int
    usage: int = 0  # average usage over the pods with metrics
    utilization: int | None = None  # percent of requests, for Utilization targets
    error: str = ""  # why no proposal could be made (condition ScalingActive False)
    reason: str = ""  # the Kubernetes reason for that error


def _unready(p: PodSample, cpu: bool, now: datetime) -> bool:
    """groupPods: Pending is unready; for CPU a pod is unready when not Ready or, during its
    first five minutes, measured before it became ready (its warm-up burn does not count)."""
    if p.pending:
        return True
    if not cpu:
        return False
    if p.started is None or p.ready_since is None:
        return not p.ready
    if p.started + CPU_INITIALIZATION_PERIOD > now:
        measured = p.measured_at or now
        return not p.ready or measured < p.ready_since + p.window
    return not p.ready and p.started + INITIAL_READINESS_DELAY > p.ready_since


@dataclass
class _Groups:
    metrics: dict[str, int] = field(default_factory=dict)  # ready pods' usage
    unready: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)


def _group(pods: list[PodSample], cpu: bool, now: datetime) -> _Groups:
    g = _Groups()
    for p in pods:
        if p.ignored:
            continue
        g.requests[p.name] = p.request
        if p.usage is None:
            if not p.pending:
                g.missing.append(p.name)
            continue
        if _unready(p, cpu, now):
            g.unready.append(p.name)
        else:
            g.metrics[p.name] = p.usage
    return g


def _ratio(metrics: dict[str, int], requests: dict[str, int], target: float, utilization: bool) -> tuple[float, int]:
    """(usage ratio, current value): percent of requests against a Utilization target, else the
    average usage against an AverageValue target."""
    total = sum(metrics.values())
    if utilization:
        requested = sum(requests[name] for name in metrics)
        current = int(total * 100 / requested) if requested else 0
        return (total * 100 / requested) / target if requested else 0.0, current
    average = total / len(metrics)
    return average / target, int(average)


def desired_replicas(pods: list[PodSample], current: int, *, target: float, utilization: bool, cpu: bool,
                     now: datetime) -> Proposal:
    """calcPlainMetricReplicas / GetResourceReplicas. `target` is a percentage of requests for
    Utilization targets, else the average value per pod."""
    g = _group(pods, cpu, now)
    if utilization and any(g.requests.get(n, 0) <= 0 for n in [*g.metrics, *g.unready, *g.missing]):
        return Proposal(current, error=f"missing request for {'cpu' if cpu else 'memory'}",
                        reason="FailedGetResourceMetric")
    if not g.metrics:
        return Proposal(current, error="did not receive metrics for targeted pods (pods might be unready)",
                        reason="FailedGetResourceMetric")
    ratio, value = _ratio(g.metrics, g.requests, target, utilization)
    ready_count = len(g.metrics)
    proposal = Proposal(current, usage=int(sum(g.metrics.values()) / ready_count),
                        utilization=value if utilization else None)
    scale_up_with_unready = bool(g.unready) and ratio > 1.0
    if not scale_up_with_unready and not g.missing:
        if abs(1.0 - ratio) <= TOLERANCE:
            return proposal
        proposal.replicas = math.ceil(ratio * ready_count)
        return proposal
    filled = dict(g.metrics)
    for name in g.missing:
        if ratio < 1.0:  # scaling down: a silent pod counts as using its request (or the target)
            filled[name] = int(g.requests[name] * max(100, target) / 100) if utilization else int(target)
        elif ratio > 1.0:  # scaling up: as using nothing
            filled[name] = 0
    if scale_up_with_unready:
        for name in g.unready:
            filled[name] = 0
    new_ratio, _ = _ratio(filled, g.requests, target, utilization)
    if abs(1.0 - new_ratio) <= TOLERANCE or (ratio < 1.0 < new_ratio) or (new_ratio < 1.0 < ratio):
        return proposal
    wanted = math.ceil(new_ratio * len(filled))
    if (new_ratio < 1.0 and wanted > current) or (new_ratio > 1.0 and wanted < current):
        return proposal
    proposal.replicas = wanted
    return proposal
