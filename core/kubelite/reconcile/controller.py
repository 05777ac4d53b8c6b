"""Running reconcile loops: `run_workers` and the `Controller` base class.

A controller's informers turn every change into a key on its WorkQueue;
`workers` tasks take keys off the queue and call `reconcile(key)`, which
reads the current state from the informer caches and drives it toward the
spec. A failure is logged and the key retried with per-key exponential
back-off (a 409 Conflict, a stale cache under concurrent writers, quietly);
a success resets the back-off. The queue guarantees one key is
never reconciled by two workers at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from kubelite.errors import APIError
from kubelite.reconcile.cache import key_of
from kubelite.reconcile.workqueue import WorkQueue
from kubelite.tasks import cancel_and_wait

log = logging.getLogger(__name__)

ReconcileFn = Callable[[Any], Awaitable[None]]


class Requeue(Exception):
    """Raise from reconcile to try the key again after `after` seconds without logging
    an error (e.g. waiting for something to happen), or with back-off if `after` is None."""

    def __init__(self, after: float | None = None, reason: str = "") -> None:
        super().__init__(reason or "requeue")
        self.after = after


async def _worker(queue: WorkQueue[Any], reconcile: ReconcileFn, name: str) -> None:
    while True:
        key = await queue.get()
        if key is None:
            return
        try:
            await reconcile(key)
        except asyncio.CancelledError:
            raise
        except Requeue as req:
            if req.after is None:
                queue.add_rate_limited(key)
            else:
                queue.forget(key)
                queue.add_after(key, req.after)
        except APIError as exc:
            delay = queue.add_rate_limited(key)
            if exc.code == 409:  # our cached copy was stale: normal under concurrent writers
                log.debug("%s: %s conflicted; again in %.3fs: %s", name, key, delay, exc.message)
            else:
                log.exception("%s: reconcile %s failed (attempt %d); retrying in %.3fs",
                              name, key, queue.num_requeues(key), delay)
        except Exception:
            delay = queue.add_rate_limited(key)
            log.exception(
                "%s: reconcile %s failed (attempt %d); retrying in %.3fs",
                name, key, queue.num_requeues(key), delay,
            )
        else:
            queue.forget(key)
        finally:
            queue.done(key)


async def run_workers(queue: WorkQueue[Any], reconcile: ReconcileFn, workers: int = 1) -> None:
    """Process keys from `queue` with `workers` concurrent tasks until the queue shuts down.

    Returns once every worker has finished its current key. Cancelling this
    coroutine cancels the workers mid-reconcile.
    """
    name = queue.name or getattr(reconcile, "__qualname__", "controller")
    tasks = [
        asyncio.get_running_loop().create_task(_worker(queue, reconcile, name), name=f"{name}-{i}")
        for i in range(max(1, workers))
    ]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class Controller:
    """Base for a reconcile loop. Subclasses implement `reconcile(key)` and, in
    `__init__`, call `self.watch(informer, ...)` for each informer whose changes
    should enqueue keys. Informers may be shared between controllers; the
    controller starts the ones it watches (start() is idempotent) but does not
    stop them, since others may still use them.

    `run()` waits for every watched informer's first sync, then runs the
    workers until `stop()`. Informers' periodic resync re-enqueues every key,
    so lost work is retried at least once per resync period.
    """

    name = "controller"

    def __init__(
        self,
        *,
        workers: int = 1,
        base_delay: float = 0.005,
        max_delay: float = 60.0,
        name: str | None = None,
    ) -> None:
        if name:
            self.name = name
        self.workers = workers
        self.queue: WorkQueue[Hashable] = WorkQueue(
            name=self.name, base_delay=base_delay, max_delay=max_delay
        )
        self.informers: list[Any] = []
        self._running: asyncio.Task[None] | None = None

    async def reconcile(self, key: Any) -> None:
        raise NotImplementedError

    def watch(
        self,
        informer: Any,
        key_fn: Callable[[Any], Hashable | list[Hashable] | None] = key_of,
    ) -> None:
        """Enqueue `key_fn(obj)` (one key, a list of keys, or None for none) on every
        add, update and delete the informer reports. Default key: "<ns>/<name>"."""

        def enqueue(obj: Any) -> None:
            keys = key_fn(obj)
            if keys is None:
                return
            for key in keys if isinstance(keys, list) else [keys]:
                self.queue.add(key)

        def enqueue_update(old: Any, new: Any) -> None:
            # both: a changed owner/label can move an object from one key to another;
            # the queue collapses the usual case of one key
            if old is not new:
                enqueue(old)
            enqueue(new)

        informer.add_handler(on_add=enqueue, on_update=enqueue_update, on_delete=enqueue)
        if informer not in self.informers:
            self.informers.append(informer)

    async def run(self, *, sync_timeout: float | None = None) -> None:
        """Start the informers, wait for them to sync, run workers until `stop()`."""
        self._running = asyncio.current_task()
        for informer in self.informers:
            informer.start()
        for informer in self.informers:
            await informer.wait_synced(sync_timeout)
        log.info("%s: caches synced; starting %d worker(s)", self.name, self.workers)
        await run_workers(self.queue, self.reconcile, self.workers)
        log.info("%s: stopped", self.name)

    async def stop(self, *, grace_seconds: float = 10.0) -> None:
        """Stop taking keys; let in-flight reconciles finish for up to `grace_seconds`,
        then cancel them."""
        self.queue.shutdown()
        task = self._running
        if task is None or task.done() or task is asyncio.current_task():
            return
        done, _ = await asyncio.wait([task], timeout=grace_seconds)
        if not done:
            await cancel_and_wait(task)
