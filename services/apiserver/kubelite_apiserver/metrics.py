"""The apiserver's Prometheus metrics, under kube-apiserver's names (k8s.io/apiserver/pkg/endpoints/metrics).

`observe(...)` is called once per finished request, HTTP or bus; watches and streams
(long-running) are counted while open instead of timed. `component` tells the two doors apart:
"apiserver" for HTTPS, "bus" for the NATS API (kubelite's own; Kubernetes has "aggregator" there).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from prometheus_client import Counter, Gauge, Histogram

from kubelite.telemetry.families import child_of
from kubelite_apiserver.requestinfo import RequestInfo

_LABELS = ["verb", "group", "version", "resource", "subresource", "scope", "component"]
REQUESTS = Counter("apiserver_request",
                   "Counter of apiserver requests broken out for each verb, group, version, resource, "
                   "subresource, scope, component, and HTTP response code.", [*_LABELS, "code"])
DURATION = Histogram("apiserver_request_duration_seconds",
                     "Response latency distribution in seconds for each verb, group, version, resource, "
                     "subresource, scope and component.", _LABELS,
                     buckets=(0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8,
                              10, 15, 20, 30, 45, 60))
LONGRUNNING = Gauge("apiserver_longrunning_requests",
                    "Gauge of all active long-running apiserver requests broken out by verb, group, version, "
                    "resource, scope and component.", _LABELS)
INFLIGHT = Gauge("apiserver_current_inflight_requests",
                 "Maximal number of currently used inflight request limit of this apiserver per request "
                 "kind in last second.", ["request_kind"])

CACHE_LISTS = Counter("apiserver_cache_list",
                      "Number of LIST requests served from watch cache", ["resource_prefix", "index"])
CACHE_STALE_LISTS = Counter("kubelite_apiserver_cache_list_stale",
                            "LISTs at resourceVersion 0 served before the pod cache caught up with etcd")
CACHE_SNAPSHOT_PAGES = Counter("kubelite_apiserver_cache_snapshot_pages",
                               "Pages of paged pod LISTs, by where they came from: a new snapshot of the "
                               "cache (first), a kept one (next), or etcd (next page whose snapshot is gone)",
                               ["served"])
CACHE_CONSISTENT_READS = Counter("apiserver_watch_cache_consistent_read",
                                 "Consistent LISTs (no resourceVersion) the watch cache was asked to serve, "
                                 "and whether it fell back to etcd (it had not caught up in time)",
                                 ["resource", "success", "fallback"])
WATCH_CACHE_DISPATCHED = Counter("apiserver_watch_cache_events_dispatched",
                                 "Counter of events dispatched in watch cache broken by resource type",
                                 ["resource"])
WATCH_CACHE_TERMINATED = Counter("apiserver_terminated_watchers",
                                 "Counter of watchers closed due to unresponsiveness broken by resource type",
                                 ["resource"])
WATCHES = Counter("kubelite_apiserver_watches",
                  "Watches started, by resource and what serves them: the watch cache, or etcd (a resource "
                  "without one, a resourceVersion older than the cache holds, or a cache not caught up)",
                  ["resource", "source"])

_VERBS = {"get": "GET", "list": "LIST", "watch": "WATCH", "create": "POST", "update": "PUT", "patch": "PATCH",
          "delete": "DELETE", "deletecollection": "DELETE"}
_LONG_RUNNING_SUBRESOURCES = frozenset({"exec", "attach", "portforward", "proxy", "log"})


def labels(info: RequestInfo | None, component: str, *, apply: bool = False) -> tuple[str, ...]:
    """The label values of one request, as Kubernetes names them ("APPLY" for server-side apply,
    "CONNECT" for a stream, scope resource/namespace/cluster)."""
    if info is None:
        return ("", "", "", "", "", "", component)
    if not info.is_resource:
        return (info.verb.upper(), "", "", "", "", "", component)
    verb = "APPLY" if apply else _VERBS.get(info.verb, info.verb.upper())
    if info.subresource in _LONG_RUNNING_SUBRESOURCES and info.subresource != "log":
        verb = "CONNECT"
    scope = "resource" if info.name else ("namespace" if info.namespace else "cluster")
    return (verb, info.group, info.version, info.resource, info.subresource, scope, component)


def is_long_running(info: RequestInfo | None) -> bool:
    return info is not None and info.is_resource and (
        info.verb == "watch" or info.subresource in _LONG_RUNNING_SUBRESOURCES)


_requests, _duration, _inflight = child_of(REQUESTS), child_of(DURATION), child_of(INFLIGHT)


def observe(values: tuple[str, ...], code: int, seconds: float, *, long_running: bool = False) -> None:
    _requests(*values, str(code)).inc()
    if not long_running:
        _duration(*values).observe(seconds)


@contextlib.contextmanager
def in_flight(method: str) -> Iterator[None]:
    """Counts an HTTP request as in flight while it is served (readOnly: GET and HEAD)."""
    gauge = _inflight("readOnly" if method in ("GET", "HEAD") else "mutating")
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


@contextlib.contextmanager
def long_running(values: tuple[str, ...]) -> Iterator[None]:
    """Counts a watch or stream while it is open."""
    gauge = LONGRUNNING.labels(*values)
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()
