"""The scheduling decision published on kubelite.decisions.scheduler.<ns>.<pod>."""

from __future__ import annotations

import msgspec

from kubelite import codec
from kubelite_scheduler.algorithm import Result


class Decision(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One scheduling attempt, as JSON on NATS (for `kubelite events -f` and people).

    Fields:
      namespace, pod, uid  the pod decided about.
      scheduler            the scheduler name (spec.schedulerName) that decided.
      time                 RFC3339 time of the decision.
      result               "Scheduled" (a node was chosen and the bind started) or
                           "Unschedulable" (no node fits; `message` says why).
      node                 the chosen node ("" when unschedulable).
      message              Kubernetes' FitError text when unschedulable
                           ("0/3 nodes are available: 2 Insufficient cpu, ...").
      nodes                nodes known to the scheduler.
      evaluated            nodes the filters looked at (fewer than `nodes` when
                           enough fitting nodes were found: percentageOfNodesToScore).
      feasible             nodes that passed every filter.
      rejected             node -> the reasons of the first filter that rejected it.
      scored               the feasible nodes that were scored (none when only one fit),
                           in the order of the columns below.
      scores               rule name -> each scored node's weighted, normalised score
                           (0..100 x the rule's weight), aligned with `scored`.
      totals               each scored node's sum of scores, aligned with `scored`; the
                           highest won, ties broken at random.
      detailOmitted        true when the per-node fields (rejected, scored, scores, totals)
                           were left out because the message would exceed MAX_DECISION_BYTES
                           (NATS' default max_payload is 1 MiB; a huge cluster can get there).
    Rules skipped for this pod (e.g. node affinity for a pod without any) are absent.
    """

    namespace: str
    pod: str
    uid: str = ""
    scheduler: str = ""
    time: str = ""
    result: str
    node: str = ""
    message: str = ""
    nodes: int = 0
    evaluated: int = 0
    feasible: int = 0
    rejected: dict[str, list[str]] = msgspec.field(default_factory=dict)
    scored: list[str] = msgspec.field(default_factory=list)
    scores: dict[str, list[int]] = msgspec.field(default_factory=dict)
    totals: list[int] = msgspec.field(default_factory=list)
    detailOmitted: bool = False


MAX_DECISION_BYTES = 512 * 1024


def encode_decision(d: Decision) -> bytes:
    """JSON for the bus; without the per-node detail if it would be too big for NATS."""
    data = codec.encode(d)
    if len(data) > MAX_DECISION_BYTES:
        data = codec.encode(msgspec.structs.replace(
            d, rejected={}, scored=[], scores={}, totals=[], detailOmitted=True))
    return data


def decision_of(namespace: str, pod: str, uid: str, scheduler: str, now: str, r: Result) -> Decision:
    return Decision(
        namespace=namespace, pod=pod, uid=uid, scheduler=scheduler, time=now,
        result="Scheduled" if r.node else "Unschedulable",
        node=r.node or "", message=r.message, nodes=r.num_nodes, evaluated=r.evaluated,
        feasible=r.feasible, rejected={n: list(v) for n, v in r.rejected.items()},
        scored=r.scored, scores=r.scores, totals=r.totals,
    )
