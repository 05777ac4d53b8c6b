"""Watch: list-then-watch semantics over etcd, as Kubernetes serves `?watch=true`.

resourceVersion unset or "0": first an ADDED event per existing object, then
every later change. resourceVersion R: every change after R, in order, and R's own
changes again when R wrote more than one object of the watch (a group commit: the
watcher may have been cut off between them; docs/architecture.md). A
compacted R: one ERROR event carrying a 410 Expired Status. sendInitialEvents=true
(streaming lists): the current state, then a BOOKMARK marking the end of it. With selectors, an
object that starts matching arrives as ADDED and one that stops as DELETED.

Pods are served by their watch cache (podcache.py, watchcache.py), every other resource by its
watch hub (watchhub.py: one etcd watch per resource) when they can; this is the etcd path
otherwise (a resourceVersion older than they hold, or one they cannot catch up with in time).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

from kubelite import codec, errors
from kubelite.api.scheme import ResourceInfo
from kubelite.bus.changes import event_bytes as watch_event_bytes
from kubelite.storage import Compacted, StoreEvent
from kubelite_apiserver.metrics import WATCHES
from kubelite_apiserver.params import ListOptions
from kubelite_apiserver.registry import Registry, compile_selectors, matches, selector
from kubelite_apiserver.watchcache import expired
from kubelite_apiserver.watchhub import listed_events


def watch_events(reg: Registry, info: ResourceInfo, namespace: str, opts: ListOptions) -> AsyncGenerator[bytes, None]:
    """The encoded WatchEvents of a watch, until it ends: each item one event, or several
    separated by newlines (the watch cache sends what waits at once together); no item ends
    with a newline. JSON has no raw newline inside, so splitting an item on b"\\n" gives the events.
    Bad selectors or options raise here, at the call: a 400/422 before the stream starts."""
    label_sel, field_sel = compile_selectors(info, opts)
    _check_options(opts)
    return _events(reg, info, namespace, opts, label_sel, field_sel)


async def _events(reg: Registry, info: ResourceInfo, namespace: str, opts: ListOptions,
                  label_sel: Any, field_sel: Any) -> AsyncGenerator[bytes, None]:
    prefix = info.key_prefix(namespace)
    rv = opts.resource_version
    selected = selector(label_sel, field_sel)
    cache = reg.caches.get(info.group_resource)
    if cache is not None and getattr(cache, "serves_watches", False):  # pods: podcache.py
        cached = await cache.watch(namespace, opts, label_sel, field_sel)
    else:  # one etcd watch per resource (watchhub.py)
        cached = await reg.hubs.watch(info, namespace, opts, selected)
    if cached is not None:  # served from memory (watchcache.py)
        async with aclosing(cached):  # closed with this one: it leaves the cache at once
            async for line in cached:
                yield line
        return
    WATCHES.labels(info.group_resource, "etcd").inc()
    if opts.send_initial_events or rv in ("", "0"):
        # the current state as ADDED events (streaming lists, client-go's WatchListClient: then
        # a BOOKMARK annotated k8s.io/initial-events-end), then the changes after it
        first, revision = await listed_events(reg, info, namespace, selected, opts.send_initial_events)
        for line in first:
            yield line
        changes = reg.store.watch(prefix, start_revision=revision + 1)
    else:
        changes = _resumed(reg, prefix, int(rv))
    try:
        async for ev in changes:
            out = _translate(reg, info, ev, label_sel, field_sel)
            if out is not None:
                yield out
    except Compacted as exc:
        yield expired(rv, exc.compacted)


def _check_options(opts: ListOptions) -> None:
    """Raise the 400/422 a watch's options earn (watch_events, before its stream starts: the
    client gets a Status, not a 200 that ends at once)."""
    if opts.send_initial_events and opts.resource_version_match not in ("", "NotOlderThan"):
        raise errors.invalid_object("ListOptions", "", [errors.not_supported(
            "resourceVersionMatch", opts.resource_version_match, ["NotOlderThan"])], "meta.k8s.io")
    rv = opts.resource_version
    if rv not in ("", "0") and not (rv.isascii() and rv.isdigit()):
        raise errors.bad_request(f'invalid resource version "{rv}"')


async def _resumed(reg: Registry, prefix: str, rv: int) -> AsyncIterator[StoreEvent]:
    """The changes after revision `rv`, and those of `rv` again if it was a group commit of
    more than one object here (EtcdStore.watch's shared_first). If `rv` itself is compacted
    away but nothing after it is, the changes after it, as a watch from rv + 1 always got."""
    try:
        async for ev in reg.store.watch(prefix, start_revision=rv, shared_first=True):
            yield ev
        return
    except Compacted as exc:
        if exc.compacted > rv + 1:
            raise
    async for ev in reg.store.watch(prefix, start_revision=rv + 1):
        yield ev


def _translate(reg: Registry, info: ResourceInfo, ev: StoreEvent, label_sel: Any, field_sel: Any) -> bytes | None:
    selective = label_sel is not None or field_sel is not None
    if ev.type == "DELETE":
        obj = reg.decode(info, ev.kv)  # a DELETE's kv: the last value, the delete's revision
        if selective and not matches(obj, label_sel, field_sel):
            return None
        return watch_event_bytes("DELETED", codec.encode(obj))
    obj = reg.decode(info, ev.kv)
    now_match = not selective or matches(obj, label_sel, field_sel)
    if ev.is_create:
        return watch_event_bytes("ADDED", codec.encode(obj)) if now_match else None
    if not selective:
        return watch_event_bytes("MODIFIED", codec.encode(obj))
    was_match = False
    if ev.prev is not None:
        old = codec.decoder_for(info.type).decode(ev.prev.value)
        was_match = matches(old, label_sel, field_sel)
    if now_match and was_match:
        return watch_event_bytes("MODIFIED", codec.encode(obj))
    if now_match:
        return watch_event_bytes("ADDED", codec.encode(obj))
    if was_match:
        return watch_event_bytes("DELETED", codec.encode(obj))
    return None
