"""After a NATS reconnect every node of the process lists its pods again (events sent while it
was away are lost). One real node lists once; a process standing in for thousands of fake nodes
must not fire thousands of LISTs in the same millisecond: their replies (about 30 pods each at
150,000 pods) arrive faster than one event loop reads them, nats-server cuts the connection as
a slow consumer (64 MB pending), and the next reconnect starts the storm again — what
bench/scale_bench.py saw at 5,000 fake nodes and 150,000 pods. So the relists are spread at
random over a window that grows with the number of nodes, as client-go's reflectors add jitter
to their relists.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence

RELISTS_PER_SECOND = 200.0  # the rate a process's relists are spread to after a reconnect


def relist_delays(count: int, rate: float = RELISTS_PER_SECOND) -> list[float]:
    """Pure but for the random draw: when each of `count` nodes relists, in seconds from the
    reconnect, uniformly over count / rate seconds. Example: one node waits at most 5 ms;
    5,000 fake nodes spread over 25 s, about 200 LISTs a second."""
    window = count / rate
    return [random.uniform(0.0, window) for _ in range(count)]


async def spread(hooks: Sequence[Callable[[], Awaitable[None]]], rate: float = RELISTS_PER_SECOND) -> None:
    """Run each reconnect hook after its delay (relist_delays); a hook's error is dropped, as
    before, so one node's failed relist does not stop the others (it retries on its own)."""

    async def after(delay: float, hook: Callable[[], Awaitable[None]]) -> None:
        await asyncio.sleep(delay)
        await hook()

    await asyncio.gather(*(after(d, h) for d, h in zip(relist_delays(len(hooks), rate), hooks, strict=True)),
                         return_exceptions=True)
