"""One etcd watch per resource for the HTTP watches of resources without a watch cache.

Why: Kubernetes' cacher gives each resource one etcd watch, whatever the number of watchers.
kubelite keeps only pods in memory (podcache.py): keeping every object of every resource decoded
would cost memory the 150,000-pod target needs. The watch half needs no object cache, though: a
hub per resource, opened by its first HTTP watch and closed IDLE_SECONDS after its last, watches
etcd once, decodes each change once and keeps the recent changes in the same buffer the pod
cache uses (watchcache.py), from which every watch of the resource is served.

- A watch from resourceVersion R is served when the hub's buffer reaches back to R: what the
  buffer holds after R at once, the rest as the hub receives it (no progress request: etcd 3.5.1
  can report progress past history a new watch has not sent yet). A hub opened by such a watch
  watches etcd from R, so it holds R's changes and every later one (unless etcd compacted R: then
  that watch reads etcd, which answers 410). An R older than a running hub holds watches etcd.
- A watch's initial state (resourceVersion unset or "0", sendInitialEvents) is an etcd LIST at
  revision X, then the hub's changes after X: the hub opens before the LIST, so it holds them.
- The hub's etcd watch failing (etcd restarted, history compacted under a slow hub) ends it and
  every watcher (they resume, as from the pod cache's relist); the next watch opens a new hub.

Example: three `kubectl get deploy -w` and a dashboard on deployments: one etcd watch on
/registry/deployments.apps/ (the hub's), each change decoded and encoded once; the fifth
watcher, resuming from a resourceVersion of a minute ago, is served from the hub's buffer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from typing import Any

from kubelite import codec
from kubelite.api.scheme import ResourceInfo
from kubelite.bus.changes import event_bytes
from kubelite.reconcile.cache import Delta
from kubelite.storage import Compacted, StorageError, StoreEvent
from kubelite.tasks import cancel_and_wait
from kubelite_apiserver.metrics import WATCHES
from kubelite_apiserver.params import ListOptions
from kubelite_apiserver.watchcache import WatchCache, bookmark, expired, initial_events, stream

log = logging.getLogger(__name__)

IDLE_SECONDS = 60.0  # a hub without watchers closes its etcd watch after this long
Selected = Callable[[Any], bool] | None  # whether an object matches a watch's selectors (None: none)


class WatchHub:
    """One resource's etcd watch and the buffer of its recent changes."""

    def __init__(self, reg: Any, info: ResourceInfo) -> None:
        self.reg, self.info = reg, info
        self.changes = WatchCache(info.group_resource, encode=codec.encode)
        self.idle_since: float | None = None
        self.compacted = 0  # etcd's compaction point, if that is what ended the hub
        self._reached = 0  # the etcd revision every change up to which it has
        self._task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self, since: int | None = None) -> None:
        """Watch etcd from revision `since` (the resourceVersion of the watch that opens the
        hub: the hub then holds that revision's changes and every later one), or from now."""
        current = await self.reg.store.current_revision()
        first = since if since is not None and 0 < since <= current else current + 1
        self._reached = first - 1
        self.changes.relisted(first - 1)
        self._task = asyncio.get_running_loop().create_task(
            self._follow(first), name=f"watch-hub[{self.info.group_resource}]")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)

    async def _follow(self, start: int) -> None:
        try:
            async for event in self.reg.store.watch(self.info.key_prefix(None), start_revision=start):
                self.changes.changed(self._delta(event), event.kv.mod_revision)
                self._reached = event.kv.mod_revision
        except Compacted as exc:  # what the hub was to read first is gone: 410, as etcd's watch
            self.compacted = point = exc.compacted
            log.info("watch hub for %s ended: %s", self.info.group_resource, exc)
            gone = expired(start, point)
            self.changes.end_all(lambda watcher: gone if watcher.after < point else None)
        except Exception as exc:  # etcd went away
            log.info("watch hub for %s ended: %s", self.info.group_resource, exc)
        finally:
            self.changes.relisting()  # ends every watcher: they resume, from a new hub or etcd

    def _delta(self, event: StoreEvent) -> Delta:
        """The change as the pod cache's informer reports one (DELETED: the last state at the
        delete's revision; MODIFIED: the state it replaced beside it, for selectors)."""
        obj = self.reg.decode(self.info, event.kv)  # a DELETE's kv: the last value, the delete's revision
        if event.type == "DELETE":
            return Delta("DELETED", obj)
        if event.is_create or event.prev is None:
            return Delta("ADDED", obj)
        return Delta("MODIFIED", obj, self.reg.decode(self.info, event.prev))

    async def watch(self, namespace: str, opts: ListOptions, selected: Selected,
                    ) -> AsyncGenerator[bytes, None] | None:
        """A watch served by the hub, or None (watch etcd). `opts` were checked (watch.py);
        `selected`: whether an object matches the watch's selectors (None: no selector)."""
        rv = opts.resource_version
        first: Iterable[bytes] = ()
        if opts.send_initial_events or rv in ("", "0"):
            first, revision = await listed_events(self.reg, self.info, namespace, selected, opts.send_initial_events)
            resumed = self.changes.resume(revision, shared_again=False)
        else:  # what the hub has not received yet comes to the watcher as it arrives
            resumed = self.changes.resume(int(rv))
        if resumed is None:
            return None
        replay, watcher = resumed
        WATCHES.labels(self.info.group_resource, "hub").inc()
        marks = self._bookmark if opts.allow_bookmarks else None
        return stream(self.changes, first, replay, watcher, namespace, selected, marks)

    def _bookmark(self) -> bytes:
        """An idle watcher's BOOKMARK: every change up to the revision the hub reached was sent."""
        return bookmark(self.info.kind, self.info.api_version, self._reached)


async def listed_events(reg: Any, info: ResourceInfo, namespace: str, selected: Selected,
                        end_mark: bool) -> tuple[Iterator[bytes], int]:
    """An etcd LIST of `namespace` as a watch's initial state (the hub's and watch.py's etcd
    path): ADDED for each object `selected` takes, made as they are sent, and with `end_mark`
    the BOOKMARK that ends a streaming list; and the LIST's revision."""
    kvs, revision, _ = await reg.store.list(info.key_prefix(namespace))
    objs = (reg.decode(info, kv) for kv in kvs)
    added = (event_bytes("ADDED", codec.encode(obj)) for obj in objs if selected is None or selected(obj))
    return initial_events(added, info.kind, info.api_version, revision if end_mark else None), revision


class WatchHubs:
    """The hubs of this apiserver, by resource: opened on demand, closed when idle."""

    def __init__(self, reg: Any, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.reg = reg
        self._clock = clock
        self._hubs: dict[str, WatchHub] = {}
        self._opening: dict[str, asyncio.Future[WatchHub]] = {}
        self._floor: dict[str, int] = {}  # per resource: etcd's compaction point, as a hub found it
        self._reaper: asyncio.Task[None] | None = None

    async def watch(self, info: ResourceInfo, namespace: str, opts: ListOptions,
                    selected: Selected) -> AsyncGenerator[bytes, None] | None:
        """A watch of `info` served by its hub; None: watch etcd (the hub could not open)."""
        rv = opts.resource_version
        since = int(rv) if rv not in ("", "0") and not opts.send_initial_events else None
        try:
            hub = await self._hub(info, since)
        except StorageError as exc:
            log.info("no watch hub for %s: %s", info.group_resource, exc)
            return None
        return await hub.watch(namespace, opts, selected)

    async def _hub(self, info: ResourceInfo, since: int | None) -> WatchHub:
        """The resource's live hub, opened if there is none (once, however many ask at once),
        from revision `since` unless etcd has compacted it (a hub ended by that says so)."""
        key = f"{info.group_resource}/{info.api_version}"  # a CRD's versions decode and encode apart
        hub = self._hubs.get(key)
        if hub is not None and hub.alive:
            return hub
        if hub is not None and hub.compacted:
            self._floor[key] = max(self._floor.get(key, 0), hub.compacted)
        if since is not None and since < self._floor.get(key, 0):
            since = None  # compacted: the hub starts now, and this watch reads etcd (410)
        opening = self._opening.get(key)
        if opening is not None:
            return await asyncio.shield(opening)
        future: asyncio.Future[WatchHub] = asyncio.get_running_loop().create_future()
        self._opening[key] = future
        try:
            hub = WatchHub(self.reg, info)
            await hub.start(since)
            self._hubs[key] = hub
            future.set_result(hub)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: only the waiters raise it
            raise
        finally:
            del self._opening[key]
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().create_task(self._reap(), name="watch-hub-reaper")
        return hub

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(IDLE_SECONDS / 4)
            await self.close_idle()

    async def close_idle(self) -> None:
        """Close the hubs that have had no watcher for IDLE_SECONDS (and forget dead ones)."""
        now = self._clock()
        for key, hub in list(self._hubs.items()):
            if hub.changes.watchers:
                hub.idle_since = None
                continue
            if hub.idle_since is None:
                hub.idle_since = now
            if not hub.alive or now - hub.idle_since >= IDLE_SECONDS:
                del self._hubs[key]
                await hub.stop()

    def __len__(self) -> int:
        return sum(1 for hub in self._hubs.values() if hub.alive)

    async def stop(self) -> None:
        if self._reaper is not None:
            await cancel_and_wait(self._reaper)
        for hub in self._hubs.values():
            await hub.stop()
        self._hubs.clear()
