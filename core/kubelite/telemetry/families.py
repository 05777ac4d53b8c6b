"""Metric families more than one process records, under Kubernetes' names where one exists.

Each process registers its own families in its service package (`kubelite_scheduler.metrics`,
...); the ones here are recorded by shared code: the work queue every controller uses (client-go's
`workqueue_*`), the etcd client (the apiserver's `etcd_request_duration_seconds`) and the bus
connection. Everything goes to prometheus_client's default registry: one process, one registry,
so its process_* and python_* collectors (CPU seconds, resident memory) come along for free.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

# client-go's workqueue metrics provider (k8s.io/component-base/metrics/prometheus/workqueue).
WORKQUEUE_DEPTH = Gauge("workqueue_depth", "Current depth of workqueue", ["name"])
WORKQUEUE_ADDS = Counter("workqueue_adds", "Total number of adds handled by workqueue", ["name"])
WORKQUEUE_RETRIES = Counter("workqueue_retries", "Total number of retries handled by workqueue", ["name"])
_QUEUE_BUCKETS = tuple(1e-8 * 10**i for i in range(10))  # client-go's ExponentialBuckets(10e-9, 10, 10)
WORKQUEUE_QUEUE_DURATION = Histogram("workqueue_queue_duration_seconds",
                                     "How long in seconds an item stays in workqueue before being requested.",
                                     ["name"], buckets=_QUEUE_BUCKETS)
WORKQUEUE_WORK_DURATION = Histogram("workqueue_work_duration_seconds",
                                    "How long in seconds processing an item from workqueue takes.",
                                    ["name"], buckets=_QUEUE_BUCKETS)

# The apiserver's etcd3 store metrics (k8s.io/apiserver/pkg/storage/etcd3/metrics).
ETCD_REQUEST_DURATION = Histogram(
    "etcd_request_duration_seconds", "Etcd request latency in seconds for each operation and object type.",
    ["operation", "type"],
    buckets=(0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60))
ETCD_REQUEST_ERRORS = Counter("etcd_request_errors", "Etcd failed request counts for each operation and object type.",
                              ["operation", "type"])

# No Kubernetes equivalent: the bus is kubelite's own.
BUS_RECONNECTS = Counter("kubelite_bus_reconnects", "Times this process's NATS connection was re-established.",
                         ["client"])
BUS_DISCONNECTS = Counter("kubelite_bus_disconnects", "Times this process's NATS connection was lost.", ["client"])


CHILDREN_KEPT = 4096  # label-value combinations remembered per family (their number is bounded by design)


def child_of(family: Counter | Gauge | Histogram) -> Callable[..., Any]:
    """`family.labels(*values)`, remembered per label values. prometheus_client's labels()
    checks and joins the values and takes a lock at every call (a few µs, which the apiserver
    paid three times per request); the child it returns is the same object each time, so
    keeping it changes nothing else. Only for families whose label values are few."""
    return functools.lru_cache(maxsize=CHILDREN_KEPT)(family.labels)


def etcd_object_type(key: str) -> str:
    """The `type` label of an etcd key: its resource ("/registry/pods/ns/p" -> "pods",
    "/registry/deployments.apps/ns/d" -> "deployments.apps"); keys elsewhere -> "other"."""
    parts = key.split("/")
    if len(parts) >= 3 and parts[1] == "registry" and parts[2]:
        return parts[2]
    return "other"
