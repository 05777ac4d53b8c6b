"""RevisionWaiters: an advance wakes exactly the waiters whose target it reached."""

from __future__ import annotations

import asyncio

from kubelite.reconcile.revisions import RevisionWaiters


async def test_an_advance_wakes_only_the_waiters_it_satisfies() -> None:
    w = RevisionWaiters()
    tasks = {t: asyncio.create_task(w.wait(t, timeout=5)) for t in (905, 910, 950)}
    await asyncio.sleep(0)
    w.advance(912)
    await asyncio.sleep(0)
    assert {t for t, task in tasks.items() if task.done()} == {905, 910}
    assert tasks[905].result() is True and not tasks[950].done()
    w.advance(911)  # backwards: ignored
    assert w.revision == 912
    w.advance(950)
    assert await tasks[950] is True


async def test_a_reached_revision_answers_at_once_and_a_timeout_says_false() -> None:
    w = RevisionWaiters()
    w.advance(10)
    assert await w.wait(10, timeout=0) is True
    assert await w.wait(11, timeout=0.01) is False
    w.advance(20)  # pops the timed-out waiter without error
    assert w._heap == []


async def test_a_cancelled_waiter_does_not_break_the_others() -> None:
    w = RevisionWaiters()
    gone = asyncio.create_task(w.wait(5, timeout=5))
    kept = asyncio.create_task(w.wait(5, timeout=5))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    w.advance(5)
    assert await kept is True
    assert gone.cancelled()
