"""Informer: a list-watched, indexed cache of one resource read straight from etcd.

Control-plane readers (scheduler, controller-manager) use it. It lists the
resource at revision R, then watches from R+1. When the watch fails
(`Compacted`: history is gone; `Unavailable`: etcd went away) it re-lists with
back-off and reports the difference to the cache as adds/updates/deletes, so
handlers never miss the end state of a change (intermediate states may be
skipped, which level-triggered controllers do not need). Every
`resync_seconds` it calls on_update(obj, obj) for every cached object, which is
how level-triggered loops recover work they dropped.

Handlers run one at a time, in revision order, on the informer's task: keep
them quick (typically: put a key on a WorkQueue). Several informers may share
one EtcdStore.

A `history` (ChangeLog) hears every change with its etcd revision as soon as the cache holds
it, before the handlers, and hears when a relist replaces the cache: the apiserver's watch
cache (watchcache.py) serves HTTP watches from it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from kubelite import codec
from kubelite.api.scheme import ResourceInfo
from kubelite.reconcile.cache import (
    INDEX_NAMESPACE,
    INDEX_NODE,
    INDEX_OWNER,
    CachedInformer,
    Delta,
    apply,
    diff,
    key_of,
    split_key,
)
from kubelite.reconcile.revisions import RevisionWaiters
from kubelite.storage import KV, Compacted, StorageError, StoreEvent
from kubelite.storage.etcd import EtcdStore
from kubelite.tasks import cancel_and_wait

log = logging.getLogger(__name__)

_LIST_PAGE = 500  # keys per etcd range request, so huge lists do not stall etcd
_BACKOFF_MIN = 0.2
_BACKOFF_MAX = 10.0

__all__ = ["INDEX_NAMESPACE", "INDEX_NODE", "INDEX_OWNER", "ChangeLog", "Informer", "key_of", "split_key"]


class ChangeLog(Protocol):
    """What an Informer tells of its changes besides its handlers (the `history` keyword)."""

    def changed(self, delta: Delta, revision: int) -> None:
        """The cache has just applied `delta`, etcd's change at `revision` (called in revision
        order, with the cache already holding it)."""

    def relisting(self) -> None:
        """A relist is about to replace the cache: changes may be skipped from here on."""

    def relisted(self, revision: int) -> None:
        """The cache is exactly etcd's state at `revision`; `changed` follows from there."""


class Informer(CachedInformer):
    def __init__(
        self,
        store: EtcdStore,
        info: ResourceInfo,
        *,
        namespace: str = "",
        resync_seconds: float = 300,
        transform: Callable[[Any, Any | None], Any] | None = None,
        owner_indexed: bool = True,
        history: ChangeLog | None = None,
    ) -> None:
        """`owner_indexed=False`: no index by metadata.ownerReferences (a transform that drops
        them, such as the apiserver pod cache's, has nothing to index)."""
        self.store = store
        self.history = history
        # applied to each object before it is cached, with the cached version it replaces
        # (None for a new key), whose unchanged parts it may reuse (transforms.py)
        self.transform = transform
        self.info = info
        self.namespace = namespace
        self.resync_seconds = resync_seconds
        self.name = f"informer[{info.group_resource}{'/' + namespace if namespace else ''}]"
        self._prefix = info.key_prefix(namespace or None)
        self._base_prefix = info.key_prefix(None)
        super().__init__(node_indexed=info.kind == "Pod" and info.group == "", owner_indexed=owner_indexed)
        self._decoder = codec.decoder_for(info.type)
        self._stopping = asyncio.Event()
        self._progress = asyncio.Event()  # set: ask etcd where the watch stands (wait_fresh)
        self._reached = RevisionWaiters()  # the etcd revision the cache reflects, and who waits for one
        self.relists = 0  # how many times the informer had to list (1 after the first sync)

    @property
    def revision(self) -> int:
        """The etcd revision the cache reflects."""
        return self._reached.revision

    @property
    def _revision(self) -> int:
        return self._reached.revision

    def start(self) -> asyncio.Task[None]:
        """Run in a background task; returns it. Idempotent while running.

        Started again after `stop()`, the informer keeps its cache and resumes
        watching from the revision it had reached (re-listing, with the
        difference reported to handlers, if etcd has compacted that history).
        """
        if self._task is None or self._task.done():
            self._stopping.clear()
        return super().start()

    async def stop(self) -> None:
        self._stopping.set()
        await super().stop()

    async def _run(self) -> None:
        resync = asyncio.get_running_loop().create_task(self._resync_loop())
        try:
            await self._list_watch_loop()
        finally:
            await cancel_and_wait(resync)

    async def _list_watch_loop(self) -> None:
        need_list = not self._synced.is_set()
        failures = 0
        while not self._stopping.is_set():
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                    failures = 0
                await self._watch()
                raise StorageError("watch ended")  # the etcd watch never ends by itself
            except Compacted as exc:
                # etcd no longer has the history to replay: list again, at once
                log.info("%s: %s; re-listing", self.name, exc)
                need_list = True
            except StorageError as exc:
                # etcd restarted or unreachable: changes may have been missed; re-list
                need_list = True
                delay = _backoff(failures)
                failures += 1
                log.warning("%s: %s; re-listing in %.1fs", self.name, exc, delay)
                await asyncio.sleep(delay)
            except Exception:  # a bug must not silently end the informer
                need_list = True
                delay = _backoff(failures)
                failures += 1
                log.exception("%s: unexpected error; re-listing in %.1fs", self.name, delay)
                await asyncio.sleep(delay)

    async def _relist(self) -> None:
        fresh, revision = await self._list_all()
        async with self._lock:
            if self.history is not None:
                self.history.relisting()
            for delta in diff(self._cache, fresh):
                apply(self._cache, delta)
                await self._handlers.dispatch(delta)
            await self._advance(revision)
            if self.history is not None:
                self.history.relisted(revision)
            self.relists += 1
        self._synced.set()

    async def _list_all(self) -> tuple[dict[str, Any], int]:
        """Every object under the prefix at one revision, paginated."""
        while True:
            fresh: dict[str, Any] = {}
            revision, start_after = 0, None
            try:
                while True:
                    kvs, revision, more = await self.store.list(
                        self._prefix, limit=_LIST_PAGE, start_after=start_after, revision=revision
                    )
                    for kv in kvs:
                        obj = self._decode(kv, kv.mod_revision)
                        if obj is not None:
                            fresh[key_of(obj)] = obj
                    if not more or not kvs:
                        return fresh, revision
                    start_after = kvs[-1].key
            except Compacted:
                continue  # compacted between pages: start over at a new revision

    async def wait_fresh(self, timeout: float) -> bool:  # noqa: ASYNC109 - returns False on timeout
        """Wait until the cache reflects every change etcd had when this was called (its current
        revision, then a watch progress report); False after `timeout` seconds or unsynced.
        Example: etcd is at 900 because of a ConfigMap write, the last pod change was 870:
        the progress report says 900 and the cache counts as fresh at once."""
        if not self._synced.is_set():
            return False
        target = await self.store.current_revision()
        if self._revision >= target:
            return True
        return await self.wait_revision(target, timeout)

    async def wait_revision(self, revision: int, timeout: float) -> bool:  # noqa: ASYNC109 - returns False on timeout
        """Wait until the cache reflects etcd's `revision` (asking etcd where the watch
        stands); False after `timeout` seconds."""
        if self._revision >= revision:
            return True
        self._progress.set()
        return await self._reached.wait(revision, timeout)

    async def _advance(self, revision: int) -> None:
        self._reached.advance(revision)

    async def _watch(self) -> None:
        stream = self.store.watch(self._prefix, start_revision=self._revision + 1, progress=self._progress)
        try:
            async for event in stream:
                await self._on_event(event)
        finally:
            await stream.aclose()

    async def _on_event(self, event: StoreEvent) -> None:
        if event.type == "PROGRESS":  # every change up to this revision has come
            await self._advance(event.kv.mod_revision)
            return
        obj = self._decode(event.kv, event.kv.mod_revision)
        async with self._lock:
            await self._advance(event.kv.mod_revision)
            if event.type == "DELETE":
                # the etcd key says what went, even if its last value does not decode
                old = self._cache.remove(self._cache_key(event.kv.key))
                if old is not None:
                    await self._report(Delta("DELETED", obj if obj is not None else old), event.kv.mod_revision)
                return
            if obj is None:
                return
            key = key_of(obj)
            old = self._cache.put(key, obj)
            await self._report(Delta("ADDED", obj) if old is None else Delta("MODIFIED", obj, old),
                               event.kv.mod_revision)

    async def _report(self, delta: Delta, revision: int) -> None:
        if self.history is not None:
            self.history.changed(delta, revision)
        await self._handlers.dispatch(delta)

    def _cache_key(self, etcd_key: str) -> str:
        """/registry/<plural>/<ns>/<name> -> "<ns>/<name>" (or "<name>"), as key_of gives."""
        return etcd_key.removeprefix(self._base_prefix)

    def _decode(self, kv: KV, revision: int) -> Any | None:
        """Typed object with resourceVersion set (a DELETE's is the delete's revision,
        as Kubernetes reports it); None, logged, when the stored bytes do not decode."""
        try:
            obj = self._decoder.decode(kv.value)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.error("%s: cannot decode %s at revision %d: %s", self.name, kv.key, revision, exc)
            return None
        obj.metadata.resourceVersion = str(revision)
        if self.transform is None:
            return obj
        return self.transform(obj, self._cache.get_by_key(self._cache_key(kv.key)))

    async def _resync_loop(self) -> None:
        if self.resync_seconds <= 0:
            return
        while True:
            await asyncio.sleep(self.resync_seconds)
            await self.resync()


def _backoff(failures: int) -> float:
    delay = min(_BACKOFF_MIN * (2**min(failures, 16)), _BACKOFF_MAX)
    return delay * random.uniform(0.8, 1.2)  # jitter: many informers should not retry in step
