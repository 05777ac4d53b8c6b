"""Pods and their metrics as the replica calculator sees them (PodSample), pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kubelite.api.quantity import cpu_millis, memory_bytes
from kubelite.printers import parse_time
from kubelite_controller_manager.podautoscaler.replicas import PodSample


def amount(resource: str, value: Any) -> int:
    """CPU in millicores, memory in bytes."""
    return cpu_millis(value) if resource == "cpu" else memory_bytes(value)


def request_of(pod: Any, resource: str) -> int:
    """The pod's request for `resource`: its containers' summed (0 when one has none: Kubernetes
    then reports `missing request for <resource>`)."""
    total = 0
    for c in pod.spec.containers or [] if pod.spec else []:
        value = ((c.resources.requests if c.resources else None) or {}).get(resource)
        if value is None:
            return 0
        total += amount(resource, value)
    return total


def usage_of(metrics: Any, resource: str) -> int:
    return sum(amount(resource, (c.usage or {}).get(resource, "0")) for c in metrics.containers or [])


def _window(text: str | None) -> timedelta:
    try:
        return timedelta(seconds=float((text or "15s").removesuffix("s")))
    except ValueError:
        return timedelta(seconds=15)


def sample(pod: Any, metrics: Any | None, resource: str) -> PodSample:
    st = pod.status
    ready = next((c for c in (st.conditions or [] if st else []) if c.type == "Ready"), None)
    phase = st.phase if st else None
    return PodSample(
        name=pod.metadata.name or "", request=request_of(pod, resource),
        usage=usage_of(metrics, resource) if metrics is not None else None,
        ready=ready is not None and ready.status == "True",
        ignored=pod.metadata.deletionTimestamp is not None or phase == "Failed",
        pending=phase == "Pending",
        started=parse_time(st.startTime) if st else None,
        ready_since=parse_time(ready.lastTransitionTime) if ready is not None else None,
        measured_at=parse_time(metrics.timestamp) if metrics is not None else None,
        window=_window(metrics.window if metrics is not None else None))


def now_utc() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)
