"""core/v1 Events about pods (thin local helper; kubelite.reconcile has no recorder yet).

Repeats of one (pod, type, reason, message) are aggregated the way Kubernetes'
event correlator does: the first creates an Event, later ones bump its count
and lastTimestamp. Events are written in the background by a few workers from
a bounded queue; when the queue is full the event is dropped and counted, as
client-go's broadcaster does (DropIfChannelFull, 1000 queued): events are for
people, and must never take the apiserver's capacity from binding.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import uuid
from collections import OrderedDict
from typing import Any

from kubelite.api.scheme import resolve
from kubelite.client.nats import NatsAPIClient

log = logging.getLogger(__name__)

_MAX_REMEMBERED = 4096
MAX_QUEUED = 1000


def rfc3339_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    def __init__(self, client: NatsAPIClient, component: str, *, workers: int = 4) -> None:
        self.client = client
        self.component = component
        self.instance = f"{component}-{os.uname().nodename}"
        self.dropped = 0
        self._queue: asyncio.Queue[tuple[Any, str, str, str, str]] = asyncio.Queue(MAX_QUEUED)
        self._seen: OrderedDict[tuple[str, str, str, str], tuple[str, int]] = OrderedDict()
        self._workers_wanted = workers
        self._workers: list[asyncio.Task[None]] = []

    def pod_event(self, pod: Any, type_: str, reason: str, message: str) -> None:
        """Queue an event about `pod` (never blocks; drops when the queue is full)."""
        if not self._workers:
            loop = asyncio.get_running_loop()
            self._workers = [loop.create_task(self._work()) for _ in range(self._workers_wanted)]
        try:
            self._queue.put_nowait((pod, type_, reason, message, rfc3339_now()))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.warning("event queue full: dropped %d events so far", self.dropped)

    async def _work(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._record(*item)
            finally:
                self._queue.task_done()

    async def _record(self, pod: Any, type_: str, reason: str, message: str, now: str) -> None:
        meta = pod.metadata
        ns = meta.namespace or "default"
        key = (meta.uid or f"{ns}/{meta.name}", type_, reason, message)
        try:
            seen = self._seen.get(key)
            if seen is not None:
                name, count = seen
                self._seen[key] = (name, count + 1)
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
                "reportingComponent": self.component, "reportingInstance": self.instance,
            }
            await self.client.call("create", resolve("events"), namespace=ns, body=body)
            self._seen[key] = (name, 1)
            while len(self._seen) > _MAX_REMEMBERED:
                self._seen.popitem(last=False)
        except Exception as exc:
            self._seen.pop(key, None)
            log.warning("could not record event %s for %s/%s: %s", reason, ns, meta.name, exc)

    async def close(self) -> None:
        for task in self._workers:
            task.cancel()
        self._workers = []
