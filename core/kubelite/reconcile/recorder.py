"""EventRecorder: core/v1 Events about objects, aggregated as Kubernetes does.

`recorder.event(obj, "Normal"|"Warning", reason, message)` never blocks and
never raises: it queues the event and background tasks write it through the
apiserver (over NATS; up to WRITERS at once, never two repeats of one event).
Like client-go's legacy recorder (EventCorrelator):
- a new Event is named `<object name>.<unix nanoseconds in hex>` and lives in
  the object's namespace ("default" for cluster-scoped objects);
- a repeat of the same (involved object, type, reason, message, source) within
  10 minutes patches the existing Event's `count` and `lastTimestamp` instead
  of creating another; an Event that has disappeared meanwhile is created anew;
- the aggregation cache is an LRU of bounded size;
- failures are logged and the event dropped: recording must never break the
  component that records;
- an event yields to the component's own API requests (see `_yield_to_work`): events
  are best effort, the writes they describe are not.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubelite.api.core_v1 import Event, EventSource, ObjectReference
from kubelite.api.meta import Object, ObjectMeta
from kubelite.api.scheme import all_resources
from kubelite.errors import APIError
from kubelite.tasks import cancel_and_wait

log = logging.getLogger(__name__)

EVENT_TYPES = ("Normal", "Warning")
AGGREGATE_WINDOW = 600.0  # seconds: Kubernetes' 10-minute window
DROP_LOG_SECONDS = 10.0  # at most one "event queue full" warning per this many seconds
MAX_CACHE_ENTRIES = 4096  # client-go's maxLruCacheEntries
MAX_PENDING = 1000  # queued events beyond this are dropped (and logged)
CLOSE_TIMEOUT = 2.0  # seconds close() spends writing what is still queued
DEFER_SECONDS = 1.0  # the longest an event waits for the component's own requests to finish
# Events written at once (never two of one aggregation key). One at a time, each Event was its
# own etcd commit and fsync: ~1.8 CPU-ms across the cluster, and a scheduler's 50 Scheduled
# events cost a 50-pod burst ~90 CPU-ms while its pods started (docs/benchmarks.md). In flight
# together, etcd commits them in shared writes, as it does any concurrent requests.
WRITERS = 4
_MERGE_PATCH = "application/merge-patch+json"


def k8s_time(ts: float) -> str:
    """metav1.Time: RFC 3339, second precision, UTC."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_reference(obj: Object | ObjectReference) -> ObjectReference:
    """The involvedObject for `obj` (kind/apiVersion from the scheme if the object lacks them)."""
    if isinstance(obj, ObjectReference):
        return obj
    api_version, kind = obj.apiVersion, obj.kind
    if not (api_version and kind):
        for info in all_resources():
            if info.type is type(obj):
                api_version, kind = info.api_version, info.kind
                break
    meta = obj.metadata
    return ObjectReference(
        kind=kind, apiVersion=api_version, namespace=meta.namespace, name=meta.name,
        uid=meta.uid, resourceVersion=meta.resourceVersion,
    )


def aggregation_key(ref: ObjectReference, type_: str, reason: str, message: str,
                    component: str, host: str) -> tuple[str, ...]:
    """What makes two events "the same" (client-go's getEventKey, without fieldPath)."""
    return (component, host, ref.kind or "", ref.namespace or "", ref.name or "", ref.uid or "",
            ref.apiVersion or "", type_, reason, message)


def event_name(object_name: str, ts: float) -> str:
    """client-go: fmt.Sprintf("%v.%x", ref.Name, t.UnixNano())."""
    return f"{object_name}.{int(ts * 1e9):x}"


@dataclass
class _Seen:
    namespace: str
    name: str  # the Event object's name
    count: int
    last_seen: float  # clock() time


@dataclass(frozen=True)
class _Pending:
    ref: ObjectReference
    type: str
    reason: str
    message: str
    wall: float  # time.time() when recorded
    queued: float  # clock() when recorded


class EventRecorder:
    def __init__(
        self,
        client: Any,  # NatsAPIClient
        component: str,
        host: str = "",
        *,
        max_entries: int = MAX_CACHE_ENTRIES,
        window: float = AGGREGATE_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        defer: float = DEFER_SECONDS,
    ) -> None:
        """`defer`: how long an event may wait while `client` has requests in flight (0: never)."""
        self.client = client
        self.defer = defer
        self._closing = False
        self._yielding: set[asyncio.Future[Any]] = set()  # the waits of _yield_to_work
        self.component = component
        self.host = host
        self.max_entries = max_entries
        self.window = window
        self._clock = clock
        self._seen: OrderedDict[tuple[str, ...], _Seen] = OrderedDict()
        self._queue: asyncio.Queue[_Pending] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._keys_in_flight: dict[tuple[str, ...], asyncio.Future[None]] = {}
        self.dropped = 0  # events that could not be written
        self._writing = 0  # events the writers hold
        self._drops_logged_at: float | None = None  # see _report_drop
        self._drops_at_log = 0

    def _report_drop(self, reason: str, message: str) -> None:
        """One warning for the first drop of a burst, then one count per DROP_LOG_SECONDS: at
        5,000 nodes a burst drops thousands of events a minute, and a line each cost CPU and
        buried the rest of the log. Example: 3,000 drops in 25 s log 3 lines, not 3,000."""
        now = self._clock()
        if self._drops_logged_at is None or now - self._drops_logged_at >= DROP_LOG_SECONDS:
            since = self.dropped - self._drops_at_log
            log.warning("%s: event queue full; dropped %s %s%s", self.component, reason, message,
                        f" (and {since - 1} more since the last report)" if since > 1 else "")
            self._drops_logged_at, self._drops_at_log = now, self.dropped

    def event(self, obj: Object | ObjectReference, type: str, reason: str, message: str) -> None:
        """Record an event about `obj`. Returns at once; never raises."""
        try:
            if type not in EVENT_TYPES:
                raise ValueError(f"unsupported event type {type!r} (want Normal or Warning)")
            pending = _Pending(object_reference(obj), type, reason, message, time.time(), self._clock())
            queue = self._ensure_worker()
            queue.put_nowait(pending)
        except asyncio.QueueFull:
            self.dropped += 1
            self._report_drop(reason, message)
        except Exception:
            self.dropped += 1
            log.exception("%s: could not record event %s %r", self.component, reason, message)

    async def flush(self) -> None:
        """Wait until every event recorded so far has been written (or dropped)."""
        if self._queue is not None:
            await self._queue.join()

    async def close(self, timeout: float = CLOSE_TIMEOUT) -> None:  # noqa: ASYNC109
        """Write what is queued, for at most `timeout` seconds, then stop: a component shutting
        down while the bus is gone (a whole cluster stopping) must not wait on its events."""
        self._closing = True  # what is queued goes out now, without yielding
        for wait in list(self._yielding):
            wait.cancel()
        try:
            async with asyncio.timeout(timeout):
                await self.flush()
        except TimeoutError:
            left = (self._queue.qsize() if self._queue is not None else 0) + self._writing
            self.dropped += left
            log.warning("%s: stopping with %d event(s) unwritten", self.component, left)
        await cancel_and_wait(*self._workers)
        self._workers = []

    def cached(self) -> int:
        return len(self._seen)

    def _ensure_worker(self) -> asyncio.Queue[_Pending]:
        if self._queue is None:
            self._queue = asyncio.Queue(MAX_PENDING)
        self._workers = [w for w in self._workers if not w.done()]
        while len(self._workers) < WRITERS:
            self._workers.append(asyncio.get_running_loop().create_task(
                self._run(), name=f"event-recorder-{self.component}-{len(self._workers)}"))
        return self._queue

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            pending = await self._queue.get()
            self._writing += 1
            try:
                await self._yield_to_work(pending)
                await self._write_alone(pending)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.dropped += 1
                log.warning("%s: dropped event %s on %s/%s: %s", self.component, pending.reason,
                            pending.ref.namespace, pending.ref.name, exc)
            finally:
                self._writing -= 1
                self._queue.task_done()

    async def _yield_to_work(self, p: _Pending) -> None:
        """Wait while the client has requests of the component in flight, until the event is
        `defer` seconds old at most. Example: a node agent starting a burst of 50 pods has
        50 status updates, 50 token requests and 150 events (Pulled, Created, Started) to
        send; written in the order they arise, every event write delays the statuses behind
        it on the apiserver and etcd, which also serve everything else. Yielding, the events
        follow the statuses: each at most 1 s late, none dropped, and pods are Ready sooner.
        Under constant load the event rate is unchanged, only its delay is (≤ `defer`)."""
        wait_idle = getattr(self.client, "wait_idle", None)
        left = p.queued + self.defer - self._clock()
        if wait_idle is None or left <= 0 or self._closing:
            return
        wait = asyncio.ensure_future(wait_idle(left))
        self._yielding.add(wait)
        try:
            await wait
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the worker itself is being stopped
            # else close() cut the wait short: write now
        finally:
            self._yielding.discard(wait)

    async def _write_alone(self, p: _Pending) -> None:
        """_write, after any write of the same aggregation key: the second of two repeats must
        find the first's Event (and patch its count), not create another."""
        key = aggregation_key(p.ref, p.type, p.reason, p.message, self.component, self.host)
        while (earlier := self._keys_in_flight.get(key)) is not None:
            await earlier
        done = asyncio.get_running_loop().create_future()
        self._keys_in_flight[key] = done
        try:
            await self._write(p, key)
        finally:
            del self._keys_in_flight[key]
            done.set_result(None)

    async def _write(self, p: _Pending, key: tuple[str, ...]) -> None:
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen.last_seen <= self.window:
            try:
                await self.client.patch(
                    "events", seen.namespace, seen.name,
                    {"count": seen.count + 1, "lastTimestamp": k8s_time(p.wall)},
                    patch_type=_MERGE_PATCH,
                )
            except APIError as exc:
                if exc.code != 404:
                    raise
                # the Event expired or was deleted: start a new one below
            else:
                seen.count += 1
                seen.last_seen = now
                self._seen.move_to_end(key)
                return
        namespace = p.ref.namespace or "default"
        name = event_name(p.ref.name or "unknown", p.wall)
        stamp = k8s_time(p.wall)
        ev = Event(
            apiVersion="v1", kind="Event",
            metadata=ObjectMeta(name=name, namespace=namespace),
            involvedObject=p.ref, reason=p.reason, message=p.message, type=p.type,
            source=EventSource(component=self.component, host=self.host or None),
            firstTimestamp=stamp, lastTimestamp=stamp, count=1,
            reportingComponent=self.component, reportingInstance=self.host or None,
        )
        await self.client.create(ev, namespace=namespace)
        self._seen[key] = _Seen(namespace, name, 1, now)
        self._seen.move_to_end(key)
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
