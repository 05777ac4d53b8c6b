"""The apiserver's cache of pods: one etcd watch, LISTs at `resourceVersion=0` from memory.

Why: every node agent's pod informer lists `pods?fieldSelector=spec.nodeName=<node>` when it
starts and at every resync (it is also fed by bus events, which may be lost). From etcd, each
such LIST reads and decodes every pod of the cluster to keep one node's: at 5,000 nodes and
150,000 pods, a minute's resyncs would decode 750 million pods. Kubernetes' answer is the
apiserver's watch cache (staging/src/k8s.io/apiserver/pkg/storage/cacher); this is that cache
for the one resource where it matters, indexed by node.

Semantics are Kubernetes': a LIST with `resourceVersion=0` ("any version is fine") is served
from the cache; so is a consistent LIST (`resourceVersion` unset), as Kubernetes 1.31+ serves
it (ConsistentListFromCache, KEP-2340): once the cache has caught up with etcd's current
revision, or from etcd when that takes over CONSISTENT_TIMEOUT (the fallback Kubernetes counts
in apiserver_watch_cache_consistent_read_total). A paged consistent LIST takes a snapshot of
the cache at its revision, and its `continue` pages (or an `Exact` LIST at that revision) are
served from that snapshot while it is kept, as Kubernetes 1.34 does (KEP-4988,
listsnapshots.py); without one they read etcd at the token's revision. Like Kubernetes' cacher,
`limit` is ignored at rv 0 (the whole list comes back, no continue token); a LIST of every
namespace comes back in key order, as etcd's does. Though rv 0 allows any version, the cache first catches up with etcd's
current revision (Informer.wait_fresh: a watch progress request, as Kubernetes' consistent
reads from cache do), so a component that subscribes to change events and then lists misses
nothing in between. If that takes over FRESH_TIMEOUT (an overloaded apiserver), the LIST is
served as the cache has it, as Kubernetes serves rv 0 (its resync heals a gap) — falling back
to etcd there turned overload into collapse: each node's relist became a scan of every pod.
Until the cache has synced, LISTs read etcd. The same copy starts pod updates
(Registry.read_for_update): a compare-and-swap on its revision saves reading the pod from etcd
first, and a stale copy costs one failed swap and a fresh read.

Example: node n7's agent relists at rv 0 with fieldSelector spec.nodeName=n7: the answer is the
30 pods of the node index for n7, encoded from memory, with the cache's revision — not a scan
of 150,000 pods.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from typing import Any

from kubelite.api.core_v1 import PODS, Pod
from kubelite.bus.changes import event_bytes
from kubelite.reconcile.cache import INDEX_NODE
from kubelite.reconcile.informer import Informer
from kubelite.storage import KV
from kubelite_apiserver.listsnapshots import Snapshot, Snapshots, page
from kubelite_apiserver.metrics import (
    CACHE_CONSISTENT_READS,
    CACHE_LISTS,
    CACHE_SNAPSHOT_PAGES,
    CACHE_STALE_LISTS,
    WATCHES,
)
from kubelite_apiserver.ownwrites import OwnWrites
from kubelite_apiserver.params import (
    ListOptions,
    decode_continue,
    encode_continue,
    exact_revision_asked,
)
from kubelite_apiserver.podrecord import PodRecord, WrittenPod, record_of, written_pod
from kubelite_apiserver.registry import ListResult, matches, selector
from kubelite_apiserver.watchcache import Change, WatchCache, bookmark, initial_events, stream

NODE_FIELD = "spec.nodeName"
_KEY_PREFIX = PODS.key_prefix(None)  # "/registry/pods/": continue tokens name etcd keys
FRESH_TIMEOUT = 0.5  # seconds a LIST at rv 0 waits for the cache to catch up (then it is served as it is)
CONSISTENT_TIMEOUT = 3.0  # seconds a consistent LIST waits for it (then it reads etcd), as Kubernetes' cacher


def served_from_cache(opts: ListOptions) -> bool:
    """Whether Kubernetes' cacher answers this LIST from memory (rv 0, not Exact, no continue)."""
    return (opts.resource_version == "0" and opts.resource_version_match in ("", "NotOlderThan")
            and not opts.continue_token)


def consistent_from_cache(opts: ListOptions) -> bool:
    """Whether this is a consistent LIST the cache serves once it has caught up: no
    resourceVersion, no continue (paged or not: Kubernetes 1.31+ serves unpaged ones, 1.34
    paged ones too)."""
    return not opts.resource_version and not opts.resource_version_match and not opts.continue_token


def exact_read(opts: ListOptions) -> tuple[int, str] | None:
    """The revision a LIST asks for exactly, which a kept snapshot may answer, and the cache key
    its page starts after: a `continue` token's, or `resourceVersion` with `Exact` (or with a
    limit and no match, the legacy exact form) from the first key; None otherwise.
    Example: limit=500&resourceVersion=900 -> (900, "")."""
    if opts.continue_token:
        token = decode_continue(opts.continue_token)
        return token.rv, token.start.removeprefix(_KEY_PREFIX)
    if exact_revision_asked(opts) and opts.resource_version.isdigit():
        return int(opts.resource_version), ""
    return None  # not exact, or not a number (etcd's path answers that with the proper error)


class PodCache:
    serves_watches = True  # watch.py asks it first (other resources: watchhub.py)

    def __init__(self, store: Any) -> None:
        # keeps a node index (spec.nodeName); each pod as a PodRecord: its JSON and the fields
        # selectors read, half the memory of the decoded pod (podrecord.py)
        self.changes = WatchCache("pods")  # the recent changes, for HTTP watches (watchcache.py)
        self.informer = Informer(store, PODS, transform=_record, owner_indexed=False, history=self.changes)
        self.own = OwnWrites()  # this apiserver's writes the watch has not brought yet (ownwrites.py)
        self.snapshots = Snapshots()  # the cache at the revisions of paged LISTs in progress

    def start(self) -> None:
        self.informer.start()

    async def stop(self) -> None:
        await self.informer.stop()

    def written(self, namespace: str, name: str, revision: int, pod: Any, encoded: bytes) -> None:
        """This apiserver wrote `pod` (None: deleted it) at `revision`, `encoded` its JSON
        (Registry.announce)."""
        self.own.note(namespace, name, revision, written_pod(pod, encoded) if pod is not None else None)

    def latest(self, namespace: str, name: str) -> PodRecord | WrittenPod | None:
        """The newest pod this apiserver knows: the cache's copy, or its own later write."""
        record: PodRecord | None = self.informer.get(namespace, name)
        own = self.own.newer_than(namespace, name, int(record.metadata.resourceVersion or 0) if record else 0)
        return own[1] if own is not None else record

    def current(self, key: str, namespace: str, name: str) -> KV | None:
        """The pod as the cache has it (or as this apiserver last wrote it, when that is newer),
        as etcd would return it (value without resourceVersion, the revision beside it), for the
        read of an update (Registry.read_for_update); None if the cache has not synced or does
        not have it (then etcd is read)."""
        if not self.informer.has_synced:
            return None
        record = self.latest(namespace, name)
        stored = record.stored() if record is not None else None
        if record is None or stored is None:
            return None
        return KV(key, stored, int(record.metadata.resourceVersion), 0)

    async def list(self, namespace: str, opts: ListOptions, label_sel: Any, field_sel: Any) -> ListResult | None:
        """The pods of `namespace` ("" all) the selectors match, encoded; None: read etcd."""
        if (exact := exact_read(opts)) is not None:
            return self._next_page(namespace, opts, *exact, label_sel, field_sel)
        consistent = consistent_from_cache(opts)
        if not (consistent or served_from_cache(opts)) or not self.informer.has_synced:
            return None
        fresh = await self.informer.wait_fresh(CONSISTENT_TIMEOUT if consistent else FRESH_TIMEOUT)
        if consistent:
            CACHE_CONSISTENT_READS.labels("pods", str(fresh).lower(), str(not fresh).lower()).inc()
            if not fresh:
                return None  # it must reflect etcd now: read etcd
        elif not fresh:
            CACHE_STALE_LISTS.inc()  # rv 0 allows it; etcd would be slower still (a scan per node)
        revision = self.informer.revision  # no await below: the items are exactly at this revision
        paged = consistent and opts.limit > 0  # rv 0 ignores the limit, as Kubernetes' cacher
        if paged and not _names_node(field_sel):
            return self._first_page(revision, namespace, opts.limit, label_sel, field_sel)
        node, records = self._matching(namespace, label_sel, field_sel)
        if paged:  # one node's pods, from its index: one page, or a snapshot's first when more
            if len(records) > opts.limit:
                return self._first_page(revision, namespace, opts.limit, label_sel, field_sel)
            records.sort(key=_key_of)  # in etcd's key order, as a page is (`kubectl describe node`)
        CACHE_LISTS.labels("/pods", NODE_FIELD if node else "").inc()
        return ListResult([record.raw() for record in records], revision, "")

    def _first_page(self, revision: int, namespace: str, limit: int, label_sel: Any, field_sel: Any) -> ListResult:
        """The first page of a paged LIST at `revision` (the cache's now), from a snapshot the
        pages after it will read."""
        snapshot = self.snapshots.take(revision, self._snapshot)
        CACHE_SNAPSHOT_PAGES.labels("first").inc()
        return self._page(snapshot, namespace, "", limit, label_sel, field_sel)

    def _next_page(self, namespace: str, opts: ListOptions, revision: int, start: str, label_sel: Any,
                   field_sel: Any) -> ListResult | None:
        """A LIST at exactly `revision` from its snapshot (a continue page: after the key
        `start`), or None: read etcd."""
        snapshot = self.snapshots.get(revision)
        if opts.continue_token:
            CACHE_SNAPSHOT_PAGES.labels("next" if snapshot is not None else "etcd").inc()
        if snapshot is None:
            return None
        return self._page(snapshot, namespace, start, opts.limit or len(snapshot.keys), label_sel, field_sel)

    @staticmethod
    def _page(snapshot: Snapshot, namespace: str, start: str, limit: int, label_sel: Any,
              field_sel: Any) -> ListResult:
        keep = (lambda record: matches(record, label_sel, field_sel)) if (label_sel or field_sel) else None
        got = page(snapshot, namespace, start, limit, keep)
        CACHE_LISTS.labels("/pods", "").inc()
        token = encode_continue(snapshot.revision, _KEY_PREFIX + got.last_key) if got.more else ""
        return ListResult([record.raw() for record in got.records], snapshot.revision, token, got.remaining)

    def _snapshot(self) -> tuple[list[str], list[PodRecord]]:
        """Every pod's key and record as the cache has them now, in etcd's key order."""
        keys = sorted(self.informer.keys())
        return keys, [self.informer.get_by_key(key) for key in keys]

    async def watch(self, namespace: str, opts: ListOptions, label_sel: Any, field_sel: Any,
                    ) -> AsyncGenerator[bytes, None] | None:
        """The events of a watch served from memory (watchcache.py), or None: read etcd (the
        cache has not synced or caught up, or no longer holds the changes after the requested
        resourceVersion). `opts.resource_version` is "", "0" or a valid integer here."""
        if not self.informer.has_synced or not self.changes.usable:
            return None
        rv = opts.resource_version
        first: Iterable[bytes] = ()
        replay: list[Change] = []
        if opts.send_initial_events or rv in ("", "0"):
            watcher = self.changes.follow() if await self._caught_up(rv) else None
            if watcher is None:
                return None
            # no await from the watcher to the snapshot: the watcher gets every change after it
            revision = self.informer.revision
            _, records = self._matching(namespace, label_sel, field_sel)
            first = initial_events((event_bytes("ADDED", record.raw()) for record in records), "Pod", "v1",
                                   revision if opts.send_initial_events else None)
        else:
            resumed = (self.changes.resume(int(rv))
                       if await self.informer.wait_revision(int(rv), CONSISTENT_TIMEOUT) else None)
            if resumed is None:
                return None
            replay, watcher = resumed
        WATCHES.labels("pods", "cache").inc()
        marks = self._bookmark if opts.allow_bookmarks else None
        return stream(self.changes, first, replay, watcher, namespace, selector(label_sel, field_sel), marks)

    def _bookmark(self) -> bytes:
        """An idle watcher's BOOKMARK: every change up to the cache's revision has been sent."""
        return bookmark("Pod", "v1", self.informer.revision)

    async def _caught_up(self, rv: str) -> bool:
        """Whether the cache may answer a watch's initial state at `rv`: "" (consistent) once it
        has caught up with etcd; "0" (any state) always, after a short wait to catch up, as a
        LIST at rv 0; a revision once it has reached it."""
        if rv == "":
            return await self.informer.wait_fresh(CONSISTENT_TIMEOUT)
        if rv == "0":
            await self.informer.wait_fresh(FRESH_TIMEOUT)
            return True
        return await self.informer.wait_revision(int(rv), CONSISTENT_TIMEOUT)

    def _matching(self, namespace: str, label_sel: Any, field_sel: Any) -> tuple[str | None, list[PodRecord]]:
        """The pods of `namespace` ("" all) the selectors match (through the node index when
        the field selector names a node, which it returns)."""
        node = field_sel.requires_exact_match(NODE_FIELD) if field_sel is not None else None
        candidates = (self.informer.by_index(INDEX_NODE, node) if node
                      else self.informer.list(namespace) if namespace else self._all_in_key_order())
        return node, [record for record in candidates if (not namespace or record.metadata.namespace == namespace)
                      and matches(record, label_sel, field_sel)]

    def _all_in_key_order(self) -> list[PodRecord]:
        """Every pod, ordered as etcd orders /registry/pods/<namespace>/<name>."""
        return self._snapshot()[1]


def _names_node(field_sel: Any) -> bool:
    """Whether a field selector names one node (the node index answers it)."""
    return field_sel is not None and bool(field_sel.requires_exact_match(NODE_FIELD))


def _key_of(record: PodRecord) -> str:
    return f"{record.metadata.namespace}/{record.metadata.name}"


def _record(pod: Pod, _previous: PodRecord | None) -> PodRecord:
    """The informer's transform: a record is made afresh from each version (it packs the JSON)."""
    return record_of(pod)
