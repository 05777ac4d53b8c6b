"""After a reconnect, a process's node agents relist spread over count / rate seconds
(reconnect.py): one node at once, thousands of fake nodes over tens of seconds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from kubelite_nodeagent.reconnect import relist_delays, spread


def test_one_node_relists_at_once_and_many_are_spread() -> None:
    assert all(0.0 <= d <= 1 / 200 for d in relist_delays(1))
    delays = relist_delays(5000)
    assert len(delays) == 5000 and all(0.0 <= d <= 25.0 for d in delays)
    # spread, not bunched: each fifth of the 25 s window gets roughly a fifth of them
    counts = [sum(1 for d in delays if k * 5 <= d < (k + 1) * 5) for k in range(5)]
    assert all(800 <= c <= 1200 for c in counts), counts


def test_spread_runs_every_hook_and_keeps_going_past_a_failure() -> None:
    ran: list[int] = []

    def hook(i: int) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            ran.append(i)
            if i == 3:
                raise RuntimeError("this node's relist failed")
        return run

    started = time.monotonic()
    asyncio.run(spread([hook(i) for i in range(10)], rate=1000.0))  # a 10 ms window
    assert sorted(ran) == list(range(10))
    assert time.monotonic() - started < 2.0
