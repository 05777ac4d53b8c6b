"""What a lab is made of, worked out from its size alone (pure): hosts, addresses, names of
network namespaces and links, and every process's command line.

Example: `LabSpec(control_planes=3, workers=2)` on 10.77.0.0/24 is

    bridge klab0 10.77.0.1 (the machine's side: HAProxy on 10.77.0.1:6443, kubectl)
    cp-1 10.77.0.11  cp-2 10.77.0.12  cp-3 10.77.0.13   etcd, NATS, apiserver, scheduler, controller-manager
    w-1  10.77.0.21  w-2  10.77.0.22                    node agent, proxy

each host a network namespace `klab-cp-1`, ... joined to the bridge by a veth pair whose
machine-side end is `klab-cp-1` too (interface names hold 15 bytes).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

CONTROL_PLANE, WORKER = "control-plane", "worker"
ETCD_CLIENT_PORT, ETCD_PEER_PORT = 2379, 2380
NATS_PORT, NATS_ROUTE_PORT = 4222, 6222
APISERVER_PORT = 6443
METRICS_PORTS = {"scheduler": 10259, "controller-manager": 10257, "nodeagent": 10250, "proxy": 10249}
CLUSTER_CIDR = "10.244.0.0/16"
SERVICE_RANGE = "10.96.0.0/16"
# The lab's short failure detection, so a chaos run sees a lost node's pods replaced within
# seconds. Kubernetes' defaults: leases renewed every 10 s, checked every 5 s, 50 s grace, 300 s
# tolerations. Here: renewed every 1 s, checked every 1 s, 4 s grace, 2 s tolerations, so a node
# cut off is tainted within 5 s and its pods are evicted 2 s later.
NODE_LEASE_RENEW = "1s"
NODE_MONITOR_PERIOD = "1s"
NODE_MONITOR_GRACE = "4s"
TOLERATION_SECONDS = 2


@dataclass(frozen=True)
class LabSpec:
    control_planes: int = 3
    workers: int = 3
    name: str = "klab"  # prefix of the lab's namespaces and links: at most 6 characters
    subnet: str = "10.77.0.0/24"
    runtime: str = "process"
    proxy_mode: str = ""  # the proxies' --proxy-mode: userspace, nftables, or "" (theirs: nftables where it works)
    # VMs (`kubelite deploy render`): the hosts' own addresses instead of ones from the subnet,
    # control planes first, and the load balancer's (HAProxy's machine) instead of the bridge's
    addresses: tuple[str, ...] = ()
    load_balancer: str = ""

    def problems(self) -> list[str]:
        """What is wrong with this spec, worded for one line each."""
        if self.addresses:
            return _address_problems(self)
        out = []
        if not 1 <= self.control_planes <= 7:
            out.append(f"--control-planes must be 1 to 7 (Raft wants an odd number), not {self.control_planes}")
        if not 1 <= self.workers <= 50:
            out.append(f"--nodes must be 1 to 50, not {self.workers}")
        if not (self.name.isalnum() and self.name.islower() and 1 <= len(self.name) <= 6):
            out.append(f"--name must be 1 to 6 lower-case letters or digits, not {self.name!r}")
        try:
            net = ipaddress.ip_network(self.subnet)
            if net.version != 4 or net.prefixlen > 24:
                out.append(f"--subnet must be an IPv4 /24 or larger, not {self.subnet}")
        except ValueError:
            out.append(f"--subnet is not a network: {self.subnet!r}")
        return out


def _address_problems(spec: LabSpec) -> list[str]:
    out = []
    if len(spec.addresses) != spec.control_planes + spec.workers:
        out.append(f"{len(spec.addresses)} addresses for {spec.control_planes + spec.workers} hosts")
    for address in (*spec.addresses, spec.load_balancer):
        try:
            if ipaddress.ip_address(address).version != 4:
                out.append(f"{address}: an IPv4 address is needed")
        except ValueError:
            out.append(f"{address!r} is not an IP address")
    if len(set(spec.addresses)) != len(spec.addresses):
        out.append("every host needs an address of its own")
    if spec.load_balancer in spec.addresses[: spec.control_planes]:
        out.append(f"--load-balancer {spec.load_balancer} is a control plane's address: HAProxy and that "
                   f"apiserver would both listen on :{APISERVER_PORT}")
    if not 1 <= spec.control_planes <= 7 or spec.control_planes % 2 == 0:
        out.append(f"1, 3, 5 or 7 control planes (Raft wants an odd number), not {spec.control_planes}")
    return out


@dataclass(frozen=True)
class Host:
    name: str  # cp-1, w-1: also its node name (workers) and etcd/NATS member name (control planes)
    role: str
    ip: str
    netns: str
    link: str  # the machine-side end of its veth pair (the host side is eth0)


def bridge(spec: LabSpec) -> str:
    return f"{spec.name}0"


def gateway(spec: LabSpec) -> str:
    """The bridge's address: where the machine (HAProxy, kubectl) meets the hosts (on VMs, the
    load balancer's)."""
    if spec.load_balancer:
        return spec.load_balancer
    return str(ipaddress.ip_network(spec.subnet).network_address + 1)


def prefix_len(spec: LabSpec) -> int:
    return ipaddress.ip_network(spec.subnet).prefixlen


def hosts(spec: LabSpec) -> list[Host]:
    base = ipaddress.ip_network(spec.subnet).network_address
    given = iter(spec.addresses)
    out = []
    for role, count, first, short in ((CONTROL_PLANE, spec.control_planes, 11, "cp"), (WORKER, spec.workers, 21, "w")):
        for i in range(1, count + 1):
            name = f"{short}-{i}"
            ip = next(given) if spec.addresses else str(base + first + i - 1)
            out.append(Host(name, role, ip, f"{spec.name}-{name}", f"{spec.name}-{name}"))
    return out


def control_planes(spec: LabSpec) -> list[Host]:
    return [h for h in hosts(spec) if h.role == CONTROL_PLANE]


def workers(spec: LabSpec) -> list[Host]:
    return [h for h in hosts(spec) if h.role == WORKER]


def etcd_urls(spec: LabSpec) -> str:
    return ",".join(f"https://{h.ip}:{ETCD_CLIENT_PORT}" for h in control_planes(spec))


def nats_urls(spec: LabSpec) -> str:
    return ",".join(f"nats://{h.ip}:{NATS_PORT}" for h in control_planes(spec))


def apiserver_url(spec: LabSpec) -> str:
    """The load balancer's address: what kubectl and the kubeconfig use."""
    return f"https://{gateway(spec)}:{APISERVER_PORT}"


def certificate_hosts(spec: LabSpec) -> list[str]:
    """Every address a lab's serving certificates must name."""
    return [gateway(spec), *(h.ip for h in hosts(spec))]


# ---- command lines ------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """Where a host's processes keep their state: under the lab's data dir, one directory per host
    (they share the machine's disk), or on a VM its own /var/lib/kubelite."""

    pki: Path
    state: Path
    per_host: bool = True  # state/hosts/<host>/ (the lab) or state itself (a VM)
    ephemeral: bool = True  # pods removed when the node agent exits (`lab down` leaves nothing)

    def host_dir(self, host: Host) -> Path:
        return self.state / "hosts" / host.name if self.per_host else self.state


def lab_layout(data_dir: Path) -> Layout:
    return Layout(pki=data_dir / "pki", state=data_dir)


# a VM's: a node agent restarted by systemd keeps its pods running, as a kubelet does
VM_LAYOUT = Layout(pki=Path("/var/lib/kubelite/pki"), state=Path("/var/lib/kubelite"), per_host=False,
                   ephemeral=False)


@dataclass(frozen=True)
class Binaries:
    etcd: str
    nats: str
    kubelite: dict[str, list[str]]  # "apiserver" -> ["/venv/bin/kubelite-apiserver"]
    haproxy: str = "haproxy"


@dataclass(frozen=True)
class Launch:
    name: str  # "etcd-cp-1", "haproxy"
    host: str  # "" for the machine itself
    argv: list[str]
    health_url: str = ""
    metrics_url: str = ""


def etcd_launch(spec: LabSpec, host: Host, layout: Layout, bins: Binaries) -> Launch:
    pki = layout.pki
    client, peer = f"https://{host.ip}:{ETCD_CLIENT_PORT}", f"https://{host.ip}:{ETCD_PEER_PORT}"
    cluster = ",".join(f"{h.name}=https://{h.ip}:{ETCD_PEER_PORT}" for h in control_planes(spec))
    argv = [
        bins.etcd, "--name", host.name, "--data-dir", str(layout.host_dir(host) / "etcd"),
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", spec.name,
        "--cert-file", str(pki / "etcd-server.crt"), "--key-file", str(pki / "etcd-server.key"),
        "--client-cert-auth", "--trusted-ca-file", str(pki / "etcd-ca.crt"),
        "--peer-cert-file", str(pki / "etcd-peer.crt"), "--peer-key-file", str(pki / "etcd-peer.key"),
        "--peer-client-cert-auth", "--peer-trusted-ca-file", str(pki / "etcd-ca.crt"),
        # history older than an hour goes (watchers that fall behind re-list), as deploy/ always did
        "--auto-compaction-mode", "periodic", "--auto-compaction-retention", "1h", "--log-level", "warn",
    ]  # fmt: skip
    return Launch(f"etcd-{host.name}", host.name, argv, health_url=f"{client}/health")


def nats_config(spec: LabSpec, host: Host, pki: Path, config_dir: Path) -> str:
    """The cluster's nats.conf (users and permissions), then this server's name and its routes,
    which are TLS with certificates from the cluster CA both ways. nats-server resolves an
    include relative to the including file (`config_dir`)."""
    routes = ", ".join(f'"nats-route://{h.ip}:{NATS_ROUTE_PORT}"' for h in control_planes(spec) if h != host)
    return (
        f'include "{os.path.relpath(pki / "nats.conf", config_dir)}"\n'
        f"server_name: {host.name}\n"
        "cluster {\n"
        f"  name: {spec.name}\n"
        f"  listen: {host.ip}:{NATS_ROUTE_PORT}\n"
        f"  routes: [{routes}]\n"
        "  tls {\n"
        f'    cert_file: "{pki / "nats-route.crt"}"\n'
        f'    key_file: "{pki / "nats-route.key"}"\n'
        f'    ca_file: "{pki / "cluster-ca.crt"}"\n'
        "    verify: true\n"
        "  }\n"
        "}\n"
    )


def nats_launch(host: Host, config: Path, bins: Binaries) -> Launch:
    return Launch(f"nats-{host.name}", host.name, [bins.nats, "-c", str(config), "-a", host.ip, "-p", str(NATS_PORT)])


def _metrics(host: Host, component: str) -> tuple[list[str], str]:
    port = METRICS_PORTS[component]
    return ["--metrics-bind-address", f"{host.ip}:{port}"], f"https://{host.ip}:{port}/metrics"


def control_plane_launches(spec: LabSpec, host: Host, layout: Layout, bins: Binaries) -> list[Launch]:
    """The apiserver, scheduler and controller-manager of one control-plane host."""
    pki = ["--pki-dir", str(layout.pki)]
    bus = ["--etcd", etcd_urls(spec), "--nats", nats_urls(spec), *pki]
    url = f"https://{host.ip}:{APISERVER_PORT}"
    apiserver = [
        *bins.kubelite["apiserver"], *bus, "--bind-address", host.ip, "--port", str(APISERVER_PORT),
        "--service-cluster-ip-range", SERVICE_RANGE,
        "--audit-log-path", str(layout.host_dir(host) / "audit.log"),
        "--default-unreachable-toleration-seconds", str(TOLERATION_SECONDS),
        "--default-not-ready-toleration-seconds", str(TOLERATION_SECONDS),
    ]  # fmt: skip
    sched_metrics, sched_url = _metrics(host, "scheduler")
    cm_metrics, cm_url = _metrics(host, "controller-manager")
    return [
        Launch(f"apiserver-{host.name}", host.name, apiserver, health_url=f"{url}/readyz", metrics_url=f"{url}/metrics"),
        Launch(f"scheduler-{host.name}", host.name, [*bins.kubelite["scheduler"], *bus, *sched_metrics],
               metrics_url=sched_url),
        Launch(f"controller-manager-{host.name}", host.name, [
            *bins.kubelite["controller-manager"], *bus, *cm_metrics, "--allocate-node-cidrs", "true",
            "--cluster-cidr", CLUSTER_CIDR, "--node-monitor-grace-period", NODE_MONITOR_GRACE,
            "--node-monitor-period", NODE_MONITOR_PERIOD,
        ], metrics_url=cm_url),
    ]


def worker_launches(spec: LabSpec, host: Host, layout: Layout, bins: Binaries) -> list[Launch]:
    """A worker's node agent (its pod range comes from the controller-manager's node IPAM) and proxy."""
    pki = ["--pki-dir", str(layout.pki)]
    remove_pods = ["--remove-pods-on-exit"] if layout.ephemeral else []
    agent_metrics, agent_url = _metrics(host, "nodeagent")
    proxy_metrics, proxy_url = _metrics(host, "proxy")
    return [
        Launch(f"nodeagent-{host.name}", host.name, [
            *bins.kubelite["nodeagent"], "--nats", nats_urls(spec), *pki, "--node-name", host.name,
            "--node-ip", host.ip, "--runtime", spec.runtime, "--data-dir", str(layout.host_dir(host) / "agent"),
            "--cluster-cidr", CLUSTER_CIDR, *remove_pods, "--node-status-update-frequency", NODE_LEASE_RENEW,
            *agent_metrics,
        ], metrics_url=agent_url),
        Launch(f"proxy-{host.name}", host.name, [
            *bins.kubelite["proxy"], "--nats", nats_urls(spec), *pki, "--node-name", host.name, *proxy_metrics,
            *(["--proxy-mode", spec.proxy_mode] if spec.proxy_mode else []),
        ], metrics_url=proxy_url),
    ]


def haproxy_config(spec: LabSpec) -> str:
    """TCP load balancing over the apiservers, each checked on /readyz (public, as in Kubernetes)."""
    servers = "\n".join(
        f"  server {h.name} {h.ip}:{APISERVER_PORT} check check-ssl verify none inter 1s fall 2 rise 1"
        for h in control_planes(spec))
    return (
        "global\n  log stderr format raw local0 notice\n"
        "defaults\n  mode tcp\n  log global\n  timeout connect 2s\n  timeout client 1h\n  timeout server 1h\n"
        "  option redispatch\n  retries 2\n"
        f"frontend apiserver\n  bind {gateway(spec)}:{APISERVER_PORT}\n  default_backend apiservers\n"
        "backend apiservers\n  option httpchk GET /readyz\n  http-check expect status 200\n"
        f"{servers}\n"
    )


def haproxy_launch(config: Path, bins: Binaries) -> Launch:
    return Launch("haproxy", "", [bins.haproxy, "-db", "-f", str(config)])
