"""Zone disruption states and per-zone eviction rate limiting, pure.

Kubernetes' unhealthy-zone rule: when many nodes of a zone look down at once,
the likelier cause is the control plane losing its view of them (a network
split), not the nodes dying, so evicting their pods would do more harm than
good. Each zone is Normal, PartialDisruption (more than 2 nodes and at least
`unhealthy_zone_threshold` of them not Ready) or FullDisruption (no Ready node).
Nodes are tainted NoExecute (which evicts their pods) at most `eviction_rate`
nodes per second per zone; in PartialDisruption at `secondary_eviction_rate`
in zones larger than `large_cluster_size_threshold` and not at all in smaller
ones; when every zone is fully disrupted the controller stops and takes the
NoExecute taints off again ("master disruption mode").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class ZoneState(StrEnum):
    INITIAL = "Initial"
    NORMAL = "Normal"
    FULL_DISRUPTION = "FullDisruption"
    PARTIAL_DISRUPTION = "PartialDisruption"


@dataclass(frozen=True)
class EvictionPolicy:
    eviction_rate: float = 0.1  # --node-eviction-rate (nodes per second)
    secondary_eviction_rate: float = 0.01  # --secondary-node-eviction-rate
    unhealthy_zone_threshold: float = 0.55  # --unhealthy-zone-threshold
    large_cluster_size_threshold: int = 50  # --large-cluster-size-threshold


def zone_state(ready_statuses: Iterable[str], threshold: float) -> tuple[int, ZoneState]:
    """ComputeZoneState: (not-ready node count, state) from the nodes' Ready statuses."""
    ready = not_ready = 0
    for status in ready_statuses:
        if status == "True":
            ready += 1
        else:
            not_ready += 1
    if ready == 0 and not_ready > 0:
        return not_ready, ZoneState.FULL_DISRUPTION
    if not_ready > 2 and not_ready / (not_ready + ready) >= threshold:
        return not_ready, ZoneState.PARTIAL_DISRUPTION
    return not_ready, ZoneState.NORMAL


def zone_rate(state: ZoneState, zone_size: int, policy: EvictionPolicy) -> float:
    """setLimiterInZone: nodes per second that may be tainted NoExecute in a zone."""
    if state == ZoneState.PARTIAL_DISRUPTION:
        # ReducedQPSFunc: small clusters stop evicting altogether
        return policy.secondary_eviction_rate if zone_size > policy.large_cluster_size_threshold else 0.0
    # Normal, and FullDisruption of one zone among healthy others (HealthyQPSFunc)
    return policy.eviction_rate


def all_fully_disrupted(states: dict[str, ZoneState]) -> bool:
    """True when there are zones and every one is fully disrupted (master disruption mode)."""
    return bool(states) and all(s == ZoneState.FULL_DISRUPTION for s in states.values())


class TokenBucket:
    """flowcontrol.NewTokenBucketRateLimiter(qps, burst): starts full; qps <= 0 never admits."""

    def __init__(self, qps: float, burst: int = 1, now: float = 0.0) -> None:
        self.qps = qps
        self.burst = burst
        self._tokens = float(burst)
        self._at = now

    def try_accept(self, now: float) -> bool:
        if self.qps <= 0:
            return False
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.qps)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
