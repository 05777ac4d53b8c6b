"""A scheduling attempt's result as the bus message `SchedulingDecision` (kubelite.bus.decisions)."""

from __future__ import annotations

from kubelite.bus.decisions import SchedulingDecision
from kubelite_scheduler.algorithm import Result


def decision_of(namespace: str, pod: str, uid: str, scheduler: str, now: str, r: Result) -> SchedulingDecision:
    return SchedulingDecision(
        namespace=namespace, pod=pod, uid=uid, scheduler=scheduler, time=now,
        result="Scheduled" if r.node else "Unschedulable",
        node=r.node or "", message=r.message, nodes=r.num_nodes, evaluated=r.evaluated,
        feasible=r.feasible, rejected={n: list(v) for n, v in r.rejected.items()},
        scored=r.scored, scores=r.scores, totals=r.totals,
    )
