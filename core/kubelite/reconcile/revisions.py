"""Waiting for a cache to reach an etcd revision, for many waiters at once.

Why not an asyncio.Condition: notify_all wakes every waiter on every event, so with W readers
waiting and E events a second that is W × E predicate checks (the apiserver's node authorizer
waits for its pod cache on most pod starts: 50 waiters × 600 events/s was a tenth of its CPU
during a fill). Here each waiter sits in a heap by target revision and an advance wakes only
those it satisfies. Example: waiters for 905, 910 and 950; the cache reaches 912; the first two
are woken, 950 stays, and nothing else is looked at.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools


class RevisionWaiters:
    def __init__(self) -> None:
        self.revision = 0
        self._heap: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()  # ties in revision never compare futures

    async def wait(self, target: int, timeout: float) -> bool:  # noqa: ASYNC109 - returns False on timeout
        """True once `advance` has reached `target`; False after `timeout` seconds."""
        if self.revision >= target:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (target, next(self._order), future))
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            return False
        finally:
            future.cancel()  # a timed-out waiter stays in the heap, done, until an advance pops it
        return True

    def advance(self, revision: int) -> None:
        if revision <= self.revision:
            return
        self.revision = revision
        heap = self._heap
        while heap and heap[0][0] <= revision:
            future = heapq.heappop(heap)[2]
            if not future.done():
                future.set_result(None)
