"""Paged LISTs of pods from memory: the pod cache's state at one revision, kept for the pages
that follow the first (Kubernetes' KEP-4988, "snapshottable API server cache", beta in 1.34).

Why: kubectl pages every LIST (`limit=500`), so `kubectl get pods -A` at 150,000 pods is 300
requests; each one read etcd at the first page's revision and decoded, filtered and encoded
its 500 pods again, while the cache held them already encoded. The first page now takes a
snapshot — every pod's key and record at the cache's revision, in etcd's key order — and each
page after it is a slice of that snapshot: the same items, in the same order, with the same
continue token, as etcd would have given at that revision.

A snapshot is a list of references (about 16 bytes a pod), so it costs no copy of a pod; it
keeps the versions it holds alive while it lives. It lives SNAPSHOT_SECONDS after its last use
and at most MAX_SNAPSHOTS are kept: a continue token whose snapshot is gone (expired, another
apiserver, a restart) reads etcd at the token's revision, as before, so any page may come from
either and the answers agree. Kubernetes keeps a snapshot of every revision in its watch
cache's window (a B-tree clone is free in Go); kubelite takes one when a paged LIST starts.
"""

from __future__ import annotations

import bisect
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

SNAPSHOT_SECONDS = 75.0  # as the watch cache's window (watch_cache.go's eventFreshDuration)
MAX_SNAPSHOTS = 8  # paged LISTs at different revisions in progress at once


@dataclass
class Snapshot:
    """Every pod at `revision`: `keys` ("<namespace>/<name>", sorted as etcd sorts its keys)
    and `records` (the cache's record of each, same order)."""

    revision: int
    keys: list[str]
    records: list[Any]
    used: float = field(default=0.0)


@dataclass
class Page:
    records: list[Any]
    last_key: str  # the key of the last record examined: the next page starts after it
    more: bool  # whether keys remain in the range after it
    remaining: int | None  # how many keys remain after it, when nothing was filtered out


def key_range(keys: Sequence[str], namespace: str, start_after: str) -> tuple[int, int]:
    """The slice of `keys` a page of `namespace` ("" every one) reads from: after `start_after`
    (a cache key, "" from the first), up to the namespace's last key.

    Example: keys ["a/p1", "a/p2", "b/p1"], namespace "a", start_after "a/p1" -> (1, 2): only
    "a/p2" is left; namespace "" from the start -> (0, 3)."""
    prefix = f"{namespace}/" if namespace else ""
    lo = bisect.bisect_right(keys, start_after) if start_after else bisect.bisect_left(keys, prefix)
    lo = max(lo, bisect.bisect_left(keys, prefix))
    hi = bisect.bisect_left(keys, namespace + "0") if namespace else len(keys)  # "0" follows "/"
    return lo, hi


def page(snapshot: Snapshot, namespace: str, start_after: str, limit: int,
         keep: Callable[[Any], bool] | None) -> Page:
    """Up to `limit` records of `namespace` after `start_after` that `keep` accepts (None: all),
    as etcd's paged range does it: `last_key` is the last key examined, `more` whether any key
    is left after it, matching or not.

    `remaining` is how many keys are left after it when `keep` is None (remainingItemCount;
    with a filter the count of keys would overstate what is left to return, and Kubernetes
    leaves it unset, as here).

    Example: keys ["a/p1", "a/p2", "a/p3", "a/p4"], limit 2, keep drops "a/p2": the page is
    p1 and p3, last_key "a/p3", more (p4 is left), remaining None. Without a filter: p1 and
    p2, last "a/p2", remaining 2. With limit 3 and the filter: p1, p3, p4, no more."""
    lo, hi = key_range(snapshot.keys, namespace, start_after)
    records, last = [], lo - 1
    for i in range(lo, hi):
        last = i
        record = snapshot.records[i]
        if keep is None or keep(record):
            records.append(record)
            if len(records) >= limit:
                break
    more = last + 1 < hi
    return Page(records, snapshot.keys[last] if last >= lo else start_after, more,
                hi - last - 1 if more and keep is None else None)


class Snapshots:
    """The snapshots kept for the pages still to come, by revision (see the module doc)."""

    def __init__(self, *, keep_seconds: float = SNAPSHOT_SECONDS, most: int = MAX_SNAPSHOTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._by_revision: OrderedDict[int, Snapshot] = OrderedDict()  # least recently used first
        self._keep = keep_seconds
        self._most = most
        self._clock = clock

    def get(self, revision: int) -> Snapshot | None:
        """The snapshot at `revision`, if one is still kept (its use renews it)."""
        self._expire()
        snapshot = self._by_revision.get(revision)
        if snapshot is not None:
            snapshot.used = self._clock()
            self._by_revision.move_to_end(revision)
        return snapshot

    def take(self, revision: int, make: Callable[[], tuple[list[str], list[Any]]]) -> Snapshot:
        """The snapshot at `revision`: the one kept, or a new one from `make()` (keys in order,
        records), which must describe exactly that revision (no await between reading the
        revision and calling this)."""
        snapshot = self.get(revision)
        if snapshot is None:
            keys, records = make()
            snapshot = Snapshot(revision, keys, records, self._clock())
            self._by_revision[revision] = snapshot
            while len(self._by_revision) > self._most:
                self._by_revision.popitem(last=False)
        return snapshot

    def __len__(self) -> int:
        return len(self._by_revision)

    def _expire(self) -> None:
        now = self._clock()
        for revision in [r for r, s in self._by_revision.items() if now - s.used > self._keep]:
            del self._by_revision[revision]
