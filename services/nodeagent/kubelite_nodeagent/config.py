"""Command-line flags of kubelite-nodeagent and the per-node settings derived from them."""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import socket
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from kubelite.api.core_v1 import Taint
from kubelite.bus.identity import ANY_NODE, BusIdentity
from kubelite.durations import duration_flag
from kubelite.flags import add_pki_dir_flag
from kubelite.logsetup import add_log_level_flag
from kubelite.telemetry.server import BindAddress, add_metrics_flags
from kubelite_nodeagent.nodeinfo import parse_key_values, parse_taints
from kubelite_nodeagent.runtime import RUNTIMES


def subnet_for(cluster_cidr: str, index: int, prefix: int = 24) -> str:
    """The index-th /prefix of the cluster CIDR (wrapping around when there are fewer)."""
    net = ipaddress.ip_network(cluster_cidr, strict=False)
    if prefix <= net.prefixlen:
        return str(net)
    count = 2 ** (prefix - net.prefixlen)
    subnets = net.subnets(new_prefix=prefix)
    wanted = index % count
    for i, sub in enumerate(subnets):
        if i == wanted:
            return str(sub)
    raise AssertionError("unreachable")


def node_index(name: str) -> int:
    """A stable index for a node name: its trailing number ('node-3' -> 3), else a hash of it."""
    m = re.search(r"(\d+)$", name)
    if m:
        return int(m.group(1))
    return zlib.crc32(name.encode())


def default_root_dir(node: str) -> str:
    if os.geteuid() == 0:
        return f"/var/lib/kubelite/{node}"
    return str(Path.home() / ".kubelite" / "nodes" / node)


@dataclass
class AgentConfig:
    nats: str
    node_name: str
    runtime: str
    fake_nodes: int
    pod_cidr: str
    cluster_cidr: str
    root_dir: str
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[Taint] = field(default_factory=list)
    system_reserved: dict[str, str] = field(default_factory=dict)
    capacity: dict[str, str] = field(default_factory=dict)
    status_update_frequency: float = 10.0
    resync: float = 60.0
    metrics_resolution: float = 15.0
    backoff_base: float = 10.0
    backoff_max: float = 300.0
    backoff_reset: float = 600.0
    log_level: str = "info"
    events: bool = True  # record Kubernetes Events (Created, Started, BackOff, ...)
    remove_pods_on_exit: bool = False
    endpoint_drain_timeout: float = 5.0
    cluster_dns: str = ""
    cluster_domain: str = "cluster.local"
    manage_routes: bool = False  # routes to other machines' pod CIDRs (routes.py)
    pki_dir: str = ""
    metrics_bind_address: BindAddress | None = None
    pod_cidr_wait: float = 120.0  # seconds to wait for node IPAM's range when --pod-cidr is not given
    node_ip: str = ""  # --node-ip: the InternalIP to report ("" = the default route's source address)
    fake_node_offset: int = 0  # --fake-node-offset: the number of this process's first fake node

    def bus_identity(self) -> BusIdentity:
        """Its NATS certificate: its node's, or with --fake-nodes the simulator's (every node)."""
        return BusIdentity("node", ANY_NODE if self.fake_nodes > 0 else self.node_name)

    def node_names(self) -> list[str]:
        if self.runtime == "fake" and self.fake_nodes > 0:
            first = self.fake_node_offset
            return [f"{self.node_name}-{i}" for i in range(first, first + self.fake_nodes)]
        return [self.node_name]

    def pod_cidr_for(self, name: str, index: int) -> str:
        """--pod-cidr; for the fake runtime (pods without a network) the index-th or the name's
        numbered range; "" when node IPAM must assign one (real runtimes, kubelite_nodeagent.podcidr)."""
        if self.pod_cidr and self.fake_nodes <= 0:
            return self.pod_cidr
        if self.runtime == "fake":
            return subnet_for(self.cluster_cidr, index if self.fake_nodes > 0 else node_index(name))
        return ""

    def root_dir_for(self, name: str) -> str:
        if self.fake_nodes > 0:
            return os.path.join(self.root_dir, name)
        return self.root_dir


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubelite-nodeagent",
                                description="kubelite node agent: runs the pods bound to this node")
    p.add_argument("--nats", default="nats://127.0.0.1:4222", help="NATS server URL, or every server's, comma-separated")
    p.add_argument("--node-name", default=socket.gethostname().lower(), help="node name (default: the hostname in lower case, as the kubelet)")
    p.add_argument("--runtime", choices=RUNTIMES, default="process", help="container runtime (default: process)")
    p.add_argument("--fake-nodes", type=int, default=0,
                   help="with --runtime fake: run N nodes named <node-name>-<i> in this process")
    p.add_argument("--fake-node-offset", type=int, default=0, metavar="I",
                   help="with --fake-nodes: number them from I, so that several simulator processes "
                        "(each with its own NATS connection and event loop) share one cluster's names and pod CIDRs")
    p.add_argument("--pod-cidr", default="",
                   help="this node's pod CIDR (default: the one the controller-manager's node IPAM assigns)")
    p.add_argument("--pod-cidr-wait", type=duration_flag, default=120.0, metavar="DURATION",
                   help="how long to wait for node IPAM's pod CIDR (default 2m)")
    p.add_argument("--cluster-cidr", default="10.244.0.0/16", help="cluster pod network (default 10.244.0.0/16)")
    p.add_argument("--root-dir", "--data-dir", dest="root_dir", default="",
                   help="state, volumes and logs (default /var/lib/kubelite/<node> as root, "
                        "~/.kubelite/nodes/<node> otherwise)")
    p.add_argument("--node-ip", default="", metavar="IP",
                   help="the node's InternalIP, where other nodes route its pods (default: the source "
                        "address of the default route; set it on a machine with several interfaces)")
    p.add_argument("--node-labels", default="", help="extra node labels k=v,...")
    p.add_argument("--register-with-taints", default="", help="taints key=value:Effect,...")
    p.add_argument("--system-reserved", default="", help="reserved resources, e.g. cpu=100m,memory=256Mi")
    p.add_argument("--node-capacity", default="", help="override reported capacity, e.g. cpu=32,memory=64Gi "
                                                       "(useful with fake nodes)")
    p.add_argument("--node-status-update-frequency", type=duration_flag, default=10.0,
                   help="lease renew interval (default 10s)")
    p.add_argument("--resync-period", type=duration_flag, default=60.0,
                   help="full re-list of this node's pods (default 60s)")
    p.add_argument("--metrics-resolution", type=duration_flag, default=15.0,
                   help="how often resource metrics (kubectl top, autoscaling) are reported (default 15s; 0: never)")
    p.add_argument("--restart-backoff-base", type=float, default=10.0, help="seconds (default 10)")
    p.add_argument("--restart-backoff-max", type=float, default=300.0, help="seconds (default 300)")
    p.add_argument("--restart-backoff-reset", type=float, default=600.0,
                   help="seconds of no crash after which back-off starts over (default 600)")
    p.add_argument("--events", action=argparse.BooleanOptionalAction, default=None,
                   help="record Events for pods (default: on, off with --runtime fake)")
    p.add_argument("--cluster-dns", default="", metavar="IP",
                   help="nameserver written into ClusterFirst pods' resolv.conf (default: the node's "
                        "pod-network gateway, where the node's kubelite-proxy serves DNS)")
    p.add_argument("--cluster-domain", default="cluster.local")
    p.add_argument("--endpoint-drain-timeout", type=float, default=5.0, metavar="SECONDS",
                   help="before SIGTERM, wait up to this long for every proxy to stop sending the "
                        "pod new connections (0: do not wait; never more than half the grace period)")
    p.add_argument("--remove-pods-on-exit", action="store_true",
                   help="on SIGTERM/SIGINT stop and remove this node's containers (default: leave them "
                        "running for the next agent to adopt)")
    p.add_argument("--manage-routes", action=argparse.BooleanOptionalAction, default=None,
                   help="route other machines' pod CIDRs via their nodes' InternalIP and keep pod-to-pod "
                        "traffic unmasqueraded (default: on as root with --runtime process or docker)")
    add_log_level_flag(p)
    add_pki_dir_flag(p)
    add_metrics_flags(p, default_port=10250)  # the kubelet's port
    return p


def parse_args(argv: list[str] | None = None) -> AgentConfig:
    p = parser()
    a = p.parse_args(argv)
    try:
        labels = parse_key_values(a.node_labels)
        taints = parse_taints(a.register_with_taints)
        reserved = parse_key_values(a.system_reserved)
        capacity = parse_key_values(a.node_capacity)
        if a.pod_cidr:
            ipaddress.ip_network(a.pod_cidr, strict=False)
        ipaddress.ip_network(a.cluster_cidr, strict=False)
        if a.node_ip:
            ipaddress.ip_address(a.node_ip)
    except ValueError as exc:
        p.error(str(exc))
    if a.fake_nodes and a.runtime != "fake":
        p.error("--fake-nodes needs --runtime fake")
    if (a.fake_node_offset and a.fake_nodes <= 0) or a.fake_node_offset < 0:
        p.error("--fake-node-offset needs --fake-nodes and is not negative")
    return AgentConfig(
        nats=a.nats, node_name=a.node_name, runtime=a.runtime, fake_nodes=a.fake_nodes,
        pod_cidr=a.pod_cidr, cluster_cidr=a.cluster_cidr, root_dir=a.root_dir or default_root_dir(a.node_name),
        labels=labels, taints=taints, system_reserved=reserved, capacity=capacity,
        status_update_frequency=a.node_status_update_frequency, resync=a.resync_period,
        metrics_resolution=a.metrics_resolution,
        backoff_base=a.restart_backoff_base, backoff_max=a.restart_backoff_max,
        backoff_reset=a.restart_backoff_reset, log_level=a.log_level,
        events=a.events if a.events is not None else a.runtime != "fake",
        remove_pods_on_exit=a.remove_pods_on_exit,
        endpoint_drain_timeout=a.endpoint_drain_timeout,
        cluster_dns=a.cluster_dns, cluster_domain=a.cluster_domain,
        manage_routes=default_manage_routes(a.runtime) if a.manage_routes is None else a.manage_routes,
        pki_dir=a.pki_dir, metrics_bind_address=a.metrics_bind_address, fake_node_offset=a.fake_node_offset, pod_cidr_wait=a.pod_cidr_wait,
        node_ip=a.node_ip,
    )


def default_manage_routes(runtime: str) -> bool:
    return os.geteuid() == 0 and runtime in ("process", "docker")
