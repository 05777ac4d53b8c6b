"""The scheduling queue: pods waiting for a decision, and pods that fit nowhere.

Active pods are decided in arrival order, one at a time. A pod that fits
nowhere waits in the unschedulable set until the cluster changes (a node or a
pod changed: `cluster_changed()`), and then no sooner than its back-off
(1 s doubling to 10 s, Kubernetes' podInitialBackoff/podMaxBackoff), so a busy
cluster never turns it into a busy loop; `flush_seconds` after it failed it is
retried anyway (Kubernetes' podMaxInUnschedulablePodsDuration).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

from kubelite.tasks import wait_event

INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 10.0


# Waiting pods are looked at no more often than this, so a stream of cluster
# changes costs O(1) each, not O(unschedulable pods) each.
PROMOTE_INTERVAL = 0.2


@dataclass(slots=True)
class _Waiting:
    since: float
    ready_at: float  # not before this (back-off)
    generation: int  # cluster generation when it failed
    changed: bool = False  # the pod itself changed since it failed


class SchedulingQueue:
    def __init__(self, *, flush_seconds: float = 30.0, clock=time.monotonic) -> None:
        self.flush_seconds = flush_seconds
        self._clock = clock
        self._active: deque[str] = deque()
        self._queued: set[str] = set()
        self._unschedulable: dict[str, _Waiting] = {}
        self._attempts: dict[str, int] = {}
        self._wakeup = asyncio.Event()
        self._generation = 0
        self._last_promote = 0.0

    def add(self, key: str) -> None:
        """A pod needs a decision (new, or changed while waiting)."""
        if key in self._queued:
            return
        if key in self._unschedulable:
            # its own change may make it fit: retry after its back-off
            self._unschedulable[key].changed = True
            self._wakeup.set()
            return
        self._queued.add(key)
        self._active.append(key)
        self._wakeup.set()

    def remove(self, key: str) -> None:
        """The pod is bound, deleted or no longer ours."""
        self._queued.discard(key)  # a stale deque entry is skipped by pop()
        self._unschedulable.pop(key, None)
        self._attempts.pop(key, None)

    def requeue_unschedulable(self, key: str) -> None:
        """The pod fit nowhere (or its bind failed): park it with back-off."""
        attempts = self._attempts.get(key, 0) + 1
        self._attempts[key] = attempts
        now = self._clock()
        backoff = min(INITIAL_BACKOFF * 2 ** (attempts - 1), MAX_BACKOFF)
        self._unschedulable[key] = _Waiting(now, now + backoff, self._generation)

    def cluster_changed(self) -> None:
        self._generation += 1
        if self._unschedulable:
            self._wakeup.set()

    def succeeded(self, key: str) -> None:
        self._attempts.pop(key, None)

    def _promote(self) -> float | None:
        """Move due unschedulable pods to active; the seconds until the next is due."""
        now = self._clock()
        if now - self._last_promote < PROMOTE_INTERVAL:
            return self._last_promote + PROMOTE_INTERVAL - now
        self._last_promote = now
        next_due: float | None = None
        for key, w in list(self._unschedulable.items()):
            changed = w.changed or w.generation != self._generation
            due = w.ready_at if changed else max(w.ready_at, w.since + self.flush_seconds)
            if now >= due:
                del self._unschedulable[key]
                self._queued.add(key)
                self._active.append(key)
            else:
                next_due = due - now if next_due is None else min(next_due, due - now)
        return None if next_due is None else max(next_due, PROMOTE_INTERVAL)

    async def pop(self) -> str:
        while True:
            wait = self._promote() if self._unschedulable else None
            while self._active:
                key = self._active.popleft()
                if key in self._queued:
                    self._queued.discard(key)
                    return key
            self._wakeup.clear()
            await wait_event(self._wakeup, wait)

    def __len__(self) -> int:
        return len(self._queued)

    @property
    def unschedulable_count(self) -> int:
        return len(self._unschedulable)

    def is_waiting(self, key: str) -> bool:
        return key in self._queued or key in self._unschedulable
