"""One serialized worker per pod uid (kopf's per-object worker, the kubelet's pod workers).

A worker runs `sync(uid)` whenever poked (an informer event, a runtime callback)
or when its own timer fires, never two syncs of one pod at once; a failed sync
is retried with back-off, never dropped. It ends when `sync` says the pod is
gone and cleaned up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from kubelite.tasks import wait_event

log = logging.getLogger("kubelite.nodeagent")

ERROR_RETRY_MAX = 10.0

# (worker done, delay before the next sync or None to wait for a poke)
SyncFn = Callable[[str], Awaitable[tuple[bool, float | None]]]


def retry_delay(failures: int) -> float:
    """Back-off after `failures` failed syncs in a row: 0.2 s doubling, capped.

    >>> [retry_delay(n) for n in (1, 2, 3, 7)]
    [0.2, 0.4, 0.8, 10.0]
    """
    return min(0.2 * 2 ** (failures - 1), ERROR_RETRY_MAX)


class PodWorker:
    def __init__(self, uid: str, *, sync: SyncFn, ready: asyncio.Event,
                 on_done: Callable[[PodWorker], None]) -> None:
        self.uid = uid
        self._sync = sync
        self._ready = ready  # the first list has completed (adopted pods wait for it)
        self._on_done = on_done
        self.wake = asyncio.Event()
        self.wake.set()
        self.task = asyncio.create_task(self._run(), name=f"pod-worker-{uid}")

    def poke(self) -> None:
        self.wake.set()

    async def _run(self) -> None:
        failures = 0
        delay: float | None = None
        while True:
            await wait_event(self.wake, delay)
            self.wake.clear()
            await self._ready.wait()
            try:
                done, delay = await self._sync(self.uid)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # retried: a failed status report or runtime call is never dropped
                failures += 1
                delay = retry_delay(failures)
                log.warning("pod %s: sync failed (retry in %.1fs): %s: %s", self.uid, delay, type(exc).__name__,
                            exc, exc_info=log.isEnabledFor(logging.DEBUG))
                continue
            if done:
                self._on_done(self)
                return
