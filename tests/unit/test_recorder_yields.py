"""EventRecorder yields to the component's own API requests: an event waits while the client
has requests in flight, at most `defer` seconds after it was recorded (pure ordering logic; the
client here only keeps the in-flight contract of NatsAPIClient.wait_idle)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from kubelite.api.core_v1 import ConfigMap
from kubelite.api.meta import ObjectMeta
from kubelite.reconcile.recorder import EventRecorder

CM = ConfigMap(metadata=ObjectMeta(name="x", namespace="default"))


class BusyClient:
    """Requests "in flight" until `finish()`; records what the recorder creates, and when."""

    def __init__(self) -> None:
        self.idle = asyncio.Event()
        self.created: list[tuple[str, float]] = []

    def finish(self) -> None:
        self.idle.set()

    async def wait_idle(self, timeout: float) -> bool:  # noqa: ASYNC109 - NatsAPIClient.wait_idle
        try:
            await asyncio.wait_for(self.idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def create(self, ev: Any, namespace: str) -> Any:
        self.created.append((ev.reason, time.monotonic()))
        return ev


async def _until(cond: Any, timeout: float, what: str) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


async def test_an_event_waits_for_the_requests_in_flight() -> None:
    client = BusyClient()
    rec = EventRecorder(client, "test", defer=5.0)
    rec.event(CM, "Normal", "Started", "started")
    await asyncio.sleep(0.2)
    assert client.created == []  # still busy, and well inside `defer`
    finished = time.monotonic()
    client.finish()
    await asyncio.wait_for(rec.flush(), 5)
    assert [r for r, _ in client.created] == ["Started"]
    assert client.created[0][1] - finished < 1.0


async def test_a_busy_client_delays_an_event_by_defer_at_most() -> None:
    client = BusyClient()  # never idle
    rec = EventRecorder(client, "test", defer=0.3)
    recorded = time.monotonic()
    for i in range(3):
        rec.event(CM, "Normal", "Pulled", f"event {i}")
    await _until(lambda: len(client.created) == 3, 5, f"events not written: {client.created}")
    waited = [at - recorded for _, at in client.created]
    assert all(0.25 <= w < 2.0 for w in waited), waited  # each waits out its own `defer`, not 3×
    await rec.close()


async def test_close_writes_without_yielding() -> None:
    client = BusyClient()
    rec = EventRecorder(client, "test", defer=30.0)
    rec.event(CM, "Normal", "Killing", "stopping")
    started = time.monotonic()
    await asyncio.wait_for(rec.close(timeout=5), 10)
    assert [r for r, _ in client.created] == ["Killing"]
    assert time.monotonic() - started < 2


async def test_defer_zero_never_waits() -> None:
    client = BusyClient()
    rec = EventRecorder(client, "test", defer=0)
    rec.event(CM, "Normal", "Created", "created")
    await asyncio.wait_for(rec.flush(), 2)
    assert [r for r, _ in client.created] == ["Created"]


class GatedClient:
    """Creates wait at a gate, so the test sees how many are in flight at once; patches count
    repeats. No requests of the component itself are in flight (wait_idle returns at once)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0
        self.created: list[str] = []
        self.patched: list[dict[str, Any]] = []

    async def wait_idle(self, timeout: float) -> bool:  # noqa: ASYNC109 - NatsAPIClient.wait_idle
        return True

    async def create(self, ev: Any, namespace: str) -> Any:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.gate.wait()
        finally:
            self.in_flight -= 1
        self.created.append(ev.message)
        return ev

    async def patch(self, resource: str, namespace: str, name: str, body: dict[str, Any], **_: Any) -> Any:
        self.patched.append(body)
        return body


async def test_distinct_events_are_written_together_and_repeats_after_each_other() -> None:
    """Several events in flight at once (etcd commits them together), but a repeat waits for
    the first write of its event and then patches its count instead of creating a twin."""
    client = GatedClient()
    rec = EventRecorder(client, "test")
    for i in range(6):
        rec.event(CM, "Normal", "Pulled", f"image {i}")
    rec.event(CM, "Normal", "Pulled", "image 0")  # a repeat of the first
    await _until(lambda: client.in_flight == 4, 5, f"{client.in_flight} creates in flight, want 4")
    client.gate.set()
    await asyncio.wait_for(rec.flush(), 5)
    assert client.most_in_flight == 4
    assert sorted(client.created) == [f"image {i}" for i in range(6)]  # no twin of "image 0"
    assert [p["count"] for p in client.patched] == [2]
    await rec.close()
