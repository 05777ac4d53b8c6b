"""The apiserver's watch cache: the recent changes of pods, and the HTTP watchers following them.

Why: each `?watch=true` used to open its own etcd watch and decode and encode every change
itself, so N watchers (kubectl -w, client-go informers, the dashboard) cost etcd N watch
streams and the apiserver N decodes per change. Kubernetes' cacher
(staging/src/k8s.io/apiserver/pkg/storage/cacher: watch_cache.go, cache_watcher.go) keeps a
resource's recent changes in a ring buffer fed by one etcd watch and serves every watcher
from memory; this is that buffer for pods, fed by the pod cache's informer (its `history`).
podcache.PodCache.watch decides which watches it serves. Every other resource's watch hub
(watchhub.py) keeps its changes in one too, fed by its own etcd watch.

Rules, as watch_cache.go's:
- The buffer holds the changes of the last WINDOW seconds (its eventFreshDuration, 75 s), at
  least MIN_CHANGES and at most MAX_CHANGES (its lower and upper capacity bounds). A revision's
  changes leave together, so "every change after `oldest`" is exactly what it holds.
- A watch from resourceVersion R is served from the buffer when the buffer holds every change
  after R. Kubernetes answers an older R with 410 Gone; kubelite reads etcd instead (the etcd
  watch still has that history unless it was compacted, watch.py), so the client loses nothing.
- A watcher more than WATCHER_BACKLOG changes behind is ended, as the cacher ends a watcher
  that does not keep up ("Forcing watcher close due to unresponsiveness"): its HTTP stream
  closes and the client watches again from the last resourceVersion it saw.
- A relist of the informer (its etcd watch was lost) ends every watcher and empties the
  buffer, as the cacher's Replace does: the changes in between are not known one by one.

Example: the buffer holds revisions 901–1400 (oldest = 900). A watch from 1200 gets the held
changes 1201–1400 at once, then each new one; a watch from 850 reads etcd; a watch from 1400
gets only new ones. If revision 1200 was one transaction that wrote two pods (a group commit),
the watch from 1200 gets both again first, as the etcd path does (the watcher may have been
cut off between them).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from kubelite import codec, errors
from kubelite.bus.changes import event_bytes
from kubelite.reconcile.cache import Delta
from kubelite.tasks import wait_event
from kubelite_apiserver.metrics import WATCH_CACHE_DISPATCHED, WATCH_CACHE_TERMINATED

WINDOW = 75.0  # seconds of changes kept (watch_cache.go's eventFreshDuration)
MIN_CHANGES = 100  # kept whatever their age (its lower capacity bound)
MAX_CHANGES = 100 * 1024  # kept at most (its upper capacity bound)
WATCHER_BACKLOG = 10_000  # changes a watcher may fall behind before it is ended
CHUNK_EVENTS = 100  # events sent in one write at most (a long replay or initial state is chunked)
BOOKMARK_SECONDS = 60.0  # an idle watcher's BOOKMARK interval (the cacher's bookmarkFrequency, a minute)


def _raw(obj: Any) -> bytes:
    """A cached record's JSON (podrecord.PodRecord.raw)."""
    raw: bytes = obj.raw()
    return raw


@dataclass(slots=True, eq=False)
class Change:
    """One change of the resource, as the informer applied it."""

    revision: int
    type: str  # ADDED | MODIFIED | DELETED
    obj: Any  # the new state (DELETED: the last one, at the delete's resourceVersion)
    old: Any | None  # the state a MODIFIED replaced
    at: float  # when it was recorded (monotonic seconds)
    encode: Callable[[Any], bytes] = _raw  # the object's JSON (WatchCache's `encode`)
    _lines: dict[str, bytes] | None = None  # made when a watcher first needs it (most changes: never)

    def line(self, event_type: str) -> bytes:
        """The WatchEvent of this change as `event_type`, encoded once for every watcher."""
        if self._lines is None:
            self._lines = {}
        line = self._lines.get(event_type)
        if line is None:
            line = self._lines[event_type] = event_bytes(event_type, self.encode(self.obj))
        return line


class Watcher:
    """The changes recorded for one HTTP watch since it subscribed, waiting to be sent."""

    def __init__(self, after: int, *, skip_lone: bool = False) -> None:
        self.after = after  # changes before this revision are not its business
        # the changes of revision `after` are still to come: drop them if there is only one (a
        # revision's changes come together: etcd sends them in one response, recorded at once)
        self.skip_lone = skip_lone
        self.final: bytes | None = None  # sent when ended (Watcher.end)
        self.pending: deque[Change] = deque()
        self.ended = False
        self._wake = asyncio.Event()

    def offer(self, change: Change) -> bool:
        """Queue `change`; False if the watcher is too far behind (then it is ended)."""
        if change.revision < self.after:
            return True
        self.pending.append(change)
        self._wake.set()
        if len(self.pending) > WATCHER_BACKLOG:
            self.end()
            return False
        return True

    def end(self, final: bytes | None = None) -> None:
        """Stop at once; what is pending is dropped (the client resumes from what it saw).
        `final`: a last event to send (an ERROR: why it cannot resume)."""
        self.ended = True
        self.final = final
        self.pending.clear()
        self._wake.set()

    async def changes(self, idle: float | None = None) -> AsyncIterator[list[Change] | None]:
        """The changes as they come, all that are waiting at once; None after `idle` seconds
        without one (None: never)."""
        while True:
            if self.pending:
                batch = list(self.pending)
                self.pending.clear()
                if self.skip_lone:
                    self.skip_lone = False  # this batch holds revision `after`'s changes, if any
                    at = [change for change in batch if change.revision == self.after]
                    if len(at) == 1:
                        batch.remove(at[0])
                yield batch
            if self.ended:
                return
            if not self.pending:
                self._wake.clear()
                if not await wait_event(self._wake, idle):
                    yield None


class WatchCache:
    """The buffer of recent changes and its watchers (an Informer's ChangeLog)."""

    def __init__(self, resource: str, *, clock: Callable[[], float] = time.monotonic,
                 encode: Callable[[Any], bytes] = _raw) -> None:
        """`encode`: an object's JSON, as a watch event carries it (default: its `raw()`)."""
        self.resource = resource  # for the metrics: "pods"
        self._clock = clock
        self._encode = encode
        self._changes: deque[Change] = deque()
        self._oldest: int | None = None  # every change after this revision is held; None: unusable
        self._watchers: set[Watcher] = set()

    @property
    def usable(self) -> bool:
        return self._oldest is not None

    # -- the informer's side (ChangeLog) -------------------------------------

    def changed(self, delta: Delta, revision: int) -> None:
        if self._oldest is None:
            return
        now = self._clock()
        change = Change(revision, delta.type, delta.obj, delta.old, now, self._encode)
        self._changes.append(change)
        self._trim(now)
        for watcher in list(self._watchers):
            if not watcher.offer(change):
                self._watchers.discard(watcher)
                WATCH_CACHE_TERMINATED.labels(self.resource).inc()
        if self._watchers:
            WATCH_CACHE_DISPATCHED.labels(self.resource).inc()

    def relisting(self) -> None:
        self.end_all()

    def end_all(self, final: Callable[[Watcher], bytes | None] | None = None) -> None:
        """Unusable from now on: every watcher ends, sent `final(watcher)` last if that is a line."""
        self._oldest = None
        self._changes.clear()
        for watcher in self._watchers:
            watcher.end(final(watcher) if final is not None else None)
        self._watchers.clear()

    def relisted(self, revision: int) -> None:
        self._oldest = revision

    def _trim(self, now: float) -> None:
        changes = self._changes
        while len(changes) > MIN_CHANGES and (len(changes) > MAX_CHANGES or now - changes[0].at > WINDOW):
            gone = changes.popleft().revision
            while changes and changes[0].revision == gone:  # a revision's changes leave together
                changes.popleft()
            self._oldest = gone

    # -- the watches' side -----------------------------------------------------

    def follow(self) -> Watcher | None:
        """A watcher of every change recorded from now on; None if the buffer is unusable."""
        if self._oldest is None:
            return None
        watcher = Watcher(0)
        self._watchers.add(watcher)
        return watcher

    def resume(self, after: int, *, shared_again: bool = True) -> tuple[list[Change], Watcher] | None:
        """The held changes after revision `after` (with those of `after` itself when it changed
        more than one object, unless not `shared_again`: after a LIST at `after`) and a watcher
        of the next ones; None when the buffer does not reach back to `after`."""
        if self._oldest is None or after < self._oldest:
            return None
        first = after if shared_again else after + 1
        replay: list[Change] = []
        for change in reversed(self._changes):
            if change.revision < first:
                break
            replay.append(change)
        replay.reverse()
        if shared_again and sum(1 for change in replay[:2] if change.revision == after) == 1:
            replay.pop(0)  # a lone change the watcher has seen already
        # nothing at or after `after` held yet: the watcher decides when its changes come
        watcher = Watcher(first, skip_lone=shared_again and not replay)
        self._watchers.add(watcher)
        return replay, watcher

    def leave(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    @property
    def watchers(self) -> int:
        return len(self._watchers)

    def __len__(self) -> int:
        return len(self._changes)


def shown_as(change: Change, namespace: str, matches: Callable[[Any], bool] | None) -> str | None:
    """What a watcher of `namespace` ("" all) with selectors (`matches`, None: none) sees of
    `change`, as watch.py's etcd path: nothing (None), or the event type. An object that
    starts matching arrives as ADDED, one that stops as DELETED (carrying its new state).

    Example: pod web-1 relabelled app=web -> app=old, watched with labelSelector app=web:
    DELETED; relabelled back: ADDED; watched without a selector: MODIFIED both times."""
    if namespace and change.obj.metadata.namespace != namespace:
        return None
    if matches is None:
        return change.type
    now = matches(change.obj)
    if change.type != "MODIFIED":
        return change.type if now else None
    was = change.old is not None and matches(change.old)
    if now:
        return "MODIFIED" if was else "ADDED"
    return "DELETED" if was else None


async def stream(cache: WatchCache, first: Iterable[bytes], replay: list[Change], watcher: Watcher,
                 namespace: str, matches: Callable[[Any], bool] | None,
                 bookmark: Callable[[], bytes] | None = None) -> AsyncGenerator[bytes, None]:
    """The encoded events of one watch: `first` (its initial state), the replayed changes, then
    the new ones until the watcher ends; leaves the cache when done. Each item is one or more
    events, newline-separated (watch.py): what waits at once goes out in one write, as a group
    commit of 50 pods or a long replay would otherwise cost 50 writes (and TLS records) to each
    watcher. With `bookmark` (allowWatchBookmarks), its BOOKMARK after every BOOKMARK_SECONDS
    without an event, so an idle watcher resumes from a recent resourceVersion (not one etcd
    may have compacted)."""
    try:
        for chunk in _chunks(first):
            yield chunk
        for chunk in _chunks(_lines(replay, namespace, matches)):
            yield chunk
        async for changes in watcher.changes(BOOKMARK_SECONDS if bookmark is not None else None):
            if changes is None:
                if bookmark is not None:
                    yield bookmark()
                continue
            for chunk in _chunks(_lines(changes, namespace, matches)):
                yield chunk
        if watcher.final is not None:
            yield watcher.final
    finally:
        cache.leave(watcher)


def _lines(changes: Iterable[Change], namespace: str, matches: Callable[[Any], bool] | None) -> Iterator[bytes]:
    for change in changes:
        event_type = shown_as(change, namespace, matches)
        if event_type is not None:
            yield change.line(event_type)


def _chunks(lines: Iterable[bytes]) -> Iterator[bytes]:
    """`lines` joined by newlines, CHUNK_EVENTS at most in each."""
    batch: list[bytes] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= CHUNK_EVENTS:
            yield b"\n".join(batch)
            batch = []
    if batch:
        yield b"\n".join(batch)


def bookmark(kind: str, api_version: str, revision: int, *, initial_events_end: bool = False) -> bytes:
    """A BOOKMARK event: an object of `kind` with only its resourceVersion, the revision every
    change up to which the watcher has had. Annotated k8s.io/initial-events-end, it ends a
    streaming list's initial state (sendInitialEvents=true), as client-go's WatchListClient
    waits for it."""
    metadata: dict[str, Any] = {"resourceVersion": str(revision)}
    if initial_events_end:
        metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
    return event_bytes("BOOKMARK", msgspec.json.encode({"kind": kind, "apiVersion": api_version,
                                                        "metadata": metadata}))


def expired(rv: int | str, compacted: int) -> bytes:
    """The ERROR event that ends a watch whose resourceVersion etcd has compacted: 410 Expired."""
    status = errors.expired(f"too old resource version: {rv} ({compacted})").to_status()
    return event_bytes("ERROR", codec.encode(status))


def initial_events(added: Iterable[bytes], kind: str, api_version: str, end_at: int | None) -> Iterator[bytes]:
    """A watch's initial state: the objects' ADDED events (`added`, made as they are sent), then
    with `end_at` the BOOKMARK that ends a streaming list (sendInitialEvents) at that revision."""
    yield from added
    if end_at is not None:
        yield bookmark(kind, api_version, end_at, initial_events_end=True)
