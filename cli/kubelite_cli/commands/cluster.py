"""`kubelite up|down|status --data-dir DIR`: a whole cluster as local detached processes."""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from kubelite import devservers
from kubelite.client.kubeconfig import write_kubeconfig
from kubelite.client.tls import client_context
from kubelite.credentials import (
    NATS_CONFIG,
    admin_credentials,
    ensure_credentials,
    etcd_server_tls,
    service_ip,
)
from kubelite.pki import ClusterPKI
from kubelite.printers import render_table
from kubelite_cli.cluster.procs import (
    is_running,
    remove_proxy_tables,
    spawn_detached,
    start_ticks,
    stop_all,
)
from kubelite_cli.cluster.services import SERVICES, Settings, launch_names, launches, node_names
from kubelite_cli.cluster.state import (
    ClusterState,
    ProcessRecord,
    load_state,
    remove_state,
    save_state,
)
from kubelite_cli.errors import CLIError

HOST = "127.0.0.1"
DEFAULT_PORTS = {"etcd": 2379, "etcd-peer": 2380, "nats": 4222, "apiserver": 6443}
# Without root the userspace proxy must bind cluster IPs itself: use loopback ones.
ROOT_SERVICE_RANGE = "10.96.0.0/16"
UNPRIVILEGED_SERVICE_RANGE = "127.96.0.0/16"


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick_ports(use_defaults: bool = True) -> dict[str, int]:
    """The default ports where free, OS-chosen free ones otherwise (all distinct)."""
    chosen: dict[str, int] = {}
    for name, default in DEFAULT_PORTS.items():
        if use_defaults and port_is_free(default):
            port = default
        else:
            port = devservers.free_port(HOST)
        while port in chosen.values():
            port = devservers.free_port(HOST)
        chosen[name] = port
    return chosen


def _log_tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_until(record: ProcessRecord, timeout: float, probe: Callable[[], str], *, during: str,
                waiting_for: str) -> None:
    """Poll `probe` ("" once ready, else what it saw) until ready; fail early if the process
    died, and after `timeout` with what the probe saw last."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if not is_running(record):
            raise CLIError(f"{record.name} exited during {during}; last log lines "
                           f"({record.log}): {_log_tail(record.log, 5)!r}")
        if not (last := probe()):
            return
        time.sleep(0.2)
    raise CLIError(f"{record.name} {waiting_for} after {timeout:.0f}s ({last}); see {record.log}")


def wait_readyz(url: str, record: ProcessRecord, timeout: float, tls: ssl.SSLContext | None = None) -> None:
    """Poll GET /readyz until 200 (anonymous: readyz is public); fail early if the process died."""

    def probe() -> str:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2, context=tls) as resp:
                return "" if resp.status == 200 else f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            return str(getattr(exc, "reason", exc))

    _wait_until(record, timeout, probe, during="startup", waiting_for=f"not ready at {url}/readyz")


def selected_services(only: str | None) -> set[str] | None:
    """--only a,b -> {"a", "b"} (None: all); unknown names are an error."""
    if only is None:
        return None
    names = {n.strip() for n in only.split(",") if n.strip()}
    known = {spec.name for spec in SERVICES}
    unknown = sorted(names - known)
    if unknown:
        raise CLIError(f"unknown service(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return names


def _server_record(server: devservers.ServerProcess) -> ProcessRecord:
    return ProcessRecord(name=server.name, pid=server.pid, argv=list(server.popen.args),
                         log=str(server.log_path), url=server.url,
                         start_ticks=start_ticks(server.pid))


def start_cluster(args: argparse.Namespace, data_dir: Path) -> ClusterState:
    """Start everything; on any failure stop what was started and raise."""
    logs = data_dir / "logs"
    only = selected_services(args.only)
    ports = pick_ports(use_defaults=not args.random_ports)
    apiserver_url = f"https://{HOST}:{ports['apiserver']}"
    service_range = ROOT_SERVICE_RANGE if os.geteuid() == 0 else UNPRIVILEGED_SERVICE_RANGE
    pki = ensure_credentials(data_dir, [service_ip(service_range)], nodes=node_names(args.nodes))
    admin = admin_credentials(pki)
    tls = client_context(ca_pem=admin.ca_pem)
    started: list[ProcessRecord] = []
    state = ClusterState(
        data_dir=str(data_dir), kubeconfig=str(data_dir / "kubeconfig"),
        apiserver_url=apiserver_url, etcd_url="", nats_url="",
        nodes=args.nodes, runtime=args.runtime,
        service_cluster_ip_range=service_range,
        node_monitor_grace_period=args.node_monitor_grace_period,
        default_unreachable_toleration_seconds=args.default_unreachable_toleration_seconds,
        default_not_ready_toleration_seconds=args.default_not_ready_toleration_seconds,
        started_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        processes=started,
    )
    try:
        etcd = devservers.start_etcd(data_dir / "etcd", client_port=ports["etcd"],
                                     peer_port=ports["etcd-peer"], log_path=logs / "etcd.log",
                                     host=HOST, tls=etcd_server_tls(pki))
        started.append(_server_record(etcd))
        nats = devservers.start_nats(data_dir / "nats", port=ports["nats"],
                                     log_path=logs / "nats.log", host=HOST, config=pki.root / NATS_CONFIG)
        started.append(_server_record(nats))
        state.etcd_url, state.nats_url = etcd.url, nats.url
        save_state(data_dir, state)  # from here on `down` can clean up even if we crash
        settings = Settings(
            data_dir=data_dir, etcd_url=etcd.url, nats_url=nats.url,
            apiserver_url=apiserver_url, apiserver_port=ports["apiserver"],
            nodes=args.nodes, runtime=args.runtime,
            service_cluster_ip_range=state.service_cluster_ip_range,
            node_monitor_grace_period=args.node_monitor_grace_period,
            default_unreachable_toleration_seconds=args.default_unreachable_toleration_seconds,
            default_not_ready_toleration_seconds=args.default_not_ready_toleration_seconds,
            keep_pods=getattr(args, "keep_pods", False),
            metrics_resolution=getattr(args, "metrics_resolution", None),
            hpa_sync_period=getattr(args, "hpa_sync_period", None),
            metrics_ports=_metrics_ports(args.nodes, set(ports.values())),
        )
        for spec in SERVICES:
            if only is not None and spec.name not in only and spec.name != "apiserver":
                continue
            for launch in launches(spec, settings):
                record = spawn_detached(launch.name, launch.argv, logs / f"{launch.name}.log")
                record.url, record.metrics_url = launch.url, launch.metrics_url
                started.append(record)
                save_state(data_dir, state)
                if spec.name == "apiserver":
                    wait_readyz(apiserver_url, record, args.timeout, tls)
    except BaseException:
        stop_all(started, timeout=5.0)
        remove_state(data_dir)
        raise
    write_kubeconfig(state.kubeconfig, apiserver_url, state.nats_url, admin)
    save_state(data_dir, state)
    return state


def _metrics_ports(nodes: int, taken: set[int]) -> dict[str, int]:
    """A free port on 127.0.0.1 for every process's /metrics (several node agents share the host)."""
    chosen: dict[str, int] = {}
    for name in launch_names(nodes):
        if name == "apiserver":
            continue  # its /metrics is on the API port
        port = devservers.free_port(HOST)
        while port in taken or port in chosen.values():
            port = devservers.free_port(HOST)
        chosen[name] = port
    return chosen


def crashed_after_start(records: list[ProcessRecord], settle: float) -> list[ProcessRecord]:
    """Processes that die within `settle` seconds of the start (a crash at startup)."""
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        dead = [r for r in records if not is_running(r)]
        if dead:
            return dead
        time.sleep(0.1)
    return []


def status_table(state: ClusterState) -> str:
    rows = [[r.name, str(r.pid), "alive" if is_running(r) else "dead", r.url or "-", r.metrics_url or "-", r.log]
            for r in state.processes]
    return render_table(["NAME", "PID", "STATE", "URL", "METRICS", "LOG"], rows)


def metrics_hint(state: ClusterState) -> str:
    """How to read a METRICS URL: the admin's certificate (or pki/monitoring.crt for a Prometheus)."""
    pki = Path(state.data_dir) / "pki"
    return (f"metrics:    curl --cacert {pki}/cluster-ca.crt --cert {pki}/monitoring.crt "
            f"--key {pki}/monitoring.key URL")


def run_certs(args: argparse.Namespace) -> int:
    """What running each service by hand needs: `<data-dir>/pki` and an admin kubeconfig."""
    data_dir = Path(args.data_dir).expanduser().resolve()
    nodes = [n for arg in args.node for n in arg.replace(",", " ").split()]  # "--node 'a b'" too (systemd units)
    pki = ensure_credentials(data_dir, args.host, nodes, simulator=args.node_simulator)
    state = load_state(data_dir)  # a cluster `up` started here: keep its URLs, reload its NATS
    server = args.server or (state.apiserver_url if state else "https://127.0.0.1:6443")
    nats_url = args.nats or (state.nats_url if state else "nats://127.0.0.1:4222")
    kubeconfig = write_kubeconfig(data_dir / "kubeconfig", server, nats_url, admin_credentials(pki))
    print(f"certificates in {pki.root} (every service: --pki-dir {pki.root})")
    print(f"nats-server configuration: {pki.root / NATS_CONFIG} (nats-server -c {pki.root / NATS_CONFIG})")
    nats = next((r for r in state.processes if r.name == "nats" and is_running(r)), None) if state else None
    if nats is not None:
        devservers.reload_nats_pid(nats.pid, Path(nats.log))
        print(f"the running nats-server (pid {nats.pid}) reloaded it")
    elif nodes:
        print("a running nats-server admits new nodes after `nats-server --signal reload` (or SIGHUP)")
    print(f"admin kubeconfig: {kubeconfig}")
    return 0


def run_up(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).expanduser().resolve()
    if args.nodes < 0:
        raise CLIError("--nodes must be >= 0")
    selected_services(args.only)  # reject unknown names before touching anything
    data_dir.mkdir(parents=True, exist_ok=True)
    existing = load_state(data_dir)
    if existing is not None:
        alive = [r for r in existing.processes if is_running(r)]
        if existing.processes and len(alive) == len(existing.processes):
            print(f"kubelite cluster already running in {data_dir}")
            print(status_table(existing))
            _deploy(existing, args)
            return 0
        if alive:
            return _restart_stopped(existing, args)
        remove_proxy_tables(existing.processes)
        remove_state(data_dir)
    print(f"starting kubelite cluster in {data_dir}", flush=True)
    state = start_cluster(args, data_dir)
    crashed = crashed_after_start(state.processes, args.settle_seconds)
    print(status_table(state))
    print(f"\napiserver:  {state.apiserver_url}\netcd:       {state.etcd_url}\n"
          f"nats:       {state.nats_url}\nkubeconfig: {state.kubeconfig}\n{metrics_hint(state)}\n"
          f"try:        kubelite --kubeconfig {state.kubeconfig} get nodes", flush=True)
    if crashed:
        # The rest keeps running so the logs and `status` can be inspected; `down` cleans up.
        names = ", ".join(f"{r.name} ({_last_line(r.log)})" for r in crashed)
        raise CLIError(f"exited right after start: {names}; logs in {data_dir / 'logs'}")
    _deploy(state, args)
    return 0


def _restart_stopped(state: ClusterState, args: argparse.Namespace) -> int:
    """`up` on a cluster part of which has stopped (a crash, a chaos kill): start those parts
    again, in start order and with the arguments they had; what runs is left alone, so pods
    keep running and a restarted node agent adopts its own. The options of this `up` do not
    apply (as when everything runs): `down` first to change them."""
    stopped = [r.name for r in state.processes if not is_running(r)]
    print(f"restarting what stopped: {', '.join(stopped)} (the rest keeps running)", flush=True)
    tls = client_context(ca_pem=ClusterPKI(Path(state.data_dir) / "pki").crt("cluster-ca").read_bytes())
    restarted = []
    for i, record in enumerate(state.processes):
        if is_running(record):
            continue
        stop_all([record], timeout=5.0)  # what its process group left behind, if anything
        fresh = spawn_detached(record.name, record.argv, Path(record.log))
        fresh.url, fresh.metrics_url = record.url, record.metrics_url
        state.processes[i] = fresh
        save_state(Path(state.data_dir), state)
        _wait_listening(state, fresh, args.timeout)
        restarted.append(fresh)
    apiserver = next((r for r in state.processes if r.name == "apiserver"), None)
    if apiserver is not None:  # its /readyz checks etcd: back once it reaches a restarted etcd
        wait_readyz(state.apiserver_url, apiserver, args.timeout, tls)
    crashed = crashed_after_start(restarted, args.settle_seconds)
    print(status_table(state))
    if crashed:
        names = ", ".join(f"{r.name} ({_last_line(r.log)})" for r in crashed)
        raise CLIError(f"exited right after a restart: {names}; logs in {Path(state.data_dir) / 'logs'}")
    _deploy(state, args)
    return 0


def _wait_listening(state: ClusterState, record: ProcessRecord, timeout: float) -> None:
    """Until a restarted etcd or NATS listens (the services after it need it); the apiserver
    is waited for once all are back (its /readyz needs etcd), the rest not, as at the first
    start."""
    if record.name not in ("etcd", "nats"):
        return
    address = urlsplit(state.etcd_url if record.name == "etcd" else state.nats_url)

    def probe() -> str:
        try:
            socket.create_connection((address.hostname or HOST, address.port or 0), timeout=1).close()
        except OSError as exc:
            return str(exc)
        return ""

    _wait_until(record, timeout, probe, during="its restart", waiting_for=f"not listening on {address.netloc}")


def _deploy(state: ClusterState, args: argparse.Namespace) -> None:
    """`up -f`: apply the manifests, wait until they serve, print where; then the KUBECONFIG line."""
    if args.filename:
        from kubelite_cli.cluster.workloads import apply_and_wait

        urls = apply_and_wait(Path(state.kubeconfig), args.filename, args.wait_timeout)
        print("\navailable; reach it at:" if urls else "\navailable", flush=True)
        for url in urls:
            print(f"  {url}", flush=True)
    print(f"\n{dashboard_line(state)}\nexport KUBECONFIG={state.kubeconfig}", flush=True)


def dashboard_line(state: ClusterState) -> str:
    """The admin's login link (a day-long token), or why there is none."""
    from kubelite_cli.errors import error_line
    from kubelite_cli.session import Session
    from kubelite_cli.tokens import dashboard_link

    session = Session.for_kubeconfig(state.kubeconfig)
    try:
        return f"dashboard:  {dashboard_link(session)}"
    except Exception as exc:  # the cluster runs regardless; say why there is no link
        return f"dashboard:  no login link ({error_line(exc)})"
    finally:
        session.close()


def _last_line(path: str) -> str:
    lines = _log_tail(path, 1).strip()
    return lines or "no output"


def _cluster(args: argparse.Namespace) -> tuple[Path, ClusterState | None]:
    """The data dir and its cluster state; None (and a line saying so) when there is none."""
    data_dir = Path(args.data_dir).expanduser().resolve()
    state = load_state(data_dir)
    if state is None:
        print(f"no kubelite cluster in {data_dir} (no cluster.json)")
    return data_dir, state


def run_down(args: argparse.Namespace) -> int:
    data_dir, state = _cluster(args)
    if state is None:
        return 0
    killed = stop_all(state.processes, timeout=args.timeout)
    left = [r.name for r in state.processes if is_running(r)]
    if left:
        print(f"error: still running after SIGKILL: {', '.join(left)}", file=sys.stderr)
        return 1
    remove_proxy_tables(state.processes)
    remove_state(data_dir)
    note = f" (killed after {args.timeout:.0f}s: {', '.join(killed)})" if killed else ""
    print(f"stopped {len(state.processes)} processes{note}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    _data_dir, state = _cluster(args)
    if state is None:
        return 1
    print(status_table(state))
    alive = all(is_running(r) for r in state.processes)
    print(f"\nkubeconfig: {state.kubeconfig}\n{metrics_hint(state)}")
    if alive:
        print(dashboard_line(state))
    else:
        print(f"some processes stopped: `kubelite up --data-dir {state.data_dir}` restarts them "
              "(the rest keeps running)")
    return 0 if alive else 1
