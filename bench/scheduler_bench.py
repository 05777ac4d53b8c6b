"""Scheduler benchmark: pods/s and latency from create to bound with many fake nodes.

Starts its own etcd, NATS, `kubelite-apiserver` and `kubelite-scheduler` in a
temporary directory, registers --nodes Node objects through the API (Ready,
with allocatable cpu/memory/pods, as a node agent would), then creates --pods
pods through the API (NATS request-reply, --clients in flight) as fast as the
apiserver takes them. A subscription to the apiserver's change events
(`kubelite.changes.pods.<ns>.>`) timestamps the moment each pod is seen bound.

With --rate the creates are paced (open loop) instead, which measures latency
at a sustainable load rather than the queueing of a burst.

Reported: create→bound throughput (pods / (last bound - first create sent)),
create→bound latency p50/p99 (bound seen - create sent), create throughput,
and with --nodeagent the same to Running (needs `kubelite-nodeagent --runtime
fake --fake-nodes N`; skipped, and said so, while the node agent is not there).

Prints a table and one JSON line (prefix `BENCH_JSON `). Every phase is bounded
in time; the servers it started are stopped on exit.

    .venv/bin/python bench/scheduler_bench.py [--nodes 1000] [--pods 10000] [--clients 64]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec

from kubelite.api.core_v1 import Node
from kubelite.bus import subjects
from kubelite.bus.connection import connect_nats
from kubelite.bus.identity import BusIdentity
from kubelite.client.nats import NatsAPIClient
from kubelite.client.tls import client_context
from kubelite.credentials import (
    NATS_CONFIG,
    admin_credentials,
    bus_credentials,
    ensure_credentials,
    etcd_server_tls,
)
from kubelite.devservers import ServerProcess, free_port, start_etcd, start_nats

TARGET_PODS_PER_S = 700.0
PHASE_TIMEOUT_S = 300.0


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (NaN when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(pct / 100.0 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def print_table(result: dict[str, Any]) -> None:
    """One `name  value` line per result, names aligned."""
    width = max(len(k) for k in result)
    for k, v in result.items():
        print(f"{k:<{width}}  {v}")


def _progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the cluster -------------------------------------------------------------------------


def _with_parent_death_signal(argv: list[str]) -> list[str]:
    """argv run under `setpriv --pdeathsig TERM`: the service gets SIGTERM if this benchmark dies.

    Not a preexec_fn: that forces a plain fork() that runs Python in the child, and once this
    process has gRPC threads (the etcd baseline's client) such a child could die before its exec,
    unseen (the log held only gRPC's "epoll_wait error: Bad file descriptor" from the child's
    pid): a fill then waited an hour for nodes one simulator process never brought.
    """
    setpriv = shutil.which("setpriv") if sys.platform == "linux" else None
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else argv


def _command(name: str) -> list[str]:
    exe = Path(sys.executable).parent / name
    return [str(exe)] if exe.exists() else [sys.executable, "-m", name.replace("-", "_")]


@dataclass
class Cluster:
    workdir: Path
    etcd_url: str = ""
    nats_url: str = ""
    api_url: str = ""
    processes: list[ServerProcess | subprocess.Popen[bytes]] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)  # service name -> pid, for CPU accounting
    spawned: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)  # by Cluster.spawn

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        with open(self.workdir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(_with_parent_death_signal(argv), stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.processes.append(proc)
        self.pids[name] = proc.pid
        self.spawned[name] = proc
        return proc

    def check_alive(self) -> None:
        """Raise, with the end of its log, if a service this run started has exited: a wait for
        what it should bring about would otherwise run to its deadline."""
        for name, proc in self.spawned.items():
            if proc.poll() is not None:
                log = (self.workdir / f"{name}.log").read_text(errors="replace").strip().splitlines()
                raise RuntimeError(f"{name} (pid {proc.pid}) exited with {proc.returncode}; its log ends: "
                                   + " | ".join(log[-3:]))

    def stop(self, keep_dir: bool) -> None:
        for proc in reversed(self.processes):
            if isinstance(proc, ServerProcess):
                proc.stop()
            elif proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if not keep_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)


ADMIN_TLS: list[Any] = []  # the admin's TLS context of the cluster this run started
# etcd's suggested maximum: 150,000 pods and their history outgrow the 2 GiB default
ETCD_QUOTA_BYTES = 8 * 1024**3
PKI: list[Any] = []  # its credentials (the bench talks on the bus as the apiserver's identity)


def start_core(opts: argparse.Namespace, prefix: str = "kubelite-schedbench-") -> Cluster:
    """etcd, NATS and one apiserver (ready) in a new temporary directory, with credentials."""
    c = Cluster(Path(tempfile.mkdtemp(prefix=prefix)))
    pki = ensure_credentials(c.workdir, simulator=True)
    PKI.append(pki)
    etcd = start_etcd(c.workdir / "etcd", client_port=free_port(), peer_port=free_port(),
                      log_path=c.workdir / "etcd.log", unsafe_no_fsync=not opts.etcd_fsync, die_with_parent=True,
                      tls=etcd_server_tls(pki), quota_backend_bytes=ETCD_QUOTA_BYTES)
    c.processes.append(etcd)
    nats = start_nats(c.workdir / "nats", port=free_port(), log_path=c.workdir / "nats.log", die_with_parent=True,
                      config=pki.root / NATS_CONFIG)
    c.processes.append(nats)
    c.etcd_url, c.nats_url = etcd.url, nats.url
    c.pids.update({"etcd": etcd.popen.pid, "nats": nats.popen.pid})
    port = free_port()
    c.api_url = f"https://127.0.0.1:{port}"
    admin = admin_credentials(pki)
    ADMIN_TLS.append(client_context(ca_pem=admin.ca_pem, cert_pem=admin.cert_pem, key_pem=admin.key_pem))
    api = c.spawn("apiserver", [*_command("kubelite-apiserver"), "--etcd", etcd.url, "--nats", nats.url,
                                "--bind-address", "127.0.0.1", "--port", str(port), "--pki-dir", str(pki.root),
                                "--workers", str(opts.apiserver_workers), "--log-level", "warning",
                                "--storage-compression", opts.storage_compression])
    deadline = time.monotonic() + 60
    while True:
        if api.poll() is not None:
            raise RuntimeError(f"apiserver exited; see {c.workdir}/apiserver.log")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(c.api_url + "/readyz", timeout=1, verify=ADMIN_TLS[-1]).status_code == 200:
                break
        if time.monotonic() > deadline:
            raise RuntimeError("apiserver not ready after 60s")
        time.sleep(0.2)
    return c


def start_cluster(opts: argparse.Namespace) -> Cluster:
    c = start_core(opts)
    c.spawn("scheduler", [*_command("kubelite-scheduler"), "--etcd", c.etcd_url, "--nats", c.nats_url,
                          "--pki-dir", str(PKI[-1].root),
                          "--parallel-binds", str(opts.parallel_binds),
                          "--percentage-of-nodes-to-score", str(opts.percentage_of_nodes_to_score),
                          "--log-level", "warning", *opts.scheduler_arg])
    if opts.nodeagent:
        c.spawn("nodeagent", [*_command("kubelite-nodeagent"), "--nats", c.nats_url, "--pki-dir", str(PKI[-1].root),
                              "--runtime", "fake",
                              "--node-name", "fake", "--fake-nodes", str(opts.nodes),
                              "--node-capacity", "cpu=32,memory=128Gi,pods=110",
                              "--data-dir", str(c.workdir / "nodes"), "--log-level", "warning",
                              "--metrics-resolution", "0"])  # no resource metrics: figures comparable to before
    return c


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its waited-for children), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / ticks  # utime stime cutime cstime


def nodeagent_available() -> bool:
    try:
        return "--fake-nodes" in subprocess.run([*_command("kubelite-nodeagent"), "--help"],
                                             capture_output=True, text=True, timeout=30).stdout
    except Exception:
        return False


# -- load ---------------------------------------------------------------------------------


def node_object(name: str) -> Node:
    return msgspec.convert({"apiVersion": "v1", "kind": "Node", "metadata": {
        "name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}}}, Node)


def node_status(name: str) -> dict[str, Any]:
    res = {"cpu": "32", "memory": "128Gi", "pods": "110"}
    return {"status": {"capacity": res, "allocatable": res, "conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "fake node for the benchmark"}]}}


def pod_body(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "c", "image": "kubelite/busybox:latest", "command": ["sleep", "3600"],
                                     "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}


async def bounded(n: int, clients: int, one) -> None:
    it = iter(range(n))

    async def worker() -> None:
        for i in it:
            await one(i)
    await asyncio.gather(*(worker() for _ in range(clients)))


class _Meta(msgspec.Struct):
    name: str = ""


class _Spec(msgspec.Struct):
    nodeName: str | None = None


class _Status(msgspec.Struct):
    phase: str | None = None


class _Pod(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)
    spec: _Spec = msgspec.field(default_factory=_Spec)
    status: _Status = msgspec.field(default_factory=_Status)


class _Event(msgspec.Struct):
    type: str = ""
    object: _Pod = msgspec.field(default_factory=_Pod)


async def run(opts: argparse.Namespace, cluster: Cluster) -> dict[str, Any]:
    nc = await connect_nats(cluster.nats_url, name="scheduler-bench", wait_seconds=30,
                            credentials=bus_credentials(PKI[-1].root, BusIdentity("apiserver")))
    client = NatsAPIClient(nc, caller=BusIdentity("admin"), timeout=60)
    ns = "bench"
    await client.call("create", _info("namespaces"), body={"metadata": {"name": ns}})

    t = time.monotonic()
    if opts.nodeagent:  # the fake-runtime node agent registers the nodes itself
        async with asyncio.timeout(PHASE_TIMEOUT_S):
            while (ready := await ready_nodes(cluster.api_url)) < opts.nodes:  # noqa: ASYNC110 - polling the API
                await asyncio.sleep(1)
        _progress(f"{ready} fake nodes registered by the node agent in {time.monotonic() - t:.1f}s")
    else:
        async def register(i: int) -> None:
            name = f"node-{i:05d}"
            await client.create(node_object(name))
            await client.patch("nodes", "", name, node_status(name), subresource="status")
        await bounded(opts.nodes, opts.clients, register)
        _progress(f"{opts.nodes} nodes registered in {time.monotonic() - t:.1f}s")

    sent: dict[str, float] = {}
    bound: dict[str, float] = {}
    running: dict[str, float] = {}
    decode = msgspec.json.Decoder(_Event).decode

    async def on_change(msg: Any) -> None:
        now = time.monotonic()
        ev = decode(msg.data)
        pod = ev.object
        name = pod.metadata.name
        if pod.spec.nodeName and name not in bound:
            bound[name] = now
        if pod.status.phase == "Running" and name not in running:
            running[name] = now
    await nc.subscribe(f"kubelite.changes.pods.{subjects.token(ns)}.>", cb=on_change)

    # Warm-up: one pod scheduled proves the scheduler's caches hold every node.
    async with asyncio.timeout(120):
        while True:
            name = "warmup"
            sent.setdefault(name, time.monotonic())
            with contextlib.suppress(Exception):
                await client.call("create", _info("pods"), namespace=ns, body=pod_body(name))
            if name in bound:
                break
            await asyncio.sleep(0.2)
    _progress("scheduler ready; creating pods")

    created_at: dict[str, float] = {}
    errors: list[str] = []

    async def create(i: int) -> None:
        name = f"pod-{i:06d}"
        if opts.rate > 0:  # open loop: pod i is due at start + i/rate, late or not
            due = start + i / opts.rate
            await asyncio.sleep(due - time.monotonic())
            sent[name] = due
        else:
            sent[name] = time.monotonic()
        try:
            await client.call("create", _info("pods"), namespace=ns, body=pod_body(name))
            created_at[name] = time.monotonic()
        except Exception as exc:
            errors.append(f"{name}: {exc}")

    cpu_before = {name: cpu_seconds(pid) for name, pid in cluster.pids.items()}
    cpu_before["bench"] = time.process_time()
    start = time.monotonic()
    await bounded(opts.pods, opts.clients, create)
    create_wall = time.monotonic() - start
    _progress(f"{len(created_at)} pods created in {create_wall:.1f}s ({len(created_at) / create_wall:.0f}/s); "
              f"{len(bound) - 1} bound so far")
    await wait_until(lambda: len(bound) >= len(created_at) + 1, "bound", lambda: len(bound) - 1, len(created_at))
    cpu_used = {name: round(cpu_seconds(pid) - cpu_before[name], 1) for name, pid in cluster.pids.items()}
    cpu_used["bench"] = round(time.process_time() - cpu_before["bench"], 1)
    if opts.nodeagent:
        await wait_until(lambda: len(running) >= len(created_at) + 1, "running", lambda: len(running) - 1,
                         len(created_at))
    await nc.close()

    names = [n for n in created_at if n in bound]
    lat = sorted(bound[n] - sent[n] for n in names)
    end = max((bound[n] for n in names), default=start)
    result: dict[str, Any] = {
        "nodes": opts.nodes, "pods": opts.pods, "created": len(created_at), "create_errors": len(errors),
        "first_error": errors[0][:200] if errors else "",
        "create_per_s": round(len(created_at) / create_wall, 1),
        "bound": len(names),
        "bound_per_s": round(len(names) / (end - start), 1) if end > start else 0.0,
        "bound_p50_ms": round(percentile(lat, 50) * 1000, 1),
        "bound_p99_ms": round(percentile(lat, 99) * 1000, 1),
        "bound_max_ms": round(lat[-1] * 1000, 1) if lat else float("nan"),
        # CPU seconds each process used from the first create until every pod was bound
        "cpu_s_to_bound": cpu_used,
        "scheduler_cpu_ms_per_pod": round(cpu_used.get("scheduler", 0) * 1000 / max(1, len(names)), 3),
    }
    if opts.nodeagent:
        rnames = [n for n in created_at if n in running]
        rlat = sorted(running[n] - sent[n] for n in rnames)
        rend = max((running[n] for n in rnames), default=start)
        result.update({
            "running": len(rnames),
            "running_per_s": round(len(rnames) / (rend - start), 1) if rend > start else 0.0,
            "running_p50_ms": round(percentile(rlat, 50) * 1000, 1),
            "running_p99_ms": round(percentile(rlat, 99) * 1000, 1),
        })
    else:
        result["running"] = "not measured (run with --nodeagent)"
    return result


async def wait_until(done: Any, what: str, count: Any, total: int) -> None:
    """Poll `done()` (a counter filled by the subscription) up to PHASE_TIMEOUT_S."""
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    while not done():
        if time.monotonic() > deadline:
            _progress(f"timed out: {count()}/{total} {what}")
            return
        await asyncio.sleep(0.2)


async def ready_nodes(api_url: str) -> int:
    """Ready nodes, listed over HTTP (a list of 1,000 nodes exceeds a NATS message)."""
    async with httpx.AsyncClient(timeout=30, verify=ADMIN_TLS[-1]) as http:
        items = (await http.get(api_url + "/api/v1/nodes")).json().get("items") or []
    return sum(
        1 for n in items
        if any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (n.get("status") or {}).get("conditions") or ())
    )


def _info(plural: str) -> Any:
    from kubelite.api.scheme import resolve

    return resolve(plural)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--pods", type=int, default=10000)
    p.add_argument("--clients", type=int, default=64, help="create requests in flight")
    p.add_argument("--rate", type=float, default=0.0,
                   help="create pods at this many per second (open loop; latency counts from each "
                        "pod's due time); 0: as fast as the apiserver takes them")
    p.add_argument("--parallel-binds", type=int, default=64)
    p.add_argument("--percentage-of-nodes-to-score", type=int, default=0)
    p.add_argument("--apiserver-workers", type=int, default=1)
    p.add_argument("--storage-compression", choices=["zlib", "none"], default="zlib",
                   help="the apiserver's --storage-compression (how etcd stores objects)")
    p.add_argument("--etcd-fsync", action=argparse.BooleanOptionalAction, default=True,
                   help="etcd WAL fsync on (production) or off")
    p.add_argument("--nodeagent", action="store_true",
                   help="run the fake-runtime node agent (it registers the nodes) and also measure create→Running")
    p.add_argument("--scheduler-arg", action="append", default=[], help="extra scheduler flag (repeatable)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    if opts.nodeagent and not nodeagent_available():
        sys.exit("scheduler_bench: kubelite-nodeagent with --runtime fake --fake-nodes is not available")
    cluster = start_cluster(opts)
    try:
        result = asyncio.run(run(opts, cluster))
    finally:
        cluster.stop(keep_dir=opts.keep)
    print_table(result)
    print("BENCH_JSON " + json.dumps({
        "options": {k: v for k, v in vars(opts).items()}, "results": result,
        "loadavg": os.getloadavg()[0], "python": platform.python_version(),
        "target_pods_per_s": TARGET_PODS_PER_S,
        # the throughput target applies to the burst (unpaced) run only
        "target_met": None if opts.rate > 0 else result["bound_per_s"] >= TARGET_PODS_PER_S,
    }))


if __name__ == "__main__":
    main()
