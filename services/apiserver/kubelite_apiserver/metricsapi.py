"""metrics.k8s.io/v1beta1 from memory: what metrics-server does, fed by the bus.

Every apiserver subscribes to `kubelite.node.*.metrics` (kubelite.bus.metrics) and keeps each
node's latest report; a node whose report is older than `stale_after` drops out. GET and LIST
of `nodes` and `pods` (all namespaces, one namespace, one pod; label selectors against the
Node and Pod objects) answer NodeMetrics / PodMetrics with usage in metrics-server's units:
CPU in nanocores (`123456n`), memory in KiB (`2048Ki`). Only pods that still exist, and only
from the node they are bound to, are listed; a report is taken only from its own node's subject.

Example: node n1 reported pod web/a with container c at 250,000,000 nanocores and 64 MiB; GET
/apis/metrics.k8s.io/v1beta1/namespaces/web/pods/a answers containers [{name: c, usage:
{cpu: 250000000n, memory: 65536Ki}}], which `kubectl top pod` prints as 250m and 64Mi.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import msgspec

from kubelite import codec, errors
from kubelite.api.core_v1 import NODES, PODS, Node, Pod
from kubelite.api.labels import parse_selector
from kubelite.bus import metrics as wire
from kubelite.timefmt import rfc3339
from kubelite_apiserver.params import ListOptions

log = logging.getLogger("kubelite.apiserver.metrics")

API_VERSION = "metrics.k8s.io/v1beta1"


class MetricsStore:
    """The latest report of each node, with when it arrived."""

    def __init__(self, *, stale_after: float = 120.0) -> None:
        self.stale_after = stale_after
        self.reports: dict[str, tuple[float, wire.NodeReport]] = {}
        self._sub: Any = None

    def add(self, report: wire.NodeReport, now: float | None = None) -> None:
        self.reports[report.node] = (time.monotonic() if now is None else now, report)

    def fresh(self, now: float | None = None) -> list[wire.NodeReport]:
        now = time.monotonic() if now is None else now
        return [r for at, r in self.reports.values() if now - at <= self.stale_after]

    async def subscribe(self, nc: Any) -> None:
        async def on_report(msg: Any) -> None:
            try:
                report = wire.decoder.decode(msg.data)
            except msgspec.MsgspecError as exc:
                log.warning("unreadable metrics report on %s: %s", msg.subject, exc)
                return
            # the subject is what NATS permissions vouch for: a node speaks only for itself
            if msg.subject != wire.subject(report.node):
                log.warning("metrics report for node %s on %s ignored", report.node, msg.subject)
                return
            self.add(report)

        self._sub = await nc.subscribe(wire.ALL_NODES, cb=on_report)

    async def close(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()


def _usage(cpu_nanocores: int, memory_bytes: int) -> dict[str, str]:
    return {"cpu": f"{cpu_nanocores}n", "memory": f"{memory_bytes // 1024}Ki"}


def _window(report: wire.NodeReport) -> str:
    return f"{report.window_seconds:g}s"


def node_metrics(report: wire.NodeReport, labels: dict[str, str] | None) -> dict[str, Any]:
    return {"metadata": {"name": report.node, "creationTimestamp": rfc3339(), "labels": labels or {}},
            "timestamp": report.timestamp, "window": _window(report),
            "usage": _usage(report.cpu_nanocores, report.memory_bytes)}


def pod_metrics(report: wire.NodeReport, pod: wire.PodUsage, labels: dict[str, str] | None) -> dict[str, Any]:
    return {"metadata": {"name": pod.name, "namespace": pod.namespace, "creationTimestamp": rfc3339(),
                         "labels": labels or {}},
            "timestamp": report.timestamp, "window": _window(report),
            "containers": [{"name": c.name, "usage": _usage(c.cpu_nanocores, c.memory_bytes)}
                           for c in pod.containers]}


async def _objects(reg: Any, info: Any, tp: type, namespace: str) -> dict[tuple[str, str], Any]:
    listed = await reg.list(info, namespace, ListOptions())
    decoder = codec.decoder_for(tp)
    objs = [decoder.decode(raw) for raw in listed.items]
    return {(o.metadata.namespace or "", o.metadata.name or ""): o for o in objs}


def _list_body(kind: str, items: list[dict[str, Any]]) -> bytes:
    return msgspec.json.encode({"kind": kind, "apiVersion": API_VERSION, "metadata": {}, "items": items})


async def serve(store: MetricsStore, reg: Any, req: Any) -> tuple[int, bytes]:
    """GET/LIST of metrics.k8s.io nodes and pods."""
    if req.verb not in ("get", "list"):
        raise errors.method_not_allowed(f"{req.verb} is not supported on {req.resource}.metrics.k8s.io")
    try:
        selector = parse_selector(req.params.get("labelSelector", ""))
    except ValueError as exc:
        raise errors.bad_request(f"unable to parse requirement: {exc}") from None
    if req.resource == "nodes":
        nodes = await _objects(reg, NODES, Node, "")
        items = [node_metrics(r, nodes[("", r.node)].metadata.labels) for r in store.fresh()
                 if ("", r.node) in nodes and selector.matches(nodes[("", r.node)].metadata.labels or {})
                 and (not req.name or r.node == req.name)]
        return _answer(req, "NodeMetricsList", items, "nodes.metrics.k8s.io")
    pods = await _objects(reg, PODS, Pod, req.namespace or "")
    items = []
    for report in store.fresh():
        for usage in report.pods:
            pod = pods.get((usage.namespace, usage.name))
            if pod is None or (pod.spec.nodeName if pod.spec else None) != report.node or \
                    (req.name and usage.name != req.name):
                continue  # gone, not on the reporting node, or not asked for
            if selector.matches(pod.metadata.labels or {}):
                items.append(pod_metrics(report, usage, pod.metadata.labels))
    return _answer(req, "PodMetricsList", items, "pods.metrics.k8s.io")


def _answer(req: Any, list_kind: str, items: list[dict[str, Any]], resource: str) -> tuple[int, bytes]:
    kind = list_kind.removesuffix("List")
    if req.name:
        if not items:
            raise errors.not_found(resource, req.name)
        return 200, msgspec.json.encode({"kind": kind, "apiVersion": API_VERSION, **items[0]})
    return 200, _list_body(list_kind, items)
