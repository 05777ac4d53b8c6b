"""The scheduling queue: order, de-duplication, unschedulable back-off and retry triggers."""

from __future__ import annotations

import asyncio

import pytest

from kubelite_scheduler import queue as q
from kubelite_scheduler.queue import SchedulingQueue
from tests.fakeclock import FakeClock


async def pop_now(queue: SchedulingQueue) -> str | None:
    """The next key if one is due right away, else None (never waits long)."""
    try:
        async with asyncio.timeout(0.05):
            return await queue.pop()
    except TimeoutError:
        return None


async def test_fifo_without_duplicates_and_removal() -> None:
    queue = SchedulingQueue()
    for key in ("a", "b", "a", "c"):
        queue.add(key)
    queue.remove("b")
    assert [await pop_now(queue), await pop_now(queue), await pop_now(queue)] == ["a", "c", None]


async def test_unschedulable_waits_for_a_change_and_its_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(q, "PROMOTE_INTERVAL", 0.0)
    clock = FakeClock()
    queue = SchedulingQueue(flush_seconds=30, clock=clock)
    queue.add("p")
    assert await pop_now(queue) == "p"
    queue.requeue_unschedulable("p")
    clock.now += 5
    assert await pop_now(queue) is None  # nothing changed: no retry, however long we wait
    queue.cluster_changed()
    assert await pop_now(queue) == "p"  # changed and past the 1 s back-off
    queue.requeue_unschedulable("p")  # second failure: 2 s back-off
    queue.cluster_changed()
    clock.now += 1
    assert await pop_now(queue) is None
    clock.now += 1.5
    assert await pop_now(queue) == "p"


async def test_unschedulable_is_flushed_periodically(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(q, "PROMOTE_INTERVAL", 0.0)
    clock = FakeClock()
    queue = SchedulingQueue(flush_seconds=30, clock=clock)
    queue.requeue_unschedulable("p")
    clock.now += 29
    assert await pop_now(queue) is None
    clock.now += 2
    assert await pop_now(queue) == "p"


async def test_a_change_of_the_pod_itself_retries_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(q, "PROMOTE_INTERVAL", 0.0)
    clock = FakeClock()
    queue = SchedulingQueue(clock=clock)
    queue.requeue_unschedulable("p")
    queue.add("p")  # e.g. its tolerations were edited
    assert await pop_now(queue) is None  # still within its back-off
    clock.now += 1.1
    assert await pop_now(queue) == "p"
    queue.remove("p")
    assert not queue.is_waiting("p")


async def test_backoff_is_capped() -> None:
    clock = FakeClock()
    queue = SchedulingQueue(clock=clock)
    for _ in range(10):
        queue.requeue_unschedulable("p")
    waiting = queue._unschedulable["p"]
    assert waiting.ready_at - waiting.since == q.MAX_BACKOFF
    queue.succeeded("p")
    queue.requeue_unschedulable("p")
    waiting = queue._unschedulable["p"]
    assert waiting.ready_at - waiting.since == q.INITIAL_BACKOFF
