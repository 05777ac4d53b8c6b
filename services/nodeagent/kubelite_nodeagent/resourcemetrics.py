"""Resource metrics of this node's containers, published on the bus (protocol: kubelite.bus.metrics).

Every resolution period the collector reads each running container's cumulative CPU time and
memory working set from the runtime, turns CPU time into a rate against the previous sample
(a container's first sample only primes it, as metrics-server needs two scrapes), sums per
pod and per node, and publishes one NodeReport. The apiservers serve the latest one as
metrics.k8s.io (`kubectl top`, the HorizontalPodAutoscaler).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from kubelite.bus import metrics as wire
from kubelite.timefmt import rfc3339
from kubelite_nodeagent.runtime.base import ContainerStats

log = logging.getLogger("kubelite.nodeagent.metrics")

# (namespace, pod name, [(container name, container id)]) of each pod with running containers
RunningPods = Callable[[], Iterable[tuple[str, str, list[tuple[str, str]]]]]


def cpu_rate(prev: ContainerStats, cur: ContainerStats) -> int | None:
    """Nanocores between two samples: CPU ns used per wall second. None when the samples are
    not in order or the counter went back (a restarted container).
    Example: 1.5e9 ns more over 3 s is 500,000,000n, half a core (500m)."""
    elapsed = cur.at - prev.at
    used = cur.cpu_ns - prev.cpu_ns
    if elapsed <= 0 or used < 0:
        return None
    return int(used / elapsed)


def build_report(node: str, samples: dict[tuple[str, str], list[tuple[str, int, int]]], window: float,
                 at: float) -> wire.NodeReport:
    """One NodeReport from (namespace, pod) -> [(container, nanocores, memory bytes)]."""
    pods = [wire.PodUsage(namespace=ns, name=name, containers=[
        wire.ContainerUsage(name=c, cpu_nanocores=cpu, memory_bytes=mem) for c, cpu, mem in sorted(containers)])
        for (ns, name), containers in sorted(samples.items())]
    cpu = sum(c.cpu_nanocores for p in pods for c in p.containers)
    memory = sum(c.memory_bytes for p in pods for c in p.containers)
    return wire.NodeReport(node=node, timestamp=rfc3339(at), window_seconds=round(window, 3), cpu_nanocores=cpu,
                           memory_bytes=memory, pods=pods)


class MetricsCollector:
    def __init__(self, *, nc: Any, node_name: str, runtime: Any, running: RunningPods, resolution: float) -> None:
        self.nc = nc
        self.node_name = node_name
        self.runtime = runtime
        self.running = running
        self.resolution = resolution
        self.previous: dict[str, ContainerStats] = {}  # container id -> last sample
        self.reports = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.resolution)
            try:
                await self.collect_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("node %s: collecting resource metrics failed", self.node_name)

    async def _stats(self, ids: list[str]) -> dict[str, ContainerStats]:
        """All at once where the runtime can (the process runtime: one thread hop, cached cgroups)."""
        batch = getattr(self.runtime, "containers_stats", None)
        if batch is not None:
            return await batch(ids)
        out = {}
        for cid in ids:
            if (cur := await self.runtime.container_stats(cid)) is not None:
                out[cid] = cur
        return out

    async def collect_once(self) -> wire.NodeReport | None:
        samples: dict[tuple[str, str], list[tuple[str, int, int]]] = {}
        fresh: dict[str, ContainerStats] = {}
        windows = []
        running = list(self.running())
        stats = await self._stats([cid for _, _, containers in running for _, cid in containers])
        for ns, pod, containers in running:
            for name, cid in containers:
                cur = stats.get(cid)
                if cur is None:
                    continue
                fresh[cid] = cur
                prev = self.previous.get(cid)
                rate = cpu_rate(prev, cur) if prev is not None else None
                if rate is not None and prev is not None:
                    samples.setdefault((ns, pod), []).append((name, rate, cur.memory_bytes))
                    windows.append(cur.at - prev.at)
        self.previous = fresh  # containers that went away are forgotten
        if not fresh:
            return None
        at = max(s.at for s in fresh.values())
        report = build_report(self.node_name, samples, max(windows, default=self.resolution), at)
        await self.nc.publish(wire.subject(self.node_name), wire.encoder.encode(report))
        self.reports += 1
        return report
