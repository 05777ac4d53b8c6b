"""WorkQueue and run_workers: dedup, one worker per key, back-off, shutdown."""

from __future__ import annotations

import asyncio
import time

import pytest

from kubelite.reconcile.controller import Requeue, run_workers
from kubelite.reconcile.workqueue import WorkQueue, backoff_delay


async def get_within(q: WorkQueue, seconds: float = 2.0):
    async with asyncio.timeout(seconds):
        return await q.get()


async def test_key_added_many_times_while_waiting_is_handed_out_once() -> None:
    q: WorkQueue[str] = WorkQueue()
    for _ in range(5):
        q.add("a")
    q.add("b")
    q.add("a")
    assert len(q) == 2
    assert await get_within(q) == "a"
    assert await get_within(q) == "b"
    assert len(q) == 0


async def test_key_readded_while_processing_waits_for_done() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert await get_within(q) == "a"
    q.add("a")
    q.add("a")
    assert len(q) == 0, "a key being processed must not be queued for a second worker"
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0.02)
    assert not getter.done()
    q.done("a")
    assert await asyncio.wait_for(getter, 2) == "a"
    q.done("a")
    assert len(q) == 0, "the two re-adds while processing collapse into one"


async def test_done_without_readd_does_not_requeue() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    await get_within(q)
    q.done("a")
    assert len(q) == 0 and not q.is_processing("a")


async def test_fifo_order_of_distinct_keys() -> None:
    q: WorkQueue[int] = WorkQueue()
    for i in range(10):
        q.add(i)
    assert [await get_within(q) for _ in range(10)] == list(range(10))


async def test_add_after_delays_and_earliest_wins() -> None:
    q: WorkQueue[str] = WorkQueue()
    t0 = time.monotonic()
    q.add_after("a", 0.5)
    q.add_after("a", 0.05)  # earlier: replaces
    q.add_after("a", 1.0)  # later: ignored
    assert len(q) == 0
    assert await get_within(q) == "a"
    elapsed = time.monotonic() - t0
    assert 0.04 <= elapsed < 0.45, elapsed
    assert q.pending_delayed() == 0


def test_backoff_delay_doubles_to_cap() -> None:
    assert [backoff_delay(n, 0.005, 0.1) for n in range(7)] == pytest.approx(
        [0.005, 0.01, 0.02, 0.04, 0.08, 0.1, 0.1]
    )
    assert backoff_delay(10_000, 0.005, 30) == 30


async def test_rate_limited_backoff_grows_per_key_and_forget_resets() -> None:
    q: WorkQueue[str] = WorkQueue(base_delay=0.001, max_delay=0.008)
    delays = [q.add_rate_limited("a") for _ in range(6)]
    assert delays == pytest.approx([0.001, 0.002, 0.004, 0.008, 0.008, 0.008])
    assert q.num_requeues("a") == 6
    assert q.add_rate_limited("b") == pytest.approx(0.001), "back-off is per key"
    q.forget("a")
    assert q.num_requeues("a") == 0
    assert q.add_rate_limited("a") == pytest.approx(0.001)


async def test_shutdown_wakes_waiting_getters_and_rejects_adds() -> None:
    q: WorkQueue[str] = WorkQueue()
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await asyncio.sleep(0.01)
    q.add_after("late", 0.05)
    q.shutdown()
    results = await asyncio.wait_for(asyncio.gather(*getters), 2)
    assert results == [None, None, None]
    q.add("x")
    assert await get_within(q) is None
    await asyncio.sleep(0.1)
    assert len(q) == 0, "delayed adds are dropped at shutdown"


async def test_cancelled_getter_does_not_swallow_a_key() -> None:
    q: WorkQueue[str] = WorkQueue()
    g1 = asyncio.create_task(q.get())
    g2 = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    q.add("a")
    g1.cancel()  # g1 was woken for "a" but is cancelled before it runs
    await asyncio.sleep(0.01)
    assert await asyncio.wait_for(g2, 2) == "a", "the wake-up must pass to the next getter"
    assert g1.cancelled()


async def test_run_workers_never_runs_one_key_concurrently_and_retries_failures() -> None:
    q: WorkQueue[str] = WorkQueue(base_delay=0.001, max_delay=0.01)
    active: set[str] = set()
    overlaps: list[str] = []
    calls: dict[str, int] = {}
    succeeded: set[str] = set()

    async def reconcile(key: str) -> None:
        if key in active:
            overlaps.append(key)
        active.add(key)
        try:
            calls[key] = calls.get(key, 0) + 1
            await asyncio.sleep(0.01)
            for _ in range(3):
                q.add(key)  # events for the same key arriving while it is reconciled
            if key == "flaky" and calls[key] < 4:
                raise RuntimeError("transient")
            succeeded.add(key)
        finally:
            active.discard(key)

    runner = asyncio.create_task(run_workers(q, reconcile, workers=4))
    for key in ("a", "b", "flaky"):
        q.add(key)
    deadline = time.monotonic() + 5
    while not {"a", "b", "flaky"} <= succeeded:
        assert time.monotonic() < deadline, f"not all keys reconciled: {succeeded}"
        await asyncio.sleep(0.01)
    q.shutdown()
    await asyncio.wait_for(runner, 5)
    assert overlaps == [], "a key was reconciled by two workers at once"
    assert calls["flaky"] >= 4
    assert q.num_requeues("flaky") == 0, "a success resets the key's back-off"


async def test_run_workers_requeue_after() -> None:
    q: WorkQueue[str] = WorkQueue()
    times: list[float] = []

    async def reconcile(key: str) -> None:
        times.append(time.monotonic())
        if len(times) == 1:
            raise Requeue(after=0.1)

    runner = asyncio.create_task(run_workers(q, reconcile, workers=1))
    q.add("k")
    deadline = time.monotonic() + 3
    while len(times) < 2:
        assert time.monotonic() < deadline, "Requeue(after=0.1) never re-ran the key"
        await asyncio.sleep(0.01)
    q.shutdown()
    await asyncio.wait_for(runner, 2)
    assert times[1] - times[0] >= 0.09


async def test_shutdown_lets_in_flight_reconcile_finish() -> None:
    q: WorkQueue[str] = WorkQueue()
    started = asyncio.Event()
    finished: list[str] = []

    async def reconcile(key: str) -> None:
        started.set()
        await asyncio.sleep(0.05)
        finished.append(key)

    runner = asyncio.create_task(run_workers(q, reconcile, workers=2))
    q.add("k")
    await asyncio.wait_for(started.wait(), 2)
    q.add("other-queued")
    q.shutdown()
    await asyncio.wait_for(runner, 2)
    assert finished == ["k"], "in-flight key finishes; queued keys are dropped"
