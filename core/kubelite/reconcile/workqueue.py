"""WorkQueue: client-go's rate-limited delaying work queue, for asyncio.

Guarantees, as in client-go's workqueue:
- a key added many times while it waits is handed out once (dirty set);
- a key being processed is never handed to a second worker: adding it again
  marks it dirty and it is queued again only when the worker calls `done(key)`;
- `add_after` delays an add; `add_rate_limited` delays it by the key's own
  exponential back-off (base doubling per failure up to a cap) until `forget`;
- `shutdown()` wakes every waiting `get()`, which from then on returns None
  (queued keys are dropped: a level-triggered controller re-lists on restart).

All methods except `get` are synchronous and must be called on the queue's
event loop. A named queue reports client-go's workqueue_* metrics under its name.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from kubelite.telemetry import families as metrics

K = TypeVar("K", bound=Hashable)

DEFAULT_BASE_DELAY = 0.005  # seconds, client-go's DefaultItemBasedRateLimiter base
DEFAULT_MAX_DELAY = 60.0  # seconds; client-go uses 1000s, too slow to notice for a small cluster


def backoff_delay(failures: int, base: float, cap: float) -> float:
    """Delay before retry number `failures + 1`: base * 2**failures, at most `cap`."""
    if failures >= 64:  # 2**64 * base is past any sane cap; avoid float overflow
        return cap
    return min(base * (2**failures), cap)


class WorkQueue(Generic[K]):
    def __init__(
        self,
        *,
        name: str = "",
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
    ) -> None:
        self.name = name
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()  # waiting to be processed (queued, or re-added while processing)
        self._processing: set[K] = set()
        self._failures: dict[K, int] = {}
        self._delayed: dict[K, asyncio.TimerHandle] = {}  # earliest pending add_after per key
        self._delayed_at: dict[K, float] = {}
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False
        self._added_at: dict[K, float] = {}  # for workqueue_queue_duration_seconds
        self._started_at: dict[K, float] = {}  # for workqueue_work_duration_seconds
        self._metrics = bool(name)
        if self._metrics:
            metrics.WORKQUEUE_DEPTH.labels(name).set_function(lambda: len(self._queue))

    # -- adding -------------------------------------------------------------

    def add(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if self._metrics:
            metrics.WORKQUEUE_ADDS.labels(self.name).inc()
            self._added_at.setdefault(key, time.perf_counter())
        if key in self._processing:
            return  # queued again by done(key)
        self._queue.append(key)
        self._wake_one()

    def add_after(self, key: K, delay: float) -> None:
        """Add `key` after `delay` seconds. Of several pending delays for a key the earliest wins."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        pending = self._delayed_at.get(key)
        if pending is not None and pending <= when:
            return
        if key in self._delayed:
            self._delayed[key].cancel()
        self._delayed_at[key] = when
        self._delayed[key] = loop.call_at(when, self._fire_delayed, key)

    def _fire_delayed(self, key: K) -> None:
        self._delayed.pop(key, None)
        self._delayed_at.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: K) -> float:
        """Re-add `key` after its back-off delay (which then doubles); returns the delay used."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        if self._metrics:
            metrics.WORKQUEUE_RETRIES.labels(self.name).inc()
        delay = backoff_delay(failures, self.base_delay, self.max_delay)
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """Reset `key`'s back-off (call after it was processed successfully)."""
        self._failures.pop(key, None)

    def num_requeues(self, key: K) -> int:
        return self._failures.get(key, 0)

    # -- processing -----------------------------------------------------------

    async def get(self) -> K | None:
        """The next key to process, waiting for one; None once the queue is shut down.

        The caller must call `done(key)` when finished with it.
        """
        while not self._queue or self._shutting_down:
            if self._shutting_down:
                return None
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                # pass a wake-up we may have consumed on to another waiter
                if waiter.done() and not waiter.cancelled() and self._queue:
                    self._wake_one()
                raise
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        if self._metrics:
            now = time.perf_counter()
            metrics.WORKQUEUE_QUEUE_DURATION.labels(self.name).observe(now - self._added_at.pop(key, now))
            self._started_at[key] = now
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if self._metrics and (started := self._started_at.pop(key, None)) is not None:
            metrics.WORKQUEUE_WORK_DURATION.labels(self.name).observe(time.perf_counter() - started)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one()

    # -- lifecycle -----------------------------------------------------------

    def shutdown(self) -> None:
        """Stop handing out and accepting keys; drop queued and delayed ones; wake every get().

        Keys already being processed stay in flight until their worker finishes.
        """
        self._shutting_down = True
        self._queue.clear()
        self._dirty.clear()
        for handle in self._delayed.values():
            handle.cancel()
        self._delayed.clear()
        self._delayed_at.clear()
        self._added_at.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def __len__(self) -> int:
        """Keys ready to be handed out (not counting delayed or in-process ones)."""
        return len(self._queue)

    def pending_delayed(self) -> int:
        return len(self._delayed)

    def is_processing(self, key: K) -> bool:
        return key in self._processing

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
