"""apiserver benchmark: create throughput, request latency, paced writes, watch delay.

Starts its own etcd, NATS and `kubelite-apiserver` in a temporary directory
(or measures a running one with --url), then drives the HTTP API with httpx
over HTTP/1.1 keep-alive connections:

1. create   --pods small pods with --clients concurrent clients (creates/s, latency)
2. get      random GETs of those pods for --duration seconds (latency)
3. list     LIST of a namespace holding --list-size pods (latency)
4. paced    open-loop creates at --rate writes/s for --duration seconds; latency is
            measured from each request's scheduled send time, so a slow server
            cannot hide its backlog (no coordinated omission). Meanwhile a
            `?watch=true` stream on that namespace timestamps every ADDED event:
            watch delay = receipt time - time the create returned (and - sent).

Prints a table and one JSON line (prefix `BENCH_JSON `). Every phase and the
whole run are bounded in time; servers it started are stopped on exit.

    .venv/bin/python bench/apiserver_bench.py [--clients 64] [--pods 5000] [--rate 500]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import itertools
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
from clientpool import ClientPool

from kubelite.client.kubeconfig import load_kubeconfig
from kubelite.client.tls import client_context
from kubelite.credentials import NATS_CONFIG, admin_credentials, ensure_credentials, etcd_server_tls
from kubelite.devservers import ServerProcess, free_port, start_etcd, start_nats

# Targets recorded in docs/benchmarks.md.
TARGET_CREATES_PER_S = 1000.0
TARGET_PACED_P99_MS = 50.0
TARGET_WATCH_P99_MS = 50.0

REQUEST_TIMEOUT_S = 10.0
APISERVER_START_TIMEOUT_S = 60.0


# ---------------------------------------------------------------- pure helpers


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (NaN when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(pct / 100.0 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


@dataclass
class Sample:
    """Latencies (seconds) and error count of one phase."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    wall_s: float = 0.0

    def error(self, what: str) -> None:
        self.errors += 1
        if not self.first_error:
            self.first_error = what

    def summary(self) -> dict[str, float | int | str]:
        lat = sorted(self.latencies)
        out: dict[str, float | int | str] = {
            "count": len(lat),
            "errors": self.errors,
            "p50_ms": round(percentile(lat, 50) * 1000, 2),
            "p99_ms": round(percentile(lat, 99) * 1000, 2),
            "max_ms": round(lat[-1] * 1000, 2) if lat else float("nan"),
        }
        if self.wall_s > 0:  # a timed phase, not a derived measurement
            out["wall_s"] = round(self.wall_s, 2)
            out["per_s"] = round(len(lat) / self.wall_s, 1)
        if self.first_error:
            out["first_error"] = self.first_error[:200]
        return out


def pod_manifest(name: str) -> bytes:
    """A small valid pod (about 250 bytes of JSON)."""
    return msgspec.json.encode(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "bench"}},
            "spec": {
                "containers": [
                    {"name": "c", "image": "kubelite/busybox:latest", "command": ["sleep", "3600"]}
                ]
            },
        }
    )


def paced_schedule(rate: float, duration: float) -> Iterator[float]:
    """Send offsets (seconds from start) of an open-loop constant-rate load."""
    count = int(rate * duration)
    for i in range(count):
        yield i / rate


def format_table(results: dict[str, dict[str, float | int | str]]) -> str:
    cols = ("count", "errors", "per_s", "p50_ms", "p99_ms", "max_ms")
    lines = [f"{'phase':<24}" + "".join(f"{c:>10}" for c in cols)]
    for name, row in results.items():
        cells = "".join(f"{row.get(c, ''):>10}" for c in cols)
        lines.append(f"{name:<24}{cells}")
    return "\n".join(lines)


# ---------------------------------------------------------------- the cluster


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: the apiserver gets SIGTERM if this benchmark is killed.
    ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)


class TLS:
    """How every client of this run verifies the apiserver and proves who it is (the admin)."""

    context: Any = True


@dataclass
class Cluster:
    url: str
    processes: list[ServerProcess | subprocess.Popen[bytes]] = field(default_factory=list)
    workdir: Path | None = None

    def stop(self, keep_dir: bool = False) -> None:
        for proc in reversed(self.processes):
            if isinstance(proc, ServerProcess):
                proc.stop()
                continue
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        self.processes.clear()
        if self.workdir is not None and not keep_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def pids(self) -> dict[str, int]:
        """The pids whose CPU a bench reads: etcd (started first) and the apiserver (last)."""
        return {"apiserver": self.processes[-1].pid, "etcd": self.processes[0].pid}


def use_uvloop() -> None:
    """uvloop when installed: the clients' TLS in uvloop costs a fraction of asyncio's."""
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()


def apiserver_command() -> list[str]:
    exe = Path(sys.executable).parent / "kubelite-apiserver"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("kubelite-apiserver")
    if found:
        return [found]
    return [sys.executable, "-m", "kubelite_apiserver"]


def start_cluster(etcd_fsync: bool, extra_apiserver_args: list[str]) -> Cluster:
    workdir = Path(tempfile.mkdtemp(prefix="kubelite-bench-"))
    cluster = Cluster(url="", workdir=workdir)
    try:
        pki = ensure_credentials(workdir)
        etcd = start_etcd(  # as a cluster runs it: TLS, client certificates
            workdir / "etcd",
            client_port=free_port(),
            peer_port=free_port(),
            log_path=workdir / "etcd.log",
            unsafe_no_fsync=not etcd_fsync,
            die_with_parent=True,
            tls=etcd_server_tls(pki),
        )
        cluster.processes.append(etcd)
        nats = start_nats(
            workdir / "nats", port=free_port(), log_path=workdir / "nats.log", die_with_parent=True,
            config=pki.root / NATS_CONFIG,
        )
        cluster.processes.append(nats)
        port = free_port()
        admin = admin_credentials(pki)
        TLS.context = client_context(ca_pem=admin.ca_pem, cert_pem=admin.cert_pem, key_pem=admin.key_pem)
        argv = [
            *apiserver_command(),
            "--etcd", etcd.url,
            "--nats", nats.url,
            "--bind-address", "127.0.0.1",
            "--port", str(port),
            "--pki-dir", str(pki.root),
            *extra_apiserver_args,
        ]  # fmt: skip
        log_path = workdir / "apiserver.log"
        with open(log_path, "ab") as log:
            apiserver = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        cluster.processes.append(apiserver)
        cluster.url = f"https://127.0.0.1:{port}"
        wait_for_apiserver(cluster.url, apiserver, log_path)
        TLS.context = bench_user(cluster.url, pki)
    except BaseException:
        cluster.stop(keep_dir=True)
        _progress(f"startup failed; logs kept in {workdir}")
        raise
    return cluster


BENCH_USER = "kubelite-bench"


def bench_user(url: str, pki: Any) -> Any:
    """The clients' identity: a user outside system:masters, bound to cluster-admin by a
    ClusterRoleBinding, so every request walks RBAC (the admin would bypass it)."""
    pair = pki.ensure_leaf("bench", "client-ca", BENCH_USER, client=True)
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": BENCH_USER},
               "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": BENCH_USER}],
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}}
    with httpx.Client(base_url=url, verify=TLS.context, timeout=10) as admin:
        r = admin.post("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", json=binding)
        if r.status_code not in (201, 409):
            raise RuntimeError(f"cannot bind the bench user: {r.status_code} {r.text}")
    ca = pki.crt("cluster-ca").read_bytes()
    ctx = client_context(ca_pem=ca, cert_pem=pair.cert_pem, key_pem=pair.key_pem)
    deadline = time.monotonic() + 10  # the binding reaches the apiserver's RBAC cache by a watch
    with httpx.Client(base_url=url, verify=ctx, timeout=5) as user:
        while user.get("/api/v1/namespaces", params={"limit": 1}).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the bench user's binding never took effect")
            time.sleep(0.05)
    return ctx


def wait_for_apiserver(url: str, proc: subprocess.Popen[bytes] | None, log_path: Path) -> None:
    deadline = time.monotonic() + APISERVER_START_TIMEOUT_S
    last = "no answer yet"
    with httpx.Client(timeout=2.0, verify=TLS.context) as client:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
                raise RuntimeError(
                    f"kubelite-apiserver exited with code {proc.returncode} during startup:\n{tail}"
                )
            try:
                resp = client.get(f"{url}/api/v1/namespaces/default/pods", params={"limit": 1})
                if resp.status_code == 200:
                    return
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.1)
    raise TimeoutError(f"apiserver at {url} not ready after {APISERVER_START_TIMEOUT_S}s ({last})")


# ---------------------------------------------------------------- load phases


JSON_HEADERS = {"Content-Type": "application/json"}

# One request, given the client to send it on.
Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]
# Checks a 2xx response body; returns what is wrong, or None.
Check = Callable[[httpx.Response], str | None]


def pods_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods"


async def timed(
    sample: Sample,
    client: httpx.AsyncClient,
    request: Request,
    ok: int,
    check: Check | None = None,
    started: float | None = None,
) -> None:
    """Send one request; record its latency in `sample` when it answered `ok`.

    `started` (perf_counter) overrides the start time: paced requests count from
    when they were due, so queueing in the client is part of their latency.
    """
    start = time.perf_counter() if started is None else started
    try:
        resp = await request(client)
    except httpx.HTTPError as exc:
        sample.error(repr(exc))
        return
    if resp.status_code != ok:
        sample.error(f"HTTP {resp.status_code}: {resp.text[:200]}")
        return
    problem = check(resp) if check else None
    if problem:
        sample.error(problem)
        return
    sample.latencies.append(time.perf_counter() - start)


async def closed_loop(
    pool: ClientPool,
    workers: int,
    sample: Sample,
    requests: Iterator[Request],
    ok: int,
    time_limit: float,
    check: Check | None = None,
) -> None:
    """`workers` clients, each sending its next request as soon as the last one answered."""
    deadline = time.monotonic() + time_limit

    async def worker() -> None:
        async with pool.acquire() as client:
            for request in requests:  # one shared iterator: each request is sent once
                if time.monotonic() > deadline:
                    return
                await timed(sample, client, request, ok, check)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(workers, len(pool.clients)))))
    sample.wall_s = time.perf_counter() - start


async def open_loop(
    pool: ClientPool, sample: Sample, requests: Iterator[Request], rate: float, duration: float
) -> None:
    """Request i is due at start + i/rate, sent whether or not earlier ones have answered."""
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[None]] = []

    async def one(request: Request, due: float) -> None:
        async with pool.acquire() as client:
            await timed(sample, client, request, 201, started=due)

    start_loop, start_perf = loop.time(), time.perf_counter()
    for offset, request in zip(paced_schedule(rate, duration), requests, strict=False):
        # sleep(0) when behind still yields, so sent requests make progress.
        await asyncio.sleep(max(0.0, start_loop + offset - loop.time()))
        tasks.append(asyncio.create_task(one(request, start_perf + offset)))
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT_S * 2)
        for task in pending:
            task.cancel()
            sample.error(f"no answer within {REQUEST_TIMEOUT_S * 2:g}s of the last send")
    sample.wall_s = time.perf_counter() - start_perf


def create_request(namespace: str, name: str, created: list[str] | None = None) -> Request:
    path, body = pods_path(namespace), pod_manifest(name)

    async def send(client: httpx.AsyncClient) -> httpx.Response:
        resp = await client.post(path, content=body, headers=JSON_HEADERS)
        if created is not None and resp.status_code == 201:
            created.append(name)
        return resp

    return send


def get_requests(namespace: str, names: list[str]) -> Iterator[Request]:
    rng = random.Random(1)
    while True:
        path = f"{pods_path(namespace)}/{rng.choice(names)}"

        async def send(client: httpx.AsyncClient, path: str = path) -> httpx.Response:
            return await client.get(path)

        yield send


def list_requests(namespace: str) -> Iterator[Request]:
    path = pods_path(namespace)

    async def send(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get(path)

    while True:
        yield send


def list_size_check(expect: int) -> Check:
    def check(resp: httpx.Response) -> str | None:
        items = len(msgspec.json.decode(resp.content).get("items") or [])
        return None if items == expect else f"list returned {items} pods, expected {expect}"

    return check


async def ensure_namespace(pool: ClientPool, name: str) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    async with pool.acquire() as client:
        resp = await client.post("/api/v1/namespaces", json=body)
    if resp.status_code not in (200, 201, 409):
        raise RuntimeError(f"creating namespace {name}: HTTP {resp.status_code} {resp.text[:300]}")


class WatchEvent(msgspec.Struct):
    type: str
    object: dict[str, Any]


@dataclass
class WatchTimes:
    """Per pod name: when its create was sent, returned, and its ADDED event arrived."""

    sent: dict[str, float] = field(default_factory=dict)
    returned: dict[str, float] = field(default_factory=dict)
    received: dict[str, float] = field(default_factory=dict)
    expected: int = 0  # set once the writes are done
    all_received: asyncio.Event = field(default_factory=asyncio.Event)
    error: str = ""

    def check_complete(self) -> None:
        if self.expected and len(self.received) >= self.expected:
            self.all_received.set()


def watched_create_requests(namespace: str, times: WatchTimes) -> Iterator[Request]:
    """Creates w-000000, w-000001, … recording send and return times for the watch."""
    path = pods_path(namespace)
    for i in itertools.count():
        name, body = f"w-{i:06d}", pod_manifest(f"w-{i:06d}")

        async def send(
            client: httpx.AsyncClient, name: str = name, body: bytes = body
        ) -> httpx.Response:
            times.sent[name] = time.perf_counter()
            resp = await client.post(path, content=body, headers=JSON_HEADERS)
            if resp.status_code == 201:
                times.returned[name] = time.perf_counter()
            return resp

        yield send


async def list_resource_version(client: httpx.AsyncClient, namespace: str) -> str:
    resp = await client.get(pods_path(namespace))
    resp.raise_for_status()
    return str(msgspec.json.decode(resp.content)["metadata"]["resourceVersion"])


async def watch_pods(
    client: httpx.AsyncClient, namespace: str, resource_version: str, times: WatchTimes
) -> None:
    """Stream `?watch=true` and timestamp ADDED events (newline-delimited JSON)."""
    params = {"watch": "true", "resourceVersion": resource_version}
    try:
        decoder = msgspec.json.Decoder(WatchEvent)
        async with client.stream(
            "GET", pods_path(namespace), params=params, timeout=httpx.Timeout(None, connect=5.0)
        ) as resp:
            if resp.status_code != 200:
                times.error = f"watch: HTTP {resp.status_code}"
                return
            buffer = b""
            async for chunk in resp.aiter_bytes():
                now = time.perf_counter()
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if not line.strip():
                        continue
                    event = decoder.decode(line)
                    meta = event.object.get("metadata")
                    if event.type == "ADDED" and isinstance(meta, dict):
                        times.received.setdefault(str(meta.get("name")), now)
                times.check_complete()
    except Exception as exc:  # any failure must release the waiting writer
        times.error = f"watch: {exc!r}"


def watch_delays(times: WatchTimes) -> tuple[Sample, Sample]:
    after_return = Sample("watch delay (after return)")
    after_send = Sample("watch delay (after send)")
    for name, returned in times.returned.items():
        received = times.received.get(name)
        if received is None:
            after_return.error(f"no ADDED event for {name}")
            after_send.error(f"no ADDED event for {name}")
            continue
        # Negative when the event overtook the HTTP response: delivery was immediate.
        after_return.latencies.append(max(0.0, received - returned))
        after_send.latencies.append(received - times.sent[name])
    return after_return, after_send


# ---------------------------------------------------------------- main


@dataclass
class Options:
    clients: int
    pods: int
    rate: float
    duration: float
    list_size: int
    list_clients: int
    url: str | None
    etcd_fsync: bool
    timeout: float
    apiserver_args: list[str]
    kubeconfig: str | None = None
    authz_baseline: bool = False


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--clients", type=int, default=64, help="concurrent clients (default 64)")
    p.add_argument(
        "--pods", type=int, default=5000, help="pods to create in phase 1 (default 5000)"
    )
    p.add_argument(
        "--rate", type=float, default=500.0, help="paced writes/s in phase 4 (default 500)"
    )
    p.add_argument(
        "--duration",
        type=float,
        default=10.0,
        help="seconds for get/list/paced phases (default 10)",
    )
    p.add_argument(
        "--list-size", type=int, default=500, help="pods in the listed namespace (default 500)"
    )
    p.add_argument(
        "--list-clients", type=int, default=4, help="concurrent LIST clients (default 4)"
    )
    p.add_argument("--url", help="measure this running apiserver instead of starting one")
    p.add_argument("--authz-baseline", action="store_true",
                   help="also measure creates on a second apiserver with authorization off (same TLS), "
                        "and report the RBAC/off throughput ratio")
    p.add_argument("--kubeconfig", help="with --url: the CA and client certificate to use (default: $KUBECONFIG)")
    p.add_argument(
        "--etcd-fsync",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="etcd fsyncs its WAL as in production (default on; --no-etcd-fsync for tmpfs-like)",
    )
    p.add_argument(
        "--timeout", type=float, default=600.0, help="hard limit for the whole run, seconds"
    )
    p.add_argument(
        "--apiserver-arg",
        action="append",
        default=[],
        dest="apiserver_args",
        help="extra flag for kubelite-apiserver (repeatable)",
    )
    a = p.parse_args(argv)
    return Options(
        clients=a.clients,
        pods=a.pods,
        rate=a.rate,
        duration=a.duration,
        list_size=a.list_size,
        list_clients=a.list_clients,
        url=a.url,
        etcd_fsync=a.etcd_fsync,
        timeout=a.timeout,
        apiserver_args=a.apiserver_args,
        kubeconfig=a.kubeconfig,
        authz_baseline=a.authz_baseline,
    )


async def run(opts: Options, url: str) -> dict[str, dict[str, float | int | str]]:
    # Run id in namespace names: re-running against one --url never collides.
    run_id = format(int(time.time()) % 100000, "05d")
    ns_create, ns_list, ns_paced = (f"bench-{p}-{run_id}" for p in ("create", "list", "paced"))
    results: dict[str, dict[str, float | int | str]] = {}

    def record(key: str, sample: Sample) -> None:
        results[key] = sample.summary()
        _progress(f"{key}: {results[key]}")

    async with (
        ClientPool(url, opts.clients, verify=TLS.context, timeout=REQUEST_TIMEOUT_S) as pool,
        httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S, verify=TLS.context) as watch_client,
    ):
        for ns in (ns_create, ns_list, ns_paced):
            await ensure_namespace(pool, ns)

        created, create = await create_phase(pool, opts, ns_create)
        record("create", create)

        get = Sample("get")
        await closed_loop(
            pool, opts.clients, get, get_requests(ns_create, created), 200, opts.duration
        )
        record("get", get)

        fill = Sample("list fill")
        fills = (create_request(ns_list, f"l-{i:06d}") for i in range(opts.list_size))
        await closed_loop(pool, opts.clients, fill, fills, 201, opts.timeout / 6)
        listing = Sample("list")
        await closed_loop(
            pool, opts.list_clients, listing, list_requests(ns_list), 200, opts.duration,
            check=list_size_check(opts.list_size),
        )  # fmt: skip
        record(f"list {opts.list_size} pods", listing)

        times = WatchTimes()
        # Watch from the list's resourceVersion: every later create is delivered
        # however long the server takes to register the watch, so the writes need
        # not wait for it (a server may hold the response headers until the first event).
        start_rv = await list_resource_version(watch_client, ns_paced)
        watcher = asyncio.create_task(watch_pods(watch_client, ns_paced, start_rv, times))
        paced = Sample("paced")
        writes = watched_create_requests(ns_paced, times)
        await open_loop(pool, paced, writes, opts.rate, opts.duration)
        record(f"paced write {opts.rate:g}/s", paced)
        # Trailing events get a bounded moment to arrive.
        times.expected = len(times.returned)
        times.check_complete()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(times.all_received.wait(), timeout=5.0)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        after_return, after_send = watch_delays(times)
        record("watch delay after return", after_return)
        record("watch delay after send", after_send)
        if times.error:
            results["watch delay after return"]["first_error"] = times.error
    return results


async def create_phase(pool: ClientPool, opts: Options, ns: str) -> tuple[list[str], Sample]:
    created: list[str] = []
    creates = (create_request(ns, f"p-{i:06d}", created) for i in range(opts.pods))
    create = Sample("create")
    await closed_loop(pool, opts.clients, create, creates, 201, opts.timeout / 3)
    if not created:
        raise RuntimeError(f"no pod could be created: {create.first_error}")
    return created, create


async def create_only(opts: Options, url: str) -> dict[str, float | int | str]:
    """The create phase alone (the baseline run with authorization off)."""
    ns = f"bench-create-{format(int(time.time()) % 100000, '05d')}"
    async with ClientPool(url, opts.clients, verify=TLS.context, timeout=REQUEST_TIMEOUT_S) as pool:
        await ensure_namespace(pool, ns)
        _, create = await create_phase(pool, opts, ns)
    return create.summary()


def _progress(line: str) -> None:
    print(f"# {line}", file=sys.stderr, flush=True)


def verdict(results: dict[str, dict[str, float | int | str]], rate: float) -> dict[str, bool]:
    def num(phase: str, key: str) -> float:
        value = results.get(phase, {}).get(key, float("nan"))
        return float(value) if isinstance(value, int | float) else float("nan")

    return {
        f"creates_per_s>={TARGET_CREATES_PER_S:g}": num("create", "per_s") >= TARGET_CREATES_PER_S,
        f"paced_p99_ms<={TARGET_PACED_P99_MS:g}": num(f"paced write {rate:g}/s", "p99_ms")
        <= TARGET_PACED_P99_MS,
        f"watch_p99_ms<={TARGET_WATCH_P99_MS:g}": num("watch delay after return", "p99_ms")
        <= TARGET_WATCH_P99_MS,
    }


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    use_uvloop()
    # SIGTERM unwinds like Ctrl-C so the finally below stops the servers.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    cluster: Cluster | None = None
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        if opts.url:
            url = opts.url.rstrip("/")
            TLS.context = load_kubeconfig(opts.kubeconfig).ssl_context() or True
            wait_for_apiserver(url, None, Path("/dev/null"))
        else:
            _progress("starting etcd, NATS and kubelite-apiserver")
            cluster = start_cluster(opts.etcd_fsync, opts.apiserver_args)
            url = cluster.url
        _progress(f"apiserver at {url}; {opts.clients} clients")
        results = asyncio.run(asyncio.wait_for(run(opts, url), timeout=opts.timeout))
        if opts.authz_baseline and cluster is not None:
            cluster.stop()
            _progress("baseline: a second apiserver with --authorization-mode AlwaysAllow (TLS kept)")
            cluster = start_cluster(opts.etcd_fsync, [*opts.apiserver_args, "--authorization-mode", "AlwaysAllow"])
            off = asyncio.run(asyncio.wait_for(create_only(opts, cluster.url), timeout=opts.timeout))
            results["create (authorization off)"] = off
            on_rate, off_rate = float(results["create"]["per_s"]), float(off["per_s"])
            results["create (authorization off)"]["rbac_on_ratio"] = round(on_rate / off_rate, 3) if off_rate else 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if cluster is not None:
            cluster.stop()
    checks = verdict(results, opts.rate)
    print(format_table(results))
    print()
    for name, ok in checks.items():
        print(f"target {name}: {'met' if ok else 'NOT met'}")
    record = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            # Other work on the machine skews every figure: record how busy it was.
            "loadavg_before": load_before,
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "options": {
            "clients": opts.clients,
            "pods": opts.pods,
            "rate": opts.rate,
            "duration": opts.duration,
            "list_size": opts.list_size,
            "list_clients": opts.list_clients,
            "etcd_fsync": opts.etcd_fsync,
            "external_url": bool(opts.url),
        },
        "results": results,
        "targets_met": checks,
    }
    print("BENCH_JSON " + json.dumps(record, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
