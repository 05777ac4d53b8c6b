"""The indexed object cache and handler fan-out shared by Informer and NatsInformer.

Pure in-memory bookkeeping: `ObjectCache` stores typed objects by key
("<namespace>/<name>" or "<name>") with secondary indexes; `HandlerSet` calls
registered add/update/delete handlers (sync or async) one after another and
logs, never propagates, a handler's exception, so one bad handler cannot stop
an informer.

Cached objects are shared with every handler and reader: treat them as
read-only (copy with `msgspec.structs.replace` / re-decode before changing).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kubelite.api.meta import Object
from kubelite.tasks import cancel_and_wait

log = logging.getLogger(__name__)

INDEX_NAMESPACE = "namespace"
INDEX_OWNER = "owner"  # metadata.ownerReferences[].uid
INDEX_NODE = "node"  # spec.nodeName (pods)

IndexFunc = Callable[[Any], list[str]]
AddHandler = Callable[[Any], Awaitable[None] | None]
UpdateHandler = Callable[[Any, Any], Awaitable[None] | None]
DeleteHandler = Callable[[Any], Awaitable[None] | None]


def key_of(obj: Object) -> str:
    """client-go's MetaNamespaceKeyFunc: "<namespace>/<name>", or "<name>" when cluster-scoped."""
    meta = obj.metadata
    return f"{meta.namespace}/{meta.name}" if meta.namespace else (meta.name or "")


def split_key(key: str) -> tuple[str, str]:
    """"ns/name" -> ("ns", "name"); "name" -> ("", "name")."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else ("", ns)


def resource_version(obj: Object) -> int:
    rv = obj.metadata.resourceVersion
    try:
        return int(rv) if rv else 0
    except ValueError:
        return 0


def namespace_index(obj: Object) -> list[str]:
    return [obj.metadata.namespace or ""]


def owner_index(obj: Object) -> list[str]:
    return [ref.uid for ref in obj.metadata.ownerReferences or () if ref.uid]


def node_index(obj: Object) -> list[str]:
    node = getattr(getattr(obj, "spec", None), "nodeName", None)
    return [node] if node else []


class ObjectCache:
    def __init__(self, *, node_indexed: bool = False, owner_indexed: bool = True) -> None:
        self._items: dict[str, Any] = {}
        self._index_funcs: dict[str, IndexFunc] = {INDEX_NAMESPACE: namespace_index}
        if owner_indexed:
            self._index_funcs[INDEX_OWNER] = owner_index
        if node_indexed:
            self._index_funcs[INDEX_NODE] = node_index
        self._indexes: dict[str, dict[str, set[str]]] = {n: {} for n in self._index_funcs}

    # -- reads -------------------------------------------------------------

    def get(self, namespace: str, name: str) -> Any | None:
        return self._items.get(f"{namespace}/{name}" if namespace else name)

    def get_by_key(self, key: str) -> Any | None:
        return self._items.get(key)

    def list(self, namespace: str | None = None) -> list[Any]:
        if namespace is None:
            return list(self._items.values())
        return self.by_index(INDEX_NAMESPACE, namespace)

    def keys(self) -> list[str]:
        return list(self._items)

    def items(self) -> list[tuple[str, Any]]:
        return list(self._items.items())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def by_index(self, index: str, value: str) -> list[Any]:
        try:
            keys = self._indexes[index].get(value, ())
        except KeyError:
            raise KeyError(f"no index named {index!r}") from None
        return [self._items[k] for k in sorted(keys)]

    # -- writes ------------------------------------------------------------

    def add_index(self, name: str, fn: IndexFunc) -> None:
        """Add an index and build it over what is cached already."""
        if name in self._index_funcs:
            raise ValueError(f"index {name!r} already exists")
        self._index_funcs[name] = fn
        self._indexes[name] = {}
        for key, obj in self._items.items():
            self._index_one(name, key, obj)

    def put(self, key: str, obj: Any) -> Any | None:
        """Store `obj`; returns the object it replaced, if any."""
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        for name in self._index_funcs:
            self._index_one(name, key, obj)
        return old

    def remove(self, key: str) -> Any | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def _index_one(self, name: str, key: str, obj: Any) -> None:
        try:
            values = self._index_funcs[name](obj)
        except Exception:  # an index function bug must not break the cache
            log.exception("index function %r failed on %s", name, key)
            return
        index = self._indexes[name]
        for value in values:
            index.setdefault(value, set()).add(key)

    def _unindex(self, key: str, obj: Any) -> None:
        for name, fn in self._index_funcs.items():
            try:
                values = fn(obj)
            except Exception:
                values = [v for v, keys in self._indexes[name].items() if key in keys]
            index = self._indexes[name]
            for value in values:
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]


@dataclass(frozen=True)
class Delta:
    """One change to report: type is "ADDED", "MODIFIED" or "DELETED"."""

    type: str
    obj: Any
    old: Any | None = None


def diff(cache: ObjectCache, fresh: dict[str, Any]) -> list[Delta]:
    """What turns `cache` into `fresh` (a full re-list), as deltas in key order.

    Objects whose resourceVersion did not change are left out. Deletions come
    first so a name deleted and re-created shows up as delete then add.
    """
    deltas: list[Delta] = []
    for key in sorted(set(cache.keys()) - fresh.keys()):
        deltas.append(Delta("DELETED", cache.get_by_key(key)))
    for key in sorted(fresh):
        new = fresh[key]
        old = cache.get_by_key(key)
        if old is None:
            deltas.append(Delta("ADDED", new))
        elif old.metadata.uid and new.metadata.uid and old.metadata.uid != new.metadata.uid:
            deltas.append(Delta("DELETED", old))
            deltas.append(Delta("ADDED", new))
        elif old.metadata.resourceVersion != new.metadata.resourceVersion:
            deltas.append(Delta("MODIFIED", new, old))
    return deltas


def apply(cache: ObjectCache, delta: Delta) -> None:
    key = key_of(delta.obj)
    if delta.type == "DELETED":
        cache.remove(key)
    else:
        cache.put(key, delta.obj)


@dataclass(frozen=True)
class _Handler:
    on_add: AddHandler | None
    on_update: UpdateHandler | None
    on_delete: DeleteHandler | None


class HandlerSet:
    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._handlers: list[_Handler] = []

    def add(
        self,
        on_add: AddHandler | None = None,
        on_update: UpdateHandler | None = None,
        on_delete: DeleteHandler | None = None,
    ) -> _Handler:
        handler = _Handler(on_add, on_update, on_delete)
        self._handlers.append(handler)
        return handler

    def __bool__(self) -> bool:
        return bool(self._handlers)

    async def dispatch(self, delta: Delta, only: Iterable[_Handler] | None = None) -> None:
        for h in self._handlers if only is None else only:
            if delta.type == "ADDED":
                await self._call(h.on_add, delta.obj)
            elif delta.type == "MODIFIED":
                await self._call(h.on_update, delta.old, delta.obj)
            else:
                await self._call(h.on_delete, delta.obj)

    async def _call(self, fn: Callable[..., Any] | None, *args: Any) -> None:
        if fn is None:
            return
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("%s: event handler %r failed", self._owner, fn)


class CachedInformer:
    """What Informer and NatsInformer share: the cache reads, handler registration,
    resync and the run/stop lifecycle. Subclasses implement `_run()`."""

    name = "informer"

    def __init__(self, *, node_indexed: bool, owner_indexed: bool = True) -> None:
        self._cache = ObjectCache(node_indexed=node_indexed, owner_indexed=owner_indexed)
        self._handlers = HandlerSet(self.name)
        self._synced = asyncio.Event()
        self._lock = asyncio.Lock()  # serialises cache changes and handler calls
        self._task: asyncio.Task[None] | None = None

    # -- cache reads -----------------------------------------------------------

    def get(self, namespace: str, name: str) -> Any | None:
        return self._cache.get(namespace, name)

    def get_by_key(self, key: str) -> Any | None:
        return self._cache.get_by_key(key)

    def list(self, namespace: str | None = None) -> list[Any]:
        return self._cache.list(namespace)

    def keys(self) -> list[str]:
        return self._cache.keys()

    def add_index(self, name: str, fn: IndexFunc) -> None:
        self._cache.add_index(name, fn)

    def by_index(self, name: str, value: str) -> list[Any]:
        return self._cache.by_index(name, value)

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait for the first complete list; raises TimeoutError after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            await self._synced.wait()

    # -- handlers ----------------------------------------------------------------

    def add_handler(
        self,
        on_add: AddHandler | None = None,
        on_update: UpdateHandler | None = None,
        on_delete: DeleteHandler | None = None,
    ) -> None:
        """Register handlers (sync or async callables), called in the order changes happen.

        Registered while the informer runs, a handler first gets on_add for every
        cached object (as client-go does) and only then later changes.
        """
        if self._task is None or self._task.done():
            self._handlers.add(on_add, on_update, on_delete)
            return

        async def join() -> None:
            async with self._lock:  # no change can slip between the replay and the join
                handler = self._handlers.add(on_add, on_update, on_delete)
                for obj in self._cache.list():
                    await self._handlers.dispatch(Delta("ADDED", obj), only=[handler])

        asyncio.get_running_loop().create_task(join())

    async def resync(self) -> None:
        """Call on_update(obj, obj) for every cached object now."""
        async with self._lock:
            for obj in self._cache.list():
                await self._handlers.dispatch(Delta("MODIFIED", obj, obj))

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Run in a background task (idempotent while running); returns the task."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)
        return self._task

    async def run(self) -> None:
        """Run until `stop()` (or cancellation)."""
        task = self.start()
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            await self.stop()
            raise
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]

    async def stop(self) -> None:
        task = self._task
        if task is not None and not task.done():
            await cancel_and_wait(task)

    async def _run(self) -> None:
        raise NotImplementedError
