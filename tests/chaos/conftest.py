"""A whole kubelite cluster of real processes per test, and the means to SIGKILL any part.

Each test gets its own etcd, NATS and apiserver on fixed ports (so a restarted
part comes back where the others expect it), plus whatever services it starts
with `ChaosCluster.service()`. Every process can be SIGKILLed (a crash, not a
shutdown) and started again with the same command line. Nothing here uses gRPC
in the test process (etcd is read through its JSON gateway), so forking service
processes from the test stays safe.

Convergence times measured by the tests are collected with `record_timing` and
printed as a table at the end of the session (the numbers in docs/resilience.md).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubelite import devservers
from kubelite.client.tls import client_context
from kubelite.credentials import (
    NATS_CONFIG,
    admin_credentials,
    ensure_credentials,
    ensure_node_credentials,
)
from kubelite.devservers import ServerProcess
from kubelite.pki import ClusterPKI
from kubelite.storage import compression

BIN = Path(sys.executable).parent
TIMINGS: list[tuple[str, float]] = []


def record_timing(what: str, seconds: float) -> None:
    """Remember a measured convergence time for the end-of-session table."""
    TIMINGS.append((what, seconds))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TIMINGS:
        return
    terminalreporter.section("chaos: time to converge after each kill")
    for what, seconds in TIMINGS:
        terminalreporter.write_line(f"{seconds:7.2f}s  {what}")


@dataclass
class Component:
    """One service process started from a fixed command line; SIGKILL and start again."""

    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        assert not self.alive, f"{self.name} is already running"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"==== start #{self.starts + 1}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
            )  # fmt: skip
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def kill(self) -> None:
        """SIGKILL: a crash at whatever the process was doing; its children are left alone."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, timeout: float = 10) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "".join(self.log_path.read_text(errors="replace").splitlines(True)[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class ChaosCluster:
    base: Path
    etcd_client_port: int = field(default_factory=devservers.free_port)
    etcd_peer_port: int = field(default_factory=devservers.free_port)
    nats_port: int = field(default_factory=devservers.free_port)
    api_port: int = field(default_factory=devservers.free_port)
    etcd: ServerProcess | None = None
    nats: ServerProcess | None = None
    components: dict[str, Component] = field(default_factory=dict)

    # -- etcd and NATS: same ports and data dirs on every start -------------------
    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_client_port}"

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def pki(self) -> ClusterPKI:
        """The cluster's credentials (made once, kept across restarts; the simulator's for the
        fake-node agents)."""
        return ensure_credentials(self.base, simulator=True)

    def add_node(self, name: str) -> None:
        """A real node's certificates, and the running NATS told to admit it."""
        ensure_node_credentials(self.pki, [name])
        assert self.nats is not None
        devservers.reload_nats(self.nats)

    @property
    def pki_flag(self) -> list[str]:
        return ["--pki-dir", str(self.pki.root)]

    @property
    def admin_tls(self) -> ssl.SSLContext:
        admin = admin_credentials(self.pki)
        return client_context(ca_pem=admin.ca_pem, cert_pem=admin.cert_pem, key_pem=admin.key_pem)

    def start_etcd(self) -> None:
        self.etcd = devservers.start_etcd(
            self.base / "etcd", client_port=self.etcd_client_port, peer_port=self.etcd_peer_port,
            log_path=self.base / "etcd.log", unsafe_no_fsync=True,
        )  # fmt: skip

    def kill_etcd(self) -> None:
        assert self.etcd is not None
        self.etcd.popen.send_signal(signal.SIGKILL)
        self.etcd.popen.wait(10)

    def start_nats(self) -> None:
        self.nats = devservers.start_nats(
            self.base / "nats", port=self.nats_port, log_path=self.base / "nats.log",
            config=self.pki.root / NATS_CONFIG,
        )

    def kill_nats(self) -> None:
        assert self.nats is not None
        self.nats.popen.send_signal(signal.SIGKILL)
        self.nats.popen.wait(10)

    # -- kubelite services ------------------------------------------------------
    def service(self, name: str, command: str, *args: str, start: bool = True) -> Component:
        comp = Component(name, [str(BIN / command), *args], self.base / f"{name}.log")
        self.components[name] = comp
        if start:
            comp.start()
        return comp

    def apiserver(self, *extra: str) -> Component:
        return self.service(
            "apiserver", "kubelite-apiserver", "--etcd", self.etcd_url, "--nats", self.nats_url,
            "--port", str(self.api_port), "--bind-address", "127.0.0.1", "--pki-dir", str(self.pki.root),
            "--service-cluster-ip-range", "10.96.0.0/20", *extra,
        )  # fmt: skip

    def scheduler(self, name: str = "scheduler", *extra: str) -> Component:
        return self.service(
            name, "kubelite-scheduler", "--etcd", self.etcd_url, "--nats", self.nats_url, *self.pki_flag,
            "--leader-elect-lease-duration", "3", "--no-decisions", *extra,
        )  # fmt: skip

    def controller_manager(self, name: str = "controller-manager", *extra: str) -> Component:
        return self.service(
            name, "kubelite-controller-manager", "--etcd", self.etcd_url, "--nats", self.nats_url, *self.pki_flag,
            "--leader-elect-lease-duration", "3s", "--leader-elect-retry-period", "500ms",
            "--resync-period", "20s", "--identity", name, *extra,
        )  # fmt: skip

    def fake_nodes(self, name: str, count: int, *extra: str) -> Component:
        """One agent process running `count` fake nodes named <name>-<i>."""
        return self.service(
            name, "kubelite-nodeagent", "--nats", self.nats_url, *self.pki_flag, "--node-name", name,
            "--runtime", "fake", "--fake-nodes", str(count), "--root-dir", str(self.base / name),
            "--node-status-update-frequency", "2s", "--resync-period", "20s", *extra,
        )  # fmt: skip

    def logs(self, lines: int = 20) -> str:
        """Log tails of every service, for failure messages."""
        return "\n".join(f"--- {c.name} ({'alive' if c.alive else 'dead'})\n{c.log_tail(lines)}"
                         for c in self.components.values())

    def stop_all(self) -> None:
        for comp in self.components.values():
            with contextlib.suppress(Exception):
                comp.stop(5)
        for server in (self.nats, self.etcd):
            if server is not None:
                with contextlib.suppress(Exception):
                    server.stop(5)

    # -- reading etcd without gRPC --------------------------------------------------
    def etcd_range(self, prefix: str) -> dict[str, bytes]:
        """Every key under `prefix` with its value (inflated, as EtcdStore reads it: see
        kubelite.storage.compression), through etcd's JSON gateway."""
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        body = json.dumps({"key": _b64(prefix), "range_end": _b64(end)}).encode()
        r = httpx.post(f"{self.etcd_url}/v3/kv/range", content=body, timeout=10)
        r.raise_for_status()
        return {base64.b64decode(kv["key"]).decode(): compression.unpack(base64.b64decode(kv.get("value", "")))
                for kv in r.json().get("kvs", [])}


    def kill_on_next_put(self, prefix: str, comp: Component, timeout: float = 30) -> threading.Thread:
        """A thread that SIGKILLs `comp` the moment etcd reports the next write under `prefix`
        (the process is then somewhere right after that write: a dangerous moment).

        The watch runs in a child process of its own: in this process the kill would wait
        for the GIL behind the test's client load, and land after the window it aims at."""
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        req = json.dumps({"create_request": {"key": _b64(prefix), "range_end": _b64(end)}})
        child = subprocess.Popen([sys.executable, "-c", _KILL_ON_PUT, f"{self.etcd_url}/v3/watch", req,
                                  str(comp.pid), str(timeout)], stdout=subprocess.PIPE)
        assert child.stdout is not None
        started = child.stdout.readline() == b"created\n"

        def run() -> None:
            child.wait(timeout + 5)
            comp.kill()  # reaps it (the child sent the SIGKILL)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        assert started, "etcd watch not created"
        return thread


_KILL_ON_PUT = """
import os, signal, sys, httpx
url, req, pid, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
with httpx.stream("POST", url, content=req, timeout=timeout) as r:
    for line in r.iter_lines():
        if '"created":true' in line.replace(" ", ""):
            print("created", flush=True)
        if '"events"' in line:
            os.kill(pid, signal.SIGKILL)
            break
"""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def wait_api_ready(cluster: ChaosCluster, http: httpx.AsyncClient, timeout: float = 60) -> float:  # noqa: ASYNC109
    """Wait until /readyz answers 200; return the seconds it took. Fails if the apiserver died."""
    t0 = time.monotonic()
    api = cluster.components["apiserver"]
    while time.monotonic() - t0 < timeout:
        assert api.alive, f"apiserver exited:\n{api.log_tail()}"
        with contextlib.suppress(httpx.HTTPError):
            if (await http.get("/readyz", timeout=2)).status_code == 200:
                return time.monotonic() - t0
        await asyncio.sleep(0.1)
    raise AssertionError(f"apiserver not ready after {timeout}s:\n{api.log_tail()}")


async def converge(
    predicate: Callable[[], Awaitable[str | None]],
    *,
    timeout: float,  # noqa: ASYNC109 - a polling deadline
    message: str,
    cluster: ChaosCluster,
    interval: float = 0.2,
) -> float:
    """Poll `predicate` (async; returns None once converged, else what is still wrong) and
    return the seconds taken. On timeout fail with the last answer and every log tail."""
    t0 = time.monotonic()
    last: Any = None
    while True:
        try:
            last = await predicate()
            if last is None:
                return time.monotonic() - t0
        except (AssertionError, httpx.HTTPError) as exc:
            last = exc
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{message} (after {timeout}s; last: {last!r})\n{cluster.logs()}")
        await asyncio.sleep(interval)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[ChaosCluster]:
    """etcd + NATS + apiserver; the test adds the rest. Everything is stopped afterwards."""
    c = ChaosCluster(tmp_path)
    try:
        c.start_etcd()
        c.start_nats()
        c.apiserver()
        yield c
    finally:
        c.stop_all()


@pytest.fixture
async def http(cluster: ChaosCluster) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=cluster.api_url, timeout=20, verify=cluster.admin_tls) as client:
        await wait_api_ready(cluster, client)
        yield client


class Watch:
    """An HTTP watch (`?watch=true`) on a collection, applied to `objects` as events arrive.

    `on_event(type, obj, objects)` runs after each event, so a test can check an
    invariant at every moment the store went through, not only at the end.

    `resume=True`: as client-go's reflector, when the stream ends (the apiserver ended it, or
    could not answer) watch again from the last resourceVersion seen; `resumes` counts it."""

    def __init__(
        self, http: httpx.AsyncClient, path: str,
        on_event: Callable[[str, dict[str, Any], dict[str, dict[str, Any]]], None] | None = None,
        *, resume: bool = False,
    ) -> None:  # fmt: skip
        self.http, self.path, self.on_event, self.resume = http, path, on_event, resume
        self.objects: dict[str, dict[str, Any]] = {}
        self.events = 0
        self.resumes = 0
        self.rv = ""
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def __aenter__(self) -> Watch:
        listing = (await self.http.get(self.path)).json()
        for obj in listing["items"]:
            self._apply("ADDED", obj)
        rv = listing["metadata"]["resourceVersion"]
        self._task = asyncio.create_task(self._run(rv))
        await asyncio.wait_for(self._ready.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        if self._task.done() and self._task.exception() is not None and exc[0] is None:
            raise AssertionError(f"watch on {self.path} failed") from self._task.exception()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task

    async def _run(self, rv: str) -> None:
        self.rv = rv
        while True:
            try:
                await self._stream()
            except (httpx.TransportError, AssertionError):
                if not self.resume or not self._ready.is_set():
                    raise
                await asyncio.sleep(0.2)  # the apiserver could not answer (etcd down): again
            if not self.resume:
                return
            self.resumes += 1

    async def _stream(self) -> None:
        sep = "&" if "?" in self.path else "?"
        url = f"{self.path}{sep}watch=true&resourceVersion={self.rv}"
        async with self.http.stream("GET", url, timeout=httpx.Timeout(10, read=None)) as resp:
            assert resp.status_code == 200, f"watch {url}: {resp.status_code}"
            self._ready.set()
            async for line in resp.aiter_lines():
                if line.strip():
                    event = json.loads(line)
                    self._apply(event["type"], event["object"])
                    self.rv = event["object"]["metadata"]["resourceVersion"]

    def _apply(self, kind: str, obj: dict[str, Any]) -> None:
        if kind == "ERROR":
            raise AssertionError(f"watch error: {obj}")
        name = obj["metadata"]["name"]
        if kind == "DELETED":
            self.objects.pop(name, None)
        else:
            self.objects[name] = obj
        self.events += 1
        if self.on_event is not None:
            self.on_event(kind, obj, self.objects)

    def check_alive(self) -> None:
        assert self._task is not None
        if self._task.done():
            raise AssertionError(f"watch on {self.path} ended: {self._task!r}")
