"""NatsInformer: the Informer interface for node components, fed by NATS, never etcd.

It subscribes to a change subject (`kubelite.changes.services.>`, a node's
`kubelite.node.<n>.pods`, ...) whose payloads are WatchEvents
`{"type": ADDED|MODIFIED|DELETED, "object": {...}}`, and lists through the API
(NatsAPIClient) at start, after every NATS reconnect and every resync period.
NATS may lose, duplicate or reorder events (several apiserver replicas
publish), so:
- an event older than what the cache holds (by resourceVersion) is dropped;
  a deletion leaves a tombstone so a late ADDED/MODIFIED cannot resurrect it;
- a re-list is reported as the difference to the cache, keeping whatever the
  cache learnt from events newer than the list.
Objects are filtered locally by namespace and label/field selector (the
subject may carry more than we asked for); an object that stops matching is
reported as deleted.

Handlers run one at a time on the informer's task, as for Informer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

import msgspec

from kubelite import codec
from kubelite.api import fields as fieldsel
from kubelite.api import labels as labelsel
from kubelite.api.meta import WatchEvent
from kubelite.api.scheme import ResourceInfo
from kubelite.client.nats import NatsAPIClient
from kubelite.reconcile.cache import (
    CachedInformer,
    Delta,
    ObjectCache,
    apply,
    key_of,
    resource_version,
)

log = logging.getLogger(__name__)

_RELIST = "relist"
_RESYNC = "resync"
_RECONNECT_POLL = 1.0  # seconds between checks of the NATS client's reconnect counter
_BACKOFF_MIN = 0.2
_BACKOFF_MAX = 10.0

_event_decoder = msgspec.json.Decoder(WatchEvent)


def relist_deltas(
    cache: ObjectCache, fresh: dict[str, Any], list_rv: int | None, tombstones: dict[str, int]
) -> list[Delta]:
    """Pure: what a list taken at `list_rv` changes in a cache also fed by events.

    Cached objects newer than the list (from events that raced it) stay;
    objects the list lacks are deleted only if the cache's copy is not newer
    than the list; listed objects deleted by a later event (tombstone newer
    than them) stay deleted. `list_rv` None means "newer than everything".
    """
    deltas: list[Delta] = []
    for key in sorted(set(cache.keys()) - fresh.keys()):
        old = cache.get_by_key(key)
        if list_rv is None or resource_version(old) <= list_rv:
            deltas.append(Delta("DELETED", old))
    for key in sorted(fresh):
        new = fresh[key]
        old = cache.get_by_key(key)
        new_rv = resource_version(new)
        if old is None:
            if tombstones.get(key, 0) < new_rv:
                deltas.append(Delta("ADDED", new))
            continue
        old_rv = resource_version(old)
        if old_rv >= new_rv:
            continue
        if old.metadata.uid != new.metadata.uid:
            deltas += [Delta("DELETED", old), Delta("ADDED", new)]
        else:
            deltas.append(Delta("MODIFIED", new, old))
    return deltas


class NatsInformer(CachedInformer):
    def __init__(
        self,
        nc: Any,
        client: NatsAPIClient,
        info: ResourceInfo,
        *,
        subject: str,
        namespace: str = "",
        field_selector: str = "",
        label_selector: str = "",
        resync_seconds: float = 60,
        watch_reconnects: bool = True,
    ) -> None:
        """`watch_reconnects=False`: the owner calls `request_relist()` from its own
        reconnect hook instead (a process with hundreds of informers, e.g. fake nodes,
        should not poll the NATS client once a second for each)."""
        self.nc = nc
        self.watch_reconnects = watch_reconnects
        self.client = client
        self.info = info
        self.subject = subject
        self.namespace = namespace
        self.field_selector = field_selector
        self.label_selector = label_selector
        self.resync_seconds = resync_seconds
        self.name = f"nats-informer[{info.group_resource} on {subject}]"
        # parse now: a bad selector is the caller's bug and should fail at construction
        self._labels = labelsel.parse_selector(label_selector) if label_selector else None
        self._fields = (
            fieldsel.convert_for_kind(fieldsel.parse_field_selector(field_selector), info.kind)
            if field_selector
            else None
        )
        super().__init__(node_indexed=info.kind == "Pod" and info.group == "")
        self._decoder = codec.decoder_for(info.type)
        self._tombstones: dict[str, int] = {}  # key -> resourceVersion of its deletion
        self._inbox: asyncio.Queue[bytes | str] = asyncio.Queue()
        self._relist_pending = False
        self._relist_failures = 0
        self.relists = 0  # successful lists so far
        self.dropped_stale = 0  # events ignored because the cache already had newer

    def request_relist(self) -> None:
        """List again soon (wire this to connect_nats(on_reconnect=...) if you like;
        the informer also notices reconnects by itself within a second)."""
        if not self._relist_pending:
            self._relist_pending = True
            self._inbox.put_nowait(_RELIST)

    async def _run(self) -> None:
        sub = await self.nc.subscribe(self.subject, cb=self._on_message)
        loop = asyncio.get_running_loop()
        helpers = [loop.create_task(self._resync_timer())]
        if self.watch_reconnects:
            helpers.append(loop.create_task(self._watch_reconnects()))
        self.request_relist()
        try:
            await self._process()
        finally:
            for t in helpers:
                t.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _on_message(self, msg: Any) -> None:
        self._inbox.put_nowait(msg.data)

    async def _watch_reconnects(self) -> None:
        seen = self.nc.stats.get("reconnects", 0)
        while True:
            await asyncio.sleep(_RECONNECT_POLL)
            now = self.nc.stats.get("reconnects", 0)
            if now != seen:
                seen = now
                log.info("%s: NATS reconnected; re-listing", self.name)
                self.request_relist()

    async def _resync_timer(self) -> None:
        if self.resync_seconds <= 0:
            return
        while True:
            await asyncio.sleep(self.resync_seconds)
            self._inbox.put_nowait(_RESYNC)

    async def _process(self) -> None:
        while True:
            item = await self._inbox.get()
            try:
                if item == _RELIST:
                    self._relist_pending = False
                    await self._relist_or_retry()
                elif item == _RESYNC:
                    if await self._relist_or_retry():
                        await self.resync()
                else:
                    assert isinstance(item, bytes)
                    await self._on_event(item)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: failed to process %r", self.name, item[:200])

    async def _relist_or_retry(self) -> bool:
        try:
            await self._relist()
        except Exception as exc:
            delay = min(_BACKOFF_MIN * 2 ** min(self._relist_failures, 16), _BACKOFF_MAX)
            delay *= random.uniform(0.8, 1.2)
            self._relist_failures += 1
            log.warning("%s: list failed (%s); retrying in %.1fs", self.name, exc, delay)
            asyncio.get_running_loop().call_later(delay, self.request_relist)
            return False
        self._relist_failures = 0
        return True

    async def _relist(self) -> None:
        items, rv = await self.client.list(
            self.info,
            self.namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            resource_version="0",  # any version: relist_deltas keeps what events brought newer
        )
        list_rv = int(rv) if rv and rv.isdigit() else None
        fresh = {key_of(o): o for o in items if self._wanted(o)}
        async with self._lock:
            for delta in relist_deltas(self._cache, fresh, list_rv, self._tombstones):
                apply(self._cache, delta)
                await self._handlers.dispatch(delta)
            if list_rv is None:
                self._tombstones.clear()
            else:  # the list covers every deletion up to list_rv
                self._tombstones = {k: v for k, v in self._tombstones.items() if v > list_rv}
            self.relists += 1
        self._synced.set()

    def _wanted(self, obj: Any) -> bool:
        if self.namespace and obj.metadata.namespace != self.namespace:
            return False
        if self._labels is not None and not self._labels.matches(obj.metadata.labels or {}):
            return False
        return self._fields is None or self._fields.matches_object(obj, self.info.kind)

    async def _on_event(self, data: bytes) -> None:
        try:
            event = _event_decoder.decode(data)
            obj = self._decoder.decode(event.object)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("%s: undecodable event dropped: %s", self.name, exc)
            return
        if event.type not in ("ADDED", "MODIFIED", "DELETED"):
            return  # BOOKMARK/ERROR carry no object change
        key = key_of(obj)
        rv = resource_version(obj)
        async with self._lock:
            old = self._cache.get_by_key(key)
            if old is not None:
                old_rv = resource_version(old)
                stale = rv < old_rv if event.type == "DELETED" else rv <= old_rv
            else:
                stale = rv <= self._tombstones.get(key, 0)
            if stale:
                self.dropped_stale += 1
                return
            if event.type == "DELETED" or not self._wanted(obj):
                # gone, or no longer selected (reported as deleted, with its new state,
                # as a Kubernetes watch with a selector does)
                if event.type == "DELETED" or old is not None:
                    self._tombstones[key] = rv  # cleared by the next list
                if old is not None:
                    self._cache.remove(key)
                    await self._handlers.dispatch(Delta("DELETED", obj))
                return
            for delta in _upsert(old, obj):
                apply(self._cache, delta)
                await self._handlers.dispatch(delta)


def _upsert(old: Any | None, new: Any) -> list[Delta]:
    if old is None:
        return [Delta("ADDED", new)]
    if old.metadata.uid and new.metadata.uid and old.metadata.uid != new.metadata.uid:
        return [Delta("DELETED", old), Delta("ADDED", new)]
    return [Delta("MODIFIED", new, old)]
