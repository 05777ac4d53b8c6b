"""NoExecute taint manager decisions, pure: when must a pod on a tainted node go?

A pod that does not tolerate every NoExecute taint of its node is evicted at
once. A pod that tolerates them all stays for the shortest tolerationSeconds
among the tolerations used, counted from when the taint was added (the taint's
timeAdded, so a restarted controller keeps the same deadline); a toleration
without tolerationSeconds tolerates forever.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubelite.api.core_v1 import Taint, Toleration
from kubelite.api.taints import tolerates
from kubelite.printers import parse_time

NEVER = None


def no_execute(taints: Sequence[Taint] | None) -> list[Taint]:
    return [t for t in taints or () if t.effect == "NoExecute"]


def taint_added_at(taint: Taint, fallback: float) -> float:
    """The taint's timeAdded as a Unix time; `fallback` when it has none (or a bad one)."""
    parsed = parse_time(taint.timeAdded)
    return parsed.timestamp() if parsed else fallback


def eviction_time(
    taints: Sequence[Taint], tolerations: Sequence[Toleration] | None, fallback_added: float
) -> float | None:
    """Unix time at which the pod must be evicted: the earliest of `taints`' expiries
    (now-or-past for an untolerated taint, given as -inf); None when it may stay forever.

    Each taint is matched by the first toleration that tolerates it (GetMatchingTolerations).
    """
    earliest: float | None = NEVER
    for taint in no_execute(taints):
        match = next((tol for tol in tolerations or () if tolerates(tol, taint)), None)
        if match is None:
            return float("-inf")
        if match.tolerationSeconds is None:
            continue
        at = taint_added_at(taint, fallback_added) + max(0, match.tolerationSeconds)
        if earliest is None or at < earliest:
            earliest = at
    return earliest
