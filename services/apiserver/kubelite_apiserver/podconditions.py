"""Setting one condition on a pod's status (PodScheduled at binding, DisruptionTarget at eviction)."""

from __future__ import annotations

from typing import Any

import msgspec

from kubelite_apiserver import clock


def set_pod_condition(pod: Any, ctype: str, status: str, reason: str | None = None, message: str | None = None) -> None:
    from kubelite_apiserver.strategies import field_type

    status_tp = field_type(type(pod), "status")
    if pod.status is None:
        pod.status = msgspec.convert({"phase": "Pending"}, status_tp)
    conds = [c for c in (pod.status.conditions or []) if c.type != ctype]
    cond_tp = type(pod.status)
    item = {"type": ctype, "status": status, "lastTransitionTime": clock.rfc3339()}
    if reason:
        item["reason"] = reason
    if message:
        item["message"] = message
    built = msgspec.convert({"conditions": [item]}, cond_tp).conditions[0]
    pod.status.conditions = [*conds, built]
