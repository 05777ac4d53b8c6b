"""Scale benchmark: kubelite at Kubernetes' documented limits (5,000 nodes, 150,000 pods).

Starts etcd, NATS, one apiserver, the scheduler, the controller-manager and --agent-processes
fake-runtime node agents standing in for --nodes nodes between them (scheduler_bench.py's
cluster, plus the controller-manager), all on this machine, then in one run:

1. **etcd baseline**: --clients concurrent transactional creates of pod-sized values straight
   into etcd with the apiserver's own client (kubelite.storage.etcd), for --baseline-seconds:
   the write rate of the storage path on this machine, which no apiserver work can exceed.
2. **fill**: --deployments Deployments of --replicas pods each (the controller-manager makes
   their ReplicaSets and pods) and bare pods up to --pods, spread over --namespaces
   namespaces, created as fast as the apiserver takes them (--clients in flight; with
   --max-pending, never more than that many asked-for pods not yet Running). A
   subscription to the pods' change events timestamps each pod's first `phase: Running`.
3. **churn at full scale**: --churn-rate mutating requests per second for --churn-seconds over
   HTTPS, as kubectl sends them (create a pod, delete it, patch a ConfigMap): latency of each.
4. **LIST**: --list-samples cluster-wide LISTs of every pod over HTTPS, unpaged (the worst case),
   then as many walked in pages of 500 as kubectl does (`kubectl get pods -A`: limit, continue).
5. **memory**: summed RSS of etcd, NATS, the apiserver, the scheduler and the controller-manager
   (the node agent's is reported apart: it stands in for 5,000 kubelets), and etcd's db size.

The throughput figure is a ratio against the baseline: a pod needs 3 writes (create, binding,
status Running), so `etcd_limit_ratio` = pods Running per second × 3 / baseline writes per
second. The etcd revisions the fill really used per pod (ReplicaSet status, events, node
leases included) are reported beside it, with each process's CPU-ms per pod.

Prints a table and one `BENCH_JSON` line. Every phase is bounded in time; the processes it
started are stopped on exit (--keep keeps their logs).

    .venv/bin/python bench/scale_bench.py --max-pending 6000    # 5,000 nodes, 150,000 pods (docs/benchmarks.md)
    .venv/bin/python bench/scale_bench.py --nodes 500 --pods 15000 --deployments 50   # a tenth
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
from localcluster import etcd_requests, per_item, rss_mb, rss_split_mb
from scheduler_bench import (
    ADMIN_TLS,
    PKI,
    Cluster,
    _command,
    _info,
    _progress,
    bounded,
    cpu_seconds,
    percentile,
    pod_body,
    print_table,
    ready_nodes,
    start_core,
)

from kubelite.bus.connection import connect_nats
from kubelite.bus.identity import BusIdentity
from kubelite.client.nats import NatsAPIClient
from kubelite.credentials import bus_credentials, etcd_client_tls
from kubelite.storage.etcd import EtcdStore

WRITES_PER_POD = 3  # create, binding, status Running
CONTROL_PLANE = ("etcd", "nats", "apiserver", "scheduler", "controller-manager")
TARGETS = {"pods_running": 150_000, "etcd_limit_ratio": 0.5, "churn_write_p99_ms": 1000.0,
           "list_all_p99_ms": 30_000.0, "control_plane_rss_mb": 3000.0}


# -- the cluster ----------------------------------------------------------------------------------


def start(opts: argparse.Namespace) -> Cluster:
    c = start_core(opts, prefix="kubelite-scalebench-")
    pki = str(PKI[-1].root)
    common = ["--etcd", c.etcd_url, "--nats", c.nats_url, "--pki-dir", pki, "--log-level", "warning"]
    c.spawn("scheduler", [*_command("kubelite-scheduler"), *common,
                          "--percentage-of-nodes-to-score", str(opts.percentage_of_nodes_to_score)])
    c.spawn("controller-manager", [*_command("kubelite-controller-manager"), *common, "--no-leader-elect",
                                   "--cluster-cidr", opts.cluster_cidr])
    return c


def start_nodes(c: Cluster, opts: argparse.Namespace) -> None:
    """--agent-processes simulator processes, each with its own NATS connection and event loop,
    sharing --nodes between them (fake-0.. in the first, and so on). One process for 5,000 nodes
    was the bench's bottleneck at 150,000 pods: its one connection fell behind and nats-server
    cut it off as a slow consumer; 5,000 kubelets have 5,000 connections."""
    share, extra = divmod(opts.nodes, opts.agent_processes)
    first = 0
    for k in range(opts.agent_processes):
        count = share + (1 if k < extra else 0)
        name = "nodeagent" if opts.agent_processes == 1 else f"nodeagent-{k}"
        c.spawn(name, [*_command("kubelite-nodeagent"), "--nats", c.nats_url, "--pki-dir", str(PKI[-1].root),
                       "--runtime", "fake", "--node-name", "fake", "--fake-nodes", str(count),
                       "--fake-node-offset", str(first), "--cluster-cidr", opts.cluster_cidr,
                       "--node-capacity", "cpu=32,memory=128Gi,pods=110",
                       "--node-status-update-frequency", opts.node_status_update_frequency,
                       "--data-dir", str(c.workdir / "nodes"), "--log-level", "warning",
                       "--metrics-resolution", "0", *(["--metrics-bind-address", "off"] if k else [])])
        first += count


def node_agents_total(per_process: dict[str, float]) -> dict[str, float]:
    """The figures of every simulator process summed as one "nodeagent" entry, the rest as they are."""
    out = {k: v for k, v in per_process.items() if not k.startswith("nodeagent")}
    agents = [v for k, v in per_process.items() if k.startswith("nodeagent")]
    if agents:
        out["nodeagent"] = round(sum(agents), 2)
    return out


def etcd_db_mb(c: Cluster) -> float:
    return sum(p.stat().st_size for p in c.workdir.glob("etcd/**/member/snap/db")) / 2**20


async def etcd_store(c: Cluster) -> EtcdStore:
    return await EtcdStore.connect(c.etcd_url, tls=etcd_client_tls(PKI[-1].root, "apiserver"))


# -- 1. the physical baseline ---------------------------------------------------------------------


async def etcd_baseline(store: EtcdStore, clients: int, seconds: float, value_size: int) -> dict[str, Any]:
    """Creates per second with `clients` in flight, each a Txn like the apiserver's create."""
    value = os.urandom(value_size // 2).hex().encode()
    done = 0
    end = time.monotonic() + seconds
    lease = await store.lease_grant(3600)  # revoked below: etcd deletes every key written

    async def writer(w: int) -> None:
        nonlocal done
        i = 0
        while time.monotonic() < end:
            await store.create(f"/baseline/{w}/{i}", value, lease=lease)
            i += 1
            done += 1

    cpu0 = time.process_time()
    t0 = time.monotonic()
    await asyncio.gather(*(writer(w) for w in range(clients)))
    wall = time.monotonic() - t0
    await store.lease_revoke(lease)
    return {"etcd_writes_per_s": round(done / wall, 1), "etcd_baseline_writes": done,
            "etcd_baseline_client_cpu_ms_per_write": round((time.process_time() - cpu0) * 1000 / max(1, done), 3)}


async def idle_cost(c: Cluster, seconds: float) -> dict[str, float]:
    """CPU cores each process uses with the nodes registered and no pods: the heartbeat cost
    (one Lease renewal per node every --node-status-update-frequency)."""
    before = {name: cpu_seconds(pid) for name, pid in c.pids.items()}
    await asyncio.sleep(seconds)
    return node_agents_total({name: round((cpu_seconds(pid) - before[name]) / seconds, 2) for name, pid in c.pids.items()})


# -- 2. fill ---------------------------------------------------------------------------------------


class _Meta(msgspec.Struct):
    name: str = ""
    namespace: str = ""


class _Status(msgspec.Struct):
    phase: str | None = None


class _Pod(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)
    status: _Status = msgspec.field(default_factory=_Status)


class _Event(msgspec.Struct):
    type: str = ""
    object: _Pod = msgspec.field(default_factory=_Pod)


class RunningCounter:
    """Pods seen `Running` in the change events, with the time each was first seen."""

    def __init__(self) -> None:
        self.first: dict[tuple[str, str], float] = {}
        self.last_at = 0.0
        self._decode = msgspec.json.Decoder(_Event).decode

    async def on_change(self, msg: Any) -> None:
        pod = self._decode(msg.data).object
        if pod.status.phase == "Running":
            key = (pod.metadata.namespace, pod.metadata.name)
            if key not in self.first:
                self.last_at = self.first[key] = time.monotonic()


def deployment_body(name: str, replicas: int) -> dict[str, Any]:
    template = pod_body(name)
    template["metadata"] = {"labels": {"app": name}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": template["metadata"], "spec": template["spec"]}}}


async def fill(opts: argparse.Namespace, client: NatsAPIClient, counter: RunningCounter, *,
               check_alive: Callable[[], None]) -> dict[str, Any]:
    namespaces = [f"scale-{i:03d}" for i in range(opts.namespaces)]
    for ns in namespaces:
        await client.call("create", _info("namespaces"), body={"metadata": {"name": ns}})
    bare = max(0, opts.pods - opts.deployments * opts.replicas)
    errors: list[str] = []

    async def create(plural: str, ns: str, body: dict[str, Any]) -> None:
        try:
            await client.call("create", _info(plural), namespace=ns, body=body)
        except Exception as exc:
            errors.append(f"{plural} {body['metadata']['name']}: {exc}")

    asked = 0  # pods the creates so far stand for (a Deployment: its replicas)

    async def admit(pods: int) -> None:
        """With --max-pending, wait until fewer than that many asked-for pods are not Running yet."""
        nonlocal asked
        while opts.max_pending and asked - len(counter.first) + pods > opts.max_pending:
            check_alive()
            await asyncio.sleep(0.2)
        asked += pods

    async def create_deployment(i: int) -> None:
        await admit(opts.replicas)
        await create("deployments", namespaces[i % len(namespaces)], deployment_body(f"dep-{i:05d}", opts.replicas))

    async def create_pod(i: int) -> None:
        await admit(1)
        await create("pods", namespaces[i % len(namespaces)], pod_body(f"pod-{i:06d}"))

    t0 = time.monotonic()
    await bounded(opts.deployments, opts.clients, create_deployment)
    await bounded(bare, opts.clients, create_pod)
    created_wall = time.monotonic() - t0
    _progress(f"{opts.deployments} Deployments and {bare} bare pods created in {created_wall:.1f}s; "
              f"{len(counter.first)} Running so far")
    deadline = time.monotonic() + opts.fill_timeout
    while len(counter.first) < opts.pods and time.monotonic() < deadline:
        check_alive()
        await asyncio.sleep(1)
        _progress(f"{len(counter.first)}/{opts.pods} pods Running")
    running = len(counter.first)
    wall = (counter.last_at - t0) if running else float("nan")
    return {"pods_running": running, "fill_seconds": round(wall, 1),
            "pods_per_s_running": round(running / wall, 1) if running else 0.0,
            "bare_pods_created_per_s": round(bare / created_wall, 1) if bare else None,
            "create_errors": len(errors), "first_error": errors[0][:200] if errors else ""}


# -- 3. churn and 4. LIST ------------------------------------------------------------------------------


async def churn(http: httpx.AsyncClient, api: str, rate: float, seconds: float) -> dict[str, Any]:
    """Open loop: request i is due at start + i/rate, whatever became of the ones before."""
    ns = "scale-000"
    pods = f"{api}/api/v1/namespaces/{ns}/pods"
    cm = f"{api}/api/v1/namespaces/{ns}/configmaps"
    await http.post(cm, json={"metadata": {"name": "churn"}, "data": {"n": "0"}})
    latencies: list[float] = []
    failures: list[str] = []

    async def one(i: int, due: float) -> None:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        kind = i % 3
        victim = i - 1 - 3 * max(1, round(rate))  # a pod created at least a second ago
        if kind == 0:
            req = http.post(pods, json=pod_body(f"churn-{i:05d}"))
        elif kind == 1 and victim >= 0:
            req = http.delete(f"{pods}/churn-{victim:05d}")
        else:
            req = http.patch(f"{cm}/churn", json={"data": {"n": str(i)}},
                             headers={"Content-Type": "application/merge-patch+json"})
        t = time.monotonic()
        try:
            r = await req
            if r.status_code >= 400:
                failures.append(f"{r.status_code} {r.text[:120]}")
        except httpx.HTTPError as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
        latencies.append(time.monotonic() - t)

    start = time.monotonic() + 0.5
    n = int(rate * seconds)
    await asyncio.gather(*(one(i, start + i / rate) for i in range(n)))
    lat = sorted(latencies)
    return {"churn_requests": n, "churn_failures": len(failures), "churn_first_failure": failures[:1],
            "churn_write_p50_ms": round(percentile(lat, 50) * 1000, 1),
            "churn_write_p99_ms": round(percentile(lat, 99) * 1000, 1)}


async def list_all(http: httpx.AsyncClient, api: str, samples: int) -> dict[str, Any]:
    times, sizes, counts = [], [], []
    for _ in range(samples):
        t = time.monotonic()
        r = await http.get(f"{api}/api/v1/pods", timeout=300)
        times.append(time.monotonic() - t)
        sizes.append(len(r.content))
        counts.append(len(r.json().get("items") or []))
        _progress(f"LIST of all pods: {counts[-1]} items, {sizes[-1] / 2**20:.0f} MB in {times[-1]:.1f}s")
    lat = sorted(times)
    return {"list_all_items": counts[-1] if counts else 0, "list_all_mb": round(sizes[-1] / 2**20, 1) if sizes else 0,
            "list_all_p50_ms": round(percentile(lat, 50) * 1000), "list_all_p99_ms": round(percentile(lat, 99) * 1000)}


async def list_paged(http: httpx.AsyncClient, api: str, samples: int, page: int = 500) -> dict[str, Any]:
    """`samples` walks of every pod in pages of `page`, as `kubectl get pods -A` makes them:
    the time of each whole walk (the first page's request to the last page's answer)."""
    times, pages = [], 0
    for _ in range(samples):
        t, token, pages, items = time.monotonic(), "", 0, 0
        while True:
            params = {"limit": str(page)} | ({"continue": token} if token else {})
            r = await http.get(f"{api}/api/v1/pods", params=params, timeout=300)
            r.raise_for_status()
            body = r.json()
            pages, items, token = pages + 1, items + len(body.get("items") or []), body["metadata"].get("continue")
            if not token:
                break
        times.append(time.monotonic() - t)
        _progress(f"paged LIST of all pods: {items} items in {pages} pages in {times[-1]:.1f}s")
    lat = sorted(times)
    return {"list_paged_pages": pages, "list_paged_p50_ms": round(percentile(lat, 50) * 1000),
            "list_paged_p99_ms": round(percentile(lat, 99) * 1000)}


# -- the run -------------------------------------------------------------------------------------------


async def run(opts: argparse.Namespace, c: Cluster) -> dict[str, Any]:
    result: dict[str, Any] = {"nodes": opts.nodes, "pods": opts.pods, "load_before": os.getloadavg()[0]}
    store = await etcd_store(c)
    _progress(f"etcd baseline: {opts.clients} writers for {opts.baseline_seconds:g}s")
    result.update(await etcd_baseline(store, opts.clients, opts.baseline_seconds, opts.value_size))
    _progress(f"etcd baseline: {result['etcd_writes_per_s']} writes/s")

    start_nodes(c, opts)
    t = time.monotonic()
    async with asyncio.timeout(opts.fill_timeout):
        while (ready := await ready_nodes(c.api_url)) < opts.nodes:
            c.check_alive()
            await asyncio.sleep(2)
    result["nodes_ready_seconds"] = round(time.monotonic() - t, 1)
    _progress(f"{ready} fake nodes Ready in {result['nodes_ready_seconds']}s; "
              f"{opts.idle_seconds:g}s idle (heartbeats only)")
    result["idle_cpu_cores"] = await idle_cost(c, opts.idle_seconds)

    nc = await connect_nats(c.nats_url, name="scale-bench", wait_seconds=30,
                            credentials=bus_credentials(PKI[-1].root, BusIdentity("apiserver")))
    client = NatsAPIClient(nc, caller=BusIdentity("admin"), timeout=120)
    counter = RunningCounter()
    await nc.subscribe("kubelite.changes.pods.>", cb=counter.on_change)
    rev0 = await store.current_revision()
    etcd_tls = etcd_client_tls(PKI[-1].root, "admin")
    asked = {"ca_file": etcd_tls.ca_file, "cert_file": etcd_tls.cert_file, "key_file": etcd_tls.key_file}
    etcd0 = etcd_requests(c.etcd_url, **asked)
    cpu0 = {name: cpu_seconds(pid) for name, pid in c.pids.items()}
    result.update(await fill(opts, client, counter, check_alive=c.check_alive))
    pods = max(1, result["pods_running"])
    result["etcd_revisions_per_pod"] = round((await store.current_revision() - rev0) / pods, 2)
    # what etcd was asked per pod Running (unary calls by method, fsyncs, watch events sent)
    result["etcd_requests_per_pod"] = per_item(etcd0, etcd_requests(c.etcd_url, **asked), pods)
    result["cpu_ms_per_pod"] = node_agents_total({
        name: round((cpu_seconds(pid) - cpu0.get(name, 0.0)) * 1000 / pods, 2) for name, pid in c.pids.items()})
    result["etcd_limit_ratio"] = round(result["pods_per_s_running"] * WRITES_PER_POD / result["etcd_writes_per_s"], 3)

    async with httpx.AsyncClient(verify=ADMIN_TLS[-1], timeout=60,
                                 limits=httpx.Limits(max_connections=64)) as http:
        _progress(f"churn: {opts.churn_rate:g} writes/s for {opts.churn_seconds:g}s")
        result.update(await churn(http, c.api_url, opts.churn_rate, opts.churn_seconds))
        result.update(await list_all(http, c.api_url, opts.list_samples))
        result.update(await list_paged(http, c.api_url, opts.list_samples))
    result["rss_mb"] = node_agents_total({name: round(rss_mb(pid)) for name, pid in c.pids.items()})
    result["control_plane_rss_mb"] = round(sum(rss_mb(c.pids[n]) for n in CONTROL_PLANE if n in c.pids))
    result["control_plane_rss_split_mb"] = {  # anon / file: etcd's file part is its mapped database
        n: {kind: round(mb) for kind, mb in rss_split_mb(c.pids[n]).items()} for n in CONTROL_PLANE if n in c.pids}
    result["etcd_db_mb"] = round(etcd_db_mb(c), 1)
    result["load_after"] = os.getloadavg()[0]
    await nc.close()
    await store.close()
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=5000)
    p.add_argument("--pods", type=int, default=150_000)
    p.add_argument("--deployments", type=int, default=750, help="Deployments (the rest of --pods are bare pods)")
    p.add_argument("--replicas", type=int, default=100, help="replicas per Deployment")
    p.add_argument("--namespaces", type=int, default=50)
    p.add_argument("--clients", type=int, default=64, help="requests in flight (and etcd baseline writers)")
    p.add_argument("--agent-processes", type=int, default=4, help="simulator processes sharing --nodes")
    p.add_argument("--max-pending", type=int, default=0,
                   help="create no more while this many asked-for pods are not Running yet (0: as fast as taken)")
    p.add_argument("--baseline-seconds", type=float, default=10.0)
    p.add_argument("--value-size", type=int, default=1500, help="bytes per baseline write (a stored pod's size)")
    p.add_argument("--idle-seconds", type=float, default=20.0, help="heartbeat-only window before the fill")
    p.add_argument("--churn-rate", type=float, default=20.0)
    p.add_argument("--churn-seconds", type=float, default=30.0)
    p.add_argument("--list-samples", type=int, default=5)
    p.add_argument("--fill-timeout", type=float, default=3600.0, help="seconds for nodes, then pods, to be there")
    p.add_argument("--cluster-cidr", default="10.0.0.0/8", help="room for a /24 per node")
    p.add_argument("--node-status-update-frequency", default="10s", help="each fake node's lease renewal")
    p.add_argument("--percentage-of-nodes-to-score", type=int, default=0)
    p.add_argument("--apiserver-workers", type=int, default=1)
    p.add_argument("--storage-compression", choices=["zlib", "none"], default="zlib",
                   help="the apiserver's --storage-compression (how etcd stores objects)")
    p.add_argument("--etcd-fsync", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    if opts.deployments * opts.replicas > opts.pods:
        sys.exit(f"scale_bench: {opts.deployments} Deployments × {opts.replicas} replicas exceed --pods {opts.pods}")
    # SIGTERM (timeout, kill) ends the run as Ctrl-C does: through the finally below, which
    # removes the work directory (a 150,000-pod run leaves gigabytes); the default action skips it
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    cluster = start(opts)
    try:
        result = asyncio.run(run(opts, cluster))
    except RuntimeError as err:  # a service died (Cluster.check_alive)
        sys.exit(f"scale_bench: {err}")
    finally:
        cluster.stop(keep_dir=opts.keep)
        if opts.keep:
            _progress(f"logs kept in {cluster.workdir}")
    print_table(result)
    met = {k: (result.get(k, 0) <= v if k.endswith(("_ms", "_mb")) else result.get(k, 0) >= v)
           for k, v in TARGETS.items()}
    print("BENCH_JSON " + json.dumps({"options": vars(opts), "results": result, "targets": TARGETS,
                                      "target_met": met, "python": platform.python_version()}))


if __name__ == "__main__":
    main()
