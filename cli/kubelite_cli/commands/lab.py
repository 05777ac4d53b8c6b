"""`kubelite lab up|status|down --data-dir DIR`: hosts as network namespaces on one machine, an HA
control plane on the first ones (a Raft etcd cluster, a NATS cluster, an apiserver, scheduler and
controller-manager each) behind HAProxy, and worker nodes (docs/lab.md).

The pure plan is kubelite_cli.lab.topology; the network is kubelite_cli.lab.network.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from kubelite import devservers
from kubelite.client.kubeconfig import write_kubeconfig
from kubelite.client.tls import client_context
from kubelite.credentials import admin_credentials, ensure_credentials, ensure_peer_credentials
from kubelite.pki import ClusterPKI
from kubelite.printers import render_table
from kubelite_cli.cluster.procs import is_running, spawn_detached, stop_all
from kubelite_cli.cluster.services import SERVICES, executable
from kubelite_cli.commands.cluster import wait_readyz
from kubelite_cli.errors import CLIError
from kubelite_cli.lab import network, state, topology
from kubelite_cli.lab.topology import Binaries, LabSpec, Launch


def _spec(args: argparse.Namespace) -> LabSpec:
    spec = LabSpec(control_planes=args.control_planes, workers=args.nodes, name=args.name,
                   subnet=args.subnet, runtime=args.runtime, proxy_mode=args.proxy_mode)
    problems = spec.problems()
    if problems:
        raise CLIError(problems[0])
    return spec


def _binaries() -> Binaries:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        raise CLIError("kubelite lab needs haproxy in front of its apiservers "
                       "(Debian's haproxy package; scripts/install-docker.sh installs it)")
    return Binaries(etcd=devservers.etcd_binary(), nats=devservers.nats_binary(), haproxy=haproxy,
                    kubelite={spec.name: executable(spec) for spec in SERVICES})


# ---- up -------------------------------------------------------------------------------------
def run_lab_up(args: argparse.Namespace) -> int:
    spec = _spec(args)
    data_dir = Path(args.data_dir).expanduser().resolve()
    existing = state.load(data_dir)
    if existing is not None:
        raise CLIError(f"a lab is already running from {data_dir} ({sum(map(is_running, existing.processes))} "
                       f"processes alive): `kubelite lab status` or `kubelite lab down --data-dir {args.data_dir}`")
    network.preflight()
    if found := network.present(spec):
        raise CLIError(f"lab {spec.name!r} already exists on this machine ({', '.join(found)}): "
                       "`kubelite lab down --data-dir DIR` it, or pick another --name and --subnet")
    bins = _binaries()
    data_dir.mkdir(parents=True, exist_ok=True)
    lab = state.LabState(
        data_dir=str(data_dir), kubeconfig=str(data_dir / "kubeconfig"), apiserver_url=topology.apiserver_url(spec),
        control_planes=spec.control_planes, workers=spec.workers, name=spec.name, subnet=spec.subnet,
        runtime=spec.runtime, proxy_mode=spec.proxy_mode, started_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    state.save(data_dir, lab)  # from here on `lab down` cleans up, whatever happens next
    print(f"creating lab {spec.name}: {spec.control_planes} control-plane and {spec.workers} worker hosts "
          f"on {spec.subnet}, data in {data_dir}", flush=True)
    try:
        network.create(spec)
        _LabStarter(spec, lab, data_dir, bins, args.timeout).start()
    except BaseException:
        print("lab up failed; removing what it made", file=sys.stderr, flush=True)
        _teardown(lab, timeout=5.0)
        raise
    print(status_table(lab))
    print(f"\napiserver:  {lab.apiserver_url} (HAProxy over {spec.control_planes} apiservers)\n"
          f"export KUBECONFIG={lab.kubeconfig}", flush=True)
    return 0


class _LabStarter:
    """Starts the lab's processes in dependency order, each waited for before what needs it."""

    def __init__(self, spec: LabSpec, lab: state.LabState, data_dir: Path, bins: Binaries, timeout: float) -> None:
        self.spec, self.lab, self.data_dir, self.bins, self.timeout = spec, lab, data_dir, bins, timeout
        self.logs = data_dir / "logs"
        self.hosts = {h.name: h for h in topology.hosts(spec)}
        self.layout = topology.lab_layout(data_dir)

    def start(self) -> None:
        spec, data_dir, bins = self.spec, self.data_dir, self.bins
        pki = self._credentials()
        cps = topology.control_planes(spec)
        etcd = [self._spawn(topology.etcd_launch(spec, h, self.layout, bins)) for h in cps]
        etcd_tls = ssl.create_default_context(cafile=str(pki.crt("etcd-ca")))
        etcd_tls.load_cert_chain(str(pki.crt("etcd-admin")), str(pki.key("etcd-admin")))
        for record in etcd:
            self._wait(record, lambda r=record: _etcd_healthy(r.url, etcd_tls), "etcd /health")
        for h in cps:
            config = self.layout.host_dir(h) / "nats.conf"
            config.parent.mkdir(parents=True, exist_ok=True)
            config.write_text(topology.nats_config(spec, h, pki.root, config.parent))
            record = self._spawn(topology.nats_launch(h, config, bins))
            self._wait(record, lambda h=h: _nats_answers(h.ip), "NATS")
        admin = admin_credentials(pki)
        tls = client_context(ca_pem=admin.ca_pem)
        planes = [topology.control_plane_launches(spec, h, self.layout, bins) for h in cps]
        for apiserver, *_ in planes:
            record = self._spawn(apiserver)
            wait_readyz(apiserver.health_url.removesuffix("/readyz"), record, self.timeout, tls)
        config = data_dir / "haproxy.cfg"
        config.write_text(topology.haproxy_config(spec))
        balancer = self._spawn(topology.haproxy_launch(config, bins))
        wait_readyz(self.lab.apiserver_url, balancer, self.timeout, tls)
        for _apiserver, *others in planes:
            for launch in others:
                self._spawn(launch)
        for h in topology.workers(spec):
            for launch in topology.worker_launches(spec, h, self.layout, bins):
                self._spawn(launch)
        write_kubeconfig(self.lab.kubeconfig, self.lab.apiserver_url, topology.nats_urls(spec), admin)
        nodes_tls = client_context(ca_pem=admin.ca_pem, cert_pem=admin.cert_pem, key_pem=admin.key_pem)
        names = {h.name for h in topology.workers(spec)}
        self._wait(None, lambda: _ready_nodes(self.lab.apiserver_url, nodes_tls) >= names, "every node Ready")

    def _credentials(self) -> ClusterPKI:
        spec = self.spec
        pki = ensure_credentials(self.data_dir, topology.certificate_hosts(spec),
                                 nodes=[h.name for h in topology.workers(spec)])
        ensure_peer_credentials(pki, [h.ip for h in topology.control_planes(spec)])
        return pki

    def _spawn(self, launch: Launch) -> object:
        host = self.hosts.get(launch.host)
        argv = network.in_host(host.netns, launch.argv, hostname=host.name) if host else launch.argv
        record = spawn_detached(launch.name, argv, self.logs / f"{launch.name}.log")
        record.url, record.metrics_url = launch.health_url, launch.metrics_url
        self.lab.processes.append(record)
        self.lab.hosts[launch.name] = launch.host
        state.save(self.data_dir, self.lab)
        return record

    def _wait(self, record: object, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if record is not None and not is_running(record):  # type: ignore[arg-type]
                raise CLIError(f"{record.name} exited during startup; see {record.log}")  # type: ignore[attr-defined]
            try:
                if ready():
                    return
            except (OSError, urllib.error.URLError, ValueError):
                pass
            time.sleep(0.3)
        who = f" ({record.name}, log {record.log})" if record is not None else ""  # type: ignore[attr-defined]
        raise CLIError(f"lab up: no {what} after {self.timeout:.0f}s{who}")


def _etcd_healthy(url: str, tls: ssl.SSLContext) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=tls) as resp:
            return b'"health":"true"' in resp.read()
    except urllib.error.HTTPError:
        return False  # 503 until the members elect a leader


def _nats_answers(ip: str) -> bool:
    with socket.create_connection((ip, topology.NATS_PORT), timeout=1) as sock:
        return sock.recv(4).startswith(b"INFO")


def _ready_nodes(apiserver: str, tls: ssl.SSLContext) -> set[str]:
    with urllib.request.urlopen(f"{apiserver}/api/v1/nodes", timeout=5, context=tls) as resp:
        items = json.loads(resp.read())["items"]
    return {n["metadata"]["name"] for n in items
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))}


# ---- status / down --------------------------------------------------------------------------
def status_table(lab: state.LabState) -> str:
    spec = lab.spec()
    ips = {h.name: h.ip for h in topology.hosts(spec)}
    rows = [[lab.hosts.get(r.name, "") or "(machine)", ips.get(lab.hosts.get(r.name, ""), topology.gateway(spec)),
             r.name, str(r.pid), "alive" if is_running(r) else "dead", r.url or "-", r.metrics_url or "-", r.log]
            for r in lab.processes]
    return render_table(["HOST", "IP", "PROCESS", "PID", "STATE", "HEALTH", "METRICS", "LOG"], rows)


def _load(args: argparse.Namespace) -> tuple[Path, state.LabState | None]:
    data_dir = Path(args.data_dir).expanduser().resolve()
    return data_dir, state.load(data_dir)


def run_lab_status(args: argparse.Namespace) -> int:
    data_dir, lab = _load(args)
    if lab is None:
        print(f"no lab in {data_dir} (no {state.STATE_FILE})")
        return 1
    print(status_table(lab))
    pki = Path(lab.data_dir) / "pki"
    print(f"\napiserver:  {lab.apiserver_url}\nkubeconfig: {lab.kubeconfig}\n"
          f"metrics:    curl --cacert {pki}/cluster-ca.crt --cert {pki}/monitoring.crt --key {pki}/monitoring.key URL")
    return 0 if all(is_running(r) for r in lab.processes) else 1


# what everything else needs: stopped last, so the others shut down against a live store and bus
_INFRASTRUCTURE = ("etcd-", "nats-", "haproxy")


def _teardown(lab: state.LabState, timeout: float) -> list[str]:
    """Stop the lab's processes (services first, then HAProxy, NATS and etcd), take its network
    away, and delete what its hosts stored (etcd data, node agents' roots): a later `lab up`
    starts a new cluster. Logs, credentials and chaos reports stay in the data directory."""
    infra = [r for r in lab.processes if r.name.startswith(_INFRASTRUCTURE)]
    killed = stop_all([r for r in lab.processes if r not in infra], timeout=timeout)
    killed += stop_all(infra, timeout=timeout)
    network.remove(lab.spec())
    state.remove(Path(lab.data_dir))
    shutil.rmtree(Path(lab.data_dir) / "hosts", ignore_errors=True)
    return killed


def run_lab_down(args: argparse.Namespace) -> int:
    data_dir, lab = _load(args)
    if lab is None:
        spec = _spec(args)
        if os_root() and network.present(spec):  # a lab whose state file is gone: its network still goes
            print(f"no {state.STATE_FILE} in {data_dir}; removing lab {spec.name}'s network: "
                  f"{', '.join(network.remove(spec)) or 'nothing'}")
            return 0
        print(f"no lab in {data_dir} (no {state.STATE_FILE})")
        return 0
    network.preflight()
    killed = _teardown(lab, timeout=args.timeout)
    left = [r.name for r in lab.processes if is_running(r)]
    if left:
        print(f"error: still running after SIGKILL: {', '.join(left)}", file=sys.stderr)
        return 1
    note = f" (killed after {args.timeout:.0f}s: {', '.join(killed)})" if killed else ""
    print(f"stopped {len(lab.processes)} processes{note}; removed lab {lab.name}'s namespaces, links, rules "
          f"and stored state (logs and reports stay in {data_dir})")
    return 0


def os_root() -> bool:
    import os

    return os.geteuid() == 0
