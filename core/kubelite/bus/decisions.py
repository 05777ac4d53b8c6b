"""Decisions: what the scheduler and the controllers decided, for people and tools.

    kubelite.decisions.scheduler.<namespace>.<pod>           SchedulingDecision
    kubelite.decisions.<controller>.<namespace>.<name>       ControllerDecision

Nothing reads these to act: they are the cluster thinking aloud (`kubelite
events -f`, the dashboard, chaos reports). Publishing is best effort.
"""

from __future__ import annotations

from typing import Any

import msgspec

from kubelite import codec
from kubelite.bus.subjects import PREFIX, token

ALL = f"{PREFIX}.decisions.>"


def scheduler(namespace: str, pod: str) -> str:
    """kubelite.decisions.scheduler.<namespace>.<pod>"""
    return f"{PREFIX}.decisions.scheduler.{token(namespace)}.{token(pod)}"


def controller(name: str, namespace: str | None, obj: str) -> str:
    """kubelite.decisions.<controller>.<namespace>.<name>"""
    return f"{PREFIX}.decisions.{name}.{token(namespace)}.{token(obj)}"


class SchedulingDecision(msgspec.Struct, kw_only=True, omit_defaults=True):
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


def encode_scheduling(d: SchedulingDecision) -> bytes:
    """JSON for the bus; without the per-node detail if it would be too big for NATS."""
    data = codec.encode(d)
    if len(data) > MAX_DECISION_BYTES:
        data = codec.encode(msgspec.structs.replace(
            d, rejected={}, scored=[], scores={}, totals=[], detailOmitted=True))
    return data



class ControllerDecision(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What a controller did to one object."""

    type: str  # the reason, as on the Event: ScalingReplicaSet, SuccessfulCreate, RolloutProgress...
    controller: str
    kind: str
    namespace: str | None = None
    name: str
    message: str
    time: str
    details: dict[str, Any] | None = None

