"""Stopping background tasks without losing a cancel, and waiting with a deadline.

The usual idiom has a hole:

    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

If the task running these lines is itself cancelled while it waits (a shutdown deadline,
SIGTERM, an `asyncio.timeout` around a close()), the suppress takes that cancel for the stopped
task's, and the caller runs on as if nobody had asked it to stop. `asyncio.wait` never raises
what the awaited tasks raised, so here the caller's own cancel is the only CancelledError that
can come out.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Future[Any] | None) -> None:
    """Cancel each task (None is skipped) and wait until every one has ended.

    A task that ended with an error of its own (not its cancel) has that error raised here,
    the first one in argument order, as `await task` would have."""
    live = [t for t in tasks if t is not None]
    for task in live:
        task.cancel()
    if not live:
        return
    await asyncio.wait(live)
    for task in live:
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:  # noqa: ASYNC109
    """Wait until `event` is set or `timeout` seconds have passed (None: no limit); whether it
    was set (True also when another task has cleared it again before this one ran on). Only
    the deadline ends the wait quietly: a cancel of the caller is raised as ever.

    A loop's "sleep until poked, or every N seconds", written once: `asyncio.wait_for` is
    banned here (it can drop a cancel on Python 3.11, docs/resilience.md finding 5)."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True
