"""The one table of kubelite services `kubelite up` starts, and their command lines (pure).

Each entry's argv is built from the cluster's `Settings`;
node-scoped services (nodeagent, proxy) get one process per node.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Everything a service command line may need."""

    data_dir: Path
    etcd_url: str
    nats_url: str
    apiserver_url: str
    apiserver_port: int
    nodes: int
    runtime: str
    service_cluster_ip_range: str
    service_node_port_range: str = "30000-32767"
    log_level: str = "info"
    node_monitor_grace_period: str | None = None
    default_unreachable_toleration_seconds: int | None = None
    default_not_ready_toleration_seconds: int | None = None
    # Dev clusters stop their pods with the node agents (`kubelite down` leaves nothing);
    # --keep-pods leaves them for the next `up` to adopt, as a real node would.
    keep_pods: bool = False
    metrics_resolution: str | None = None  # node agents' resource metrics period (kubectl top), e.g. "5s"
    hpa_sync_period: str | None = None  # how often the controller-manager evaluates each HPA, e.g. "5s"
    # launch name ("scheduler", "nodeagent-node-1") -> port of its /metrics endpoint on 127.0.0.1
    # (missing: port 0, any free one, which `kubelite status` cannot name)
    metrics_ports: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # "apiserver": package kubelite_apiserver, command kubelite-apiserver
    args: Callable[[Settings, str], list[str]]  # (settings, node name or "") -> flags
    per_node: bool = False

    @property
    def module(self) -> str:
        return "kubelite_" + self.name.replace("-", "_")

    @property
    def command(self) -> str:
        return "kubelite-" + self.name


@dataclass(frozen=True)
class Launch:
    """One process to start: its display name, argv, the URL it serves (if any) and its metrics'."""

    name: str
    argv: list[str]
    url: str = ""
    metrics_url: str = ""


def _opt(flag: str, value: object | None) -> list[str]:
    return [] if value is None else [flag, str(value)]


def _apiserver(s: Settings, _node: str) -> list[str]:
    return [
        "--etcd", s.etcd_url, "--nats", s.nats_url,
        "--bind-address", "127.0.0.1", "--port", str(s.apiserver_port),
        *_pki(s),
        "--audit-log-path", str(Path(s.data_dir) / "logs" / "audit.log"),
        "--service-cluster-ip-range", s.service_cluster_ip_range,
        "--service-node-port-range", s.service_node_port_range,
        *_opt("--default-unreachable-toleration-seconds", s.default_unreachable_toleration_seconds),
        *_opt("--default-not-ready-toleration-seconds", s.default_not_ready_toleration_seconds),
        "--log-level", s.log_level,
    ]  # fmt: skip


def _pki(s: Settings) -> list[str]:
    return ["--pki-dir", str(Path(s.data_dir) / "pki")]


def _metrics(s: Settings, name: str) -> list[str]:
    return ["--metrics-bind-address", f"127.0.0.1:{s.metrics_ports.get(name, 0)}"]


def metrics_url(s: Settings, name: str) -> str:
    """Where launch `name` serves /metrics ("" when its port is left to the OS)."""
    if name == "apiserver":
        return f"{s.apiserver_url}/metrics"
    port = s.metrics_ports.get(name)
    return f"https://127.0.0.1:{port}/metrics" if port else ""


def _scheduler(s: Settings, _node: str) -> list[str]:
    return ["--etcd", s.etcd_url, "--nats", s.nats_url, *_pki(s), *_metrics(s, "scheduler"),
            "--log-level", s.log_level]


def _controller_manager(s: Settings, _node: str) -> list[str]:
    return [
        "--etcd", s.etcd_url, "--nats", s.nats_url, *_pki(s),
        *_opt("--node-monitor-grace-period", s.node_monitor_grace_period),
        *_opt("--horizontal-pod-autoscaler-sync-period", s.hpa_sync_period),
        *_metrics(s, "controller-manager"), "--log-level", s.log_level,
    ]  # fmt: skip


def node_pod_cidr(node: str) -> str:
    """A local cluster's `node-N` gets 10.244.N.0/24, whatever the order its agent registers in:
    its nodes share one host, where a node's bridge keeps its range from one `up` to the next.
    (Node agents on separate machines take theirs from the controller-manager's node IPAM.)"""
    return f"10.244.{int(node.rsplit('-', 1)[1]) % 256}.0/24"


def _nodeagent(s: Settings, node: str) -> list[str]:
    return [
        "--nats", s.nats_url, *_pki(s), "--node-name", node, "--runtime", s.runtime,
        "--pod-cidr", node_pod_cidr(node),
        "--data-dir", str(s.data_dir / "nodes" / node), "--log-level", s.log_level,
        *([] if s.keep_pods else ["--remove-pods-on-exit"]),
        *_opt("--metrics-resolution", s.metrics_resolution), *_metrics(s, f"nodeagent-{node}"),
    ]  # fmt: skip


def _proxy(s: Settings, node: str) -> list[str]:
    # Every node's proxy shares this host's network: one cluster DNS server (the
    # first node's, on its default address) serves them all; NodePorts and
    # cluster IPs are shared between the proxies (SO_REUSEPORT, same rules).
    dns = [] if node == node_names(s.nodes)[0] else ["--dns-bind", "off"]
    return ["--nats", s.nats_url, *_pki(s), "--node-name", node, *dns, *_metrics(s, f"proxy-{node}"),
            "--log-level", s.log_level]


# Start order: the apiserver first (the others need it), node components last.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("apiserver", _apiserver),
    ServiceSpec("scheduler", _scheduler),
    ServiceSpec("controller-manager", _controller_manager),
    ServiceSpec("nodeagent", _nodeagent, per_node=True),
    ServiceSpec("proxy", _proxy, per_node=True),
)


def node_names(count: int) -> list[str]:
    return [f"node-{i}" for i in range(1, count + 1)]


def executable(spec: ServiceSpec) -> list[str]:
    """The console command next to this Python (the venv's), else `python -m kubelite_x`."""
    candidate = Path(sys.executable).parent / spec.command
    if candidate.is_file():
        return [str(candidate)]
    found = shutil.which(spec.command)
    return [found] if found else [sys.executable, "-m", spec.module]


def launches(spec: ServiceSpec, settings: Settings) -> list[Launch]:
    """The processes one service needs (one, or one per node)."""
    base = executable(spec)
    if spec.per_node:
        return [
            Launch(f"{spec.name}-{node}", [*base, *spec.args(settings, node)],
                   metrics_url=metrics_url(settings, f"{spec.name}-{node}"))
            for node in node_names(settings.nodes)
        ]
    url = settings.apiserver_url if spec.name == "apiserver" else ""
    return [Launch(spec.name, [*base, *spec.args(settings, "")], url, metrics_url(settings, spec.name))]


def launch_names(nodes: int) -> list[str]:
    """Every launch's name, in start order."""
    return [f"{spec.name}-{n}" if spec.per_node else spec.name
            for spec in SERVICES for n in (node_names(nodes) if spec.per_node else [""])]
