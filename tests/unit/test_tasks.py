"""cancel_and_wait: stops tasks without taking the caller's own cancel for theirs; wait_event:
waits with a deadline and says whether the event came."""

from __future__ import annotations

import asyncio

import pytest

from kubelite.tasks import cancel_and_wait, wait_event


async def test_cancels_every_task_and_waits_for_them() -> None:
    ended: list[str] = []

    async def work(name: str) -> None:
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0)  # some cleanup that takes a turn
            ended.append(name)

    a, b = asyncio.create_task(work("a")), asyncio.create_task(work("b"))
    await asyncio.sleep(0)
    await cancel_and_wait(a, None, b)
    assert a.cancelled() and b.cancelled() and sorted(ended) == ["a", "b"]


async def test_raises_a_tasks_own_error() -> None:
    async def fails() -> None:
        raise ValueError("broken")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="broken"):
        await cancel_and_wait(task)


async def test_the_callers_cancel_is_not_taken_for_the_tasks() -> None:
    """The task takes its time to stop; the caller is cancelled meanwhile and must stop too
    (`with suppress(CancelledError): await task` would return normally here)."""
    release = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            await release.wait()

    task = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    went_on = False

    async def stopper() -> None:
        nonlocal went_on
        await cancel_and_wait(task)
        went_on = True

    caller = asyncio.create_task(stopper())
    await asyncio.sleep(0)
    caller.cancel()
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert not went_on
    await asyncio.wait([task])


async def test_wait_event_says_whether_the_event_came() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_event(event, 30) is True
    assert await wait_event(event, None) is True  # already set: no wait


async def test_wait_event_counts_an_event_cleared_again_before_the_waiter_ran() -> None:
    event = asyncio.Event()
    waiter = asyncio.create_task(wait_event(event, 30))
    await asyncio.sleep(0)
    event.set()
    event.clear()  # before the waiter's next turn
    assert await waiter is True


async def test_wait_event_raises_the_callers_cancel() -> None:
    waiter = asyncio.create_task(wait_event(asyncio.Event(), 30))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
