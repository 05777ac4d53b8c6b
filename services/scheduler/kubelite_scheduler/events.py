"""core/v1 Events about pods (thin local helper until kubelite.reconcile has a recorder).

Repeats of one (pod, type, reason, message) are aggregated the way Kubernetes'
event correlator does: the first creates an Event, later ones bump its count
and lastTimestamp. Writes happen in the background, a few at a time, and a
failure is logged, never raised: events are for people, not for correctness.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import uuid
from collections import OrderedDict
from typing import Any

from kubelite.client.nats import NatsAPIClient

log = logging.getLogger(__name__)

_MAX_REMEMBERED = 4096


def rfc3339_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    def __init__(self, client: NatsAPIClient, component: str, *, concurrency: int = 8) -> None:
        self.client = client
        self.component = component
        self.host = os.uname().nodename
        self._sem = asyncio.Semaphore(concurrency)
        self._seen: OrderedDict[tuple[str, str, str, str], tuple[str, str, int]] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def pod_event(self, pod: Any, type_: str, reason: str, message: str) -> None:
        task = asyncio.get_running_loop().create_task(self._record(pod, type_, reason, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record(self, pod: Any, type_: str, reason: str, message: str) -> None:
        meta = pod.metadata
        ns = meta.namespace or "default"
        key = (meta.uid or f"{ns}/{meta.name}", type_, reason, message)
        now = rfc3339_now()
        async with self._sem:
            try:
                seen = self._seen.get(key)
                if seen is not None:
                    name, first, count = seen
                    self._seen[key] = (name, first, count + 1)
                    await self.client.patch("events", ns, name, {"count": count + 1, "lastTimestamp": now})
                    return
                name = f"{meta.name}.{uuid.uuid4().hex[:16]}"
                body = {
                    "apiVersion": "v1", "kind": "Event",
                    "metadata": {"name": name, "namespace": ns},
                    "involvedObject": {"kind": "Pod", "apiVersion": "v1", "namespace": ns, "name": meta.name,
                                       "uid": meta.uid, "resourceVersion": meta.resourceVersion},
                    "reason": reason, "message": message, "type": type_,
                    "source": {"component": self.component},
                    "firstTimestamp": now, "lastTimestamp": now, "count": 1,
                    "reportingComponent": self.component, "reportingInstance": f"{self.component}-{self.host}",
                }
                await self.client.call("create", _events_info(), namespace=ns, body=body)
                self._seen[key] = (name, now, 1)
                while len(self._seen) > _MAX_REMEMBERED:
                    self._seen.popitem(last=False)
            except Exception as exc:
                self._seen.pop(key, None)
                log.warning("could not record event %s for %s/%s: %s", reason, ns, meta.name, exc)

    async def flush(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)


def _events_info() -> Any:
    from kubelite.api.scheme import resolve

    return resolve("events")
