"""Watch fan-out: N HTTP watchers served three ways, in one run, on one apiserver with its own
etcd and NATS:

- `etcd`: ConfigMaps, each watcher its own etcd watch, as every watch was served before the watch
  cache (the baseline). Forced by watching from a resourceVersion older than the ConfigMaps'
  watch hub holds (a watcher opens the hub first, then one write moves etcd past it): the path
  a watch takes when no hub or cache can serve it.
- `hub`: ConfigMaps through their resource's watch hub (watchhub.py: one etcd watch, each change
  decoded once).
- `cache`: pods through the pod cache's watch cache (watchcache.py).

Each phase opens N `?watch=true` streams on one namespace from its current resourceVersion,
waits until all are open, creates M objects there at --rate writes/s and waits until every
watcher has received every ADDED event. It reports per phase:

- delivery delay (event received - create sent) p50 / p99 over all N x M deliveries;
- CPU-ms of the apiserver and of etcd per write, and CPU-µs of both per delivered event, from
  the first create to the last delivery (the watches' setup excluded);
- the etcd watchers open during the phase (etcd_debugging_mvcc_watcher_total).

The ratios to read: (apiserver + etcd) CPU per delivered event, hub / etcd and cache / etcd.
A ConfigMap here is as small as the bench's pod before defaulting; the stored pod is larger
(defaults, status), so the cache's comparison leans against it. Each phase checks from the
apiserver's metrics (kubelite_apiserver_watches_total) that its watches took the path it names.

    .venv/bin/python bench/watch_fanout_bench.py [--watchers 100] [--writes 500] [--rate 100] [--clients 1]

With --clients 16 and a high --rate the creates arrive together and etcd commits them in
groups, so each watcher is sent several events at once.

Prints a table and one BENCH_JSON line. Every wait has a deadline; servers are stopped on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import ssl
import sys
import time
import urllib.request
from dataclasses import dataclass, field

import msgspec
import rawhttp
from apiserver_bench import TLS, Cluster, pod_manifest, start_cluster, use_uvloop
from localcluster import cpu_seconds

from kubelite.credentials import ensure_credentials, etcd_client_tls

DEADLINE_S = 60.0  # for every wait of a phase


class _Meta(msgspec.Struct):
    name: str = ""


class _Obj(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)


class _Event(msgspec.Struct):
    type: str
    object: _Obj


@dataclass
class Phase:
    resource: str
    sent: dict[str, float] = field(default_factory=dict)
    received: list[dict[str, float]] = field(default_factory=list)  # one dict per watcher


def _configmap(name: str) -> bytes:
    return msgspec.json.encode({"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": name, "labels": {"app": "bench"}},
                                "data": {"k": "x" * 120}})


def _etcd_watchers(etcd_url: str, tls: ssl.SSLContext) -> int:
    with urllib.request.urlopen(f"{etcd_url}/metrics", timeout=5, context=tls) as resp:
        match = re.search(r"^etcd_debugging_mvcc_watcher_total (\S+)$", resp.read().decode(), re.M)
    return int(float(match.group(1))) if match else -1


async def _watch(url: str, path: str, rv: str, got: dict[str, float], opened: asyncio.Event,
                 done: asyncio.Event, expected: list[int]) -> None:
    conn = rawhttp.Connection(url, verify=TLS.context, timeout=DEADLINE_S)
    decode = msgspec.json.Decoder(_Event).decode
    async with conn.stream_lines(path, params={"watch": "true", "resourceVersion": rv}) as lines:
        opened.set()
        async for line in lines:
            event = decode(line)
            if event.type == "ADDED" and event.object.metadata.name.startswith("w-"):
                got.setdefault(event.object.metadata.name, time.perf_counter())
                if len(got) >= expected[0]:
                    done.set()


PATHS = {"etcd": "configmaps", "hub": "configmaps", "cache": "pods"}  # phase -> resource


async def _served(admin: rawhttp.Connection, resource: str, source: str) -> float:
    """kubelite_apiserver_watches_total{resource, source}, from the apiserver's /metrics."""
    text = (await admin.get("/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("kubelite_apiserver_watches_total{") and f'resource="{resource}"' in line
               and f'source="{source}"' in line)


async def _older_than_the_hub(url: str, admin: rawhttp.Connection, path: str) -> tuple[str, asyncio.Task[None]]:
    """A resourceVersion of `path` older than its watch hub holds, and the watcher keeping the
    hub open: the hub opens at etcd's revision after one more write."""
    rv = (await admin.get(path)).json()["metadata"]["resourceVersion"]
    await admin.post(path, json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "moved-on"}})
    opened = asyncio.Event()
    keeper = asyncio.create_task(_watch(url, path, "", {}, opened, asyncio.Event(), [1 << 30]))
    async with asyncio.timeout(DEADLINE_S):
        await opened.wait()
    return rv, keeper


async def run_phase(url: str, source: str, opts: argparse.Namespace,
                    pids: dict[str, int], etcd: tuple[str, ssl.SSLContext]) -> dict[str, float]:
    resource, namespace = PATHS[source], f"fanout-{source}"
    admin = rawhttp.Connection(url, verify=TLS.context, timeout=DEADLINE_S)
    await admin.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": namespace}})
    path = f"/api/v1/namespaces/{namespace}/{resource}"
    keeper = None
    if source == "etcd":
        rv, keeper = await _older_than_the_hub(url, admin, path)
    else:
        rv = (await admin.get(path)).json()["metadata"]["resourceVersion"]
    served_before = await _served(admin, resource, source)
    phase = Phase(resource)
    expected = [opts.writes]
    opened = [asyncio.Event() for _ in range(opts.watchers)]
    done = [asyncio.Event() for _ in range(opts.watchers)]
    phase.received = [{} for _ in range(opts.watchers)]
    watchers = [asyncio.create_task(_watch(url, path, rv, phase.received[i], opened[i], done[i], expected))
                for i in range(opts.watchers)]
    try:
        async with asyncio.timeout(DEADLINE_S):
            await asyncio.gather(*(event.wait() for event in opened))
        await asyncio.sleep(0.5)  # let etcd register the watches the apiserver opens behind them
        served = await _served(admin, resource, source) - served_before
        if served != opts.watchers:
            raise RuntimeError(f"{source}: {served:g} of {opts.watchers} watches took that path")
        etcd_watchers = await asyncio.to_thread(_etcd_watchers, *etcd)
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        await _write(url, path, opts, phase)
        async with asyncio.timeout(DEADLINE_S):
            await asyncio.gather(*(event.wait() for event in done))
        cpu = {name: (cpu_seconds(pid) - cpu_before[name]) * 1000 for name, pid in pids.items()}
    finally:
        for task in [*watchers, *([keeper] if keeper else [])]:
            task.cancel()
        await asyncio.gather(*watchers, *([keeper] if keeper else []), return_exceptions=True)
        await admin.aclose()
    return _summary(phase, cpu, etcd_watchers, opts)


async def _write(url: str, path: str, opts: argparse.Namespace, phase: Phase) -> None:
    """Create opts.writes objects at opts.rate a second in all, from opts.clients connections
    (client k sends creates k, k + clients, ...; each waits for its last)."""
    body = pod_manifest if phase.resource == "pods" else _configmap
    start = time.perf_counter()

    async def client(k: int) -> None:
        conn = rawhttp.Connection(url, verify=TLS.context, timeout=DEADLINE_S)
        try:
            for i in range(k, opts.writes, opts.clients):
                delay = start + i / opts.rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                name = f"w-{i:06d}"
                phase.sent[name] = time.perf_counter()
                resp = await conn.request("POST", path, json=json.loads(body(name)))
                if resp.status_code != 201:
                    raise RuntimeError(f"create {name}: HTTP {resp.status_code} {resp.text[:200]}")
        finally:
            await conn.aclose()

    await asyncio.gather(*(client(k) for k in range(opts.clients)))


def _summary(phase: Phase, cpu: dict[str, float], etcd_watchers: int, opts: argparse.Namespace) -> dict[str, float]:
    delays = sorted(got[name] - sent for got in phase.received for name, sent in phase.sent.items() if name in got)
    deliveries = len(delays)

    def pct(q: float) -> float:
        return round(delays[min(len(delays) - 1, int(q * len(delays)))] * 1000, 2) if delays else float("nan")

    both = cpu["apiserver"] + cpu["etcd"]
    return {"deliveries": deliveries, "delay_p50_ms": pct(0.5), "delay_p99_ms": pct(0.99),
            "apiserver_cpu_ms_per_write": round(cpu["apiserver"] / opts.writes, 3),
            "etcd_cpu_ms_per_write": round(cpu["etcd"] / opts.writes, 3),
            "cpu_us_per_delivery": round(both * 1000 / deliveries, 2) if deliveries else float("nan"),
            "etcd_watchers": etcd_watchers}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--writes", type=int, default=500)
    parser.add_argument("--rate", type=float, default=100.0, help="creates per second")
    parser.add_argument("--clients", type=int, default=1, help="connections the creates are spread over")
    opts = parser.parse_args()
    use_uvloop()
    load_before = [round(x, 2) for x in os.getloadavg()]
    cluster: Cluster = start_cluster(False, [])
    try:
        assert cluster.workdir is not None
        pids = cluster.pids()
        tls = etcd_client_tls(ensure_credentials(cluster.workdir).root, "admin")
        ctx = ssl.create_default_context(cafile=tls.ca_file)
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
        etcd = (cluster.processes[0].url, ctx)  # type: ignore[union-attr]
        results = {}
        for source in PATHS:
            print(f"# {source}: {opts.watchers} watchers of {PATHS[source]}, {opts.writes} creates at "
                  f"{opts.rate:g}/s", file=sys.stderr, flush=True)
            results[source] = asyncio.run(run_phase(cluster.url, source, opts, pids, etcd))
    finally:
        cluster.stop()
    base = results["etcd"]["cpu_us_per_delivery"]
    ratios = {f"{source}_over_etcd_cpu_per_delivery": round(results[source]["cpu_us_per_delivery"] / base, 3)
              for source in ("hub", "cache")}
    print(f"\nwatch fan-out: {opts.watchers} watchers x {opts.writes} creates at {opts.rate:g}/s, {opts.clients} clients "
          f"(load {load_before[0]} -> {os.getloadavg()[0]:.2f})")
    print(f"{'':34}{'configmaps (etcd)':>20}{'configmaps (hub)':>18}{'pods (cache)':>16}")
    for key in ("deliveries", "delay_p50_ms", "delay_p99_ms", "apiserver_cpu_ms_per_write",
                "etcd_cpu_ms_per_write", "cpu_us_per_delivery", "etcd_watchers"):
        print(f"{key:34}{results['etcd'][key]:>20}{results['hub'][key]:>18}{results['cache'][key]:>16}")
    print("(apiserver + etcd) CPU per delivered event: "
          + ", ".join(f"{name.split('_')[0]} / etcd {value:.2f}" for name, value in ratios.items()))
    print("BENCH_JSON " + json.dumps({
        "bench": "watch_fanout", "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "loadavg_before": load_before, "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "options": vars(opts), "results": results, **ratios}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
