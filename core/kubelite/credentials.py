"""Everything a cluster's processes and its admin need to trust each other, made by one call.

`ensure_credentials(data_dir, hosts, nodes)` (what `kubelite certs` and `kubelite up` run)
keeps under `<data_dir>/pki/`:

- the CAs and the ServiceAccount key (kubelite.pki);
- serving certificates for the apiserver and nats-server, for every name and address in
  `hosts` (plus localhost, 127.0.0.1 and the in-cluster names);
- one client certificate per bus identity (kubelite.bus.identity): admin
  (CN=kubelite-admin, O=system:masters), the apiserver's bus client, scheduler,
  controller-manager, and a node agent and a proxy per node;
- `nats.conf`, which maps each of those certificates to its NATS permissions;
- `encryption.yaml`, the key Secrets are encrypted with in etcd (kubelite.storage.encryption);
- etcd's serving certificate and one etcd client certificate each for the apiserver,
  scheduler, controller-manager and admin, from the etcd CA.

Each service finds its own files there (`--pki-dir <data_dir>/pki`); the admin kubeconfig
embeds the CA and the admin certificate, so kubectl and the official clients use it
unchanged. Adding a node later (`kubelite certs --node NAME`) rewrites nats.conf; a running
nats-server picks it up on SIGHUP (`nats-server --signal reload`).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kubelite.bus.identity import ADMIN_USER, ANY_NODE, BusIdentity
from kubelite.bus.permissions import nats_config
from kubelite.devservers import EtcdServerTLS
from kubelite.pki import ClusterPKI, subject_dn
from kubelite.storage.encryption import new_config, write_config
from kubelite.storage.etcd import EtcdTLS

__all__ = ["ADMIN_USER", "AdminCredentials", "BusCredentials", "admin_credentials", "bus_credentials",
           "ensure_credentials", "ensure_node_credentials", "ensure_peer_credentials", "load_bus_credentials"]

IN_CLUSTER_NAMES = ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local")
# The kubernetes Service's address in the default service range (10.96.0.0/16): pods'
# in-cluster clients connect to it by IP. Another range: pass its first address as a host.
IN_CLUSTER_IP = "10.96.0.1"
CONTROL_PLANE = (BusIdentity("admin"), BusIdentity("apiserver"), BusIdentity("scheduler"),
                 BusIdentity("controller-manager"))
NATS_CONFIG = "nats.conf"
ENCRYPTION_CONFIG = "encryption.yaml"  # Secrets' key at rest (kubelite.storage.encryption)
# Who may talk to etcd (each its own client certificate from etcd-ca): the apiserver and the
# control-plane readers, and the admin's tools (`kubelite encryption rotate` reads it back).
ETCD_CLIENTS = ("apiserver", "scheduler", "controller-manager", "admin")
# Components with their own /metrics endpoint (the apiserver's is on its API port).
METRICS_SERVERS = ("scheduler", "controller-manager", "node", "proxy")
# For a Prometheus: reads every /metrics endpoint, nothing else (Kubernetes' system:monitoring group).
MONITORING = ("monitoring", "kubelite-monitoring", ("system:monitoring",))


@dataclass(frozen=True)
class AdminCredentials:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class BusCredentials:
    """A process's NATS identity: the TLS context holding its client certificate."""

    identity: BusIdentity
    tls: ssl.SSLContext


def service_ip(service_range: str) -> str:
    """The kubernetes Service's address: the first of the service range (10.96.0.0/16 -> 10.96.0.1)."""
    return str(next(ipaddress.ip_network(service_range, strict=False).hosts()))


def _split_hosts(hosts: Iterable[str]) -> tuple[list[str], list[str]]:
    names, ips = ["localhost", *IN_CLUSTER_NAMES], ["127.0.0.1", IN_CLUSTER_IP]
    for h in hosts:
        try:
            ips.append(str(ipaddress.ip_address(h)))
        except ValueError:
            names.append(h)
    return sorted(set(names)), sorted(set(ips))


def _ensure_identity(pki: ClusterPKI, ident: BusIdentity, hosts: Iterable[str] = ()) -> None:
    """Its client certificate (the bus and etcd take it) and, for a component that serves
    /metrics (kubelite.telemetry.server), a serving certificate for this host's names."""
    cn, orgs = ident.certificate_subject()
    pki.ensure_leaf(ident.file_name, "client-ca", cn, organizations=orgs, client=True)
    if ident.kind in METRICS_SERVERS:
        names, ips = _split_hosts([socket.gethostname().lower(), *hosts])
        pki.ensure_leaf(f"{ident.file_name}-serving", "cluster-ca", cn, dns_names=names, ip_addresses=ips,
                        server=True)


def _identities_on_disk(pki: ClusterPKI) -> list[BusIdentity]:
    found = list(CONTROL_PLANE)
    for kind in ("node", "proxy"):
        found += [BusIdentity(kind, p.name[len(kind) + 1:-len(".crt")])
                  for p in sorted(pki.root.glob(f"{kind}-*.crt")) if not p.name.endswith("-serving.crt")]
    if pki.has("nodes"):
        found.append(BusIdentity("node", ANY_NODE))
    return found


def nats_config_text(pki: ClusterPKI, installed_at: Path | None = None) -> str:
    """nats.conf for every identity with a certificate under `pki` (see kubelite.bus.permissions),
    naming the server's files where they will be read: `installed_at` (a VM's
    /var/lib/kubelite/pki, for `kubelite deploy certs`), by default where `pki` is."""
    at = ClusterPKI(installed_at) if installed_at is not None else pki
    users = [(subject_dn(*ident.certificate_subject()), ident) for ident in _identities_on_disk(pki)]
    return nats_config(cert_file=str(at.crt("nats")), key_file=str(at.key("nats")),
                       ca_file=str(at.crt("client-ca")), users=users)


def write_nats_config(pki: ClusterPKI) -> Path:
    """`pki`/nats.conf (nats_config_text), replaced only when it changes."""
    text = nats_config_text(pki)
    path = pki.root / NATS_CONFIG
    if not path.is_file() or path.read_text() != text:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.chmod(0o600)
        tmp.replace(path)
    return path


def ensure_node_credentials(pki: ClusterPKI, nodes: Iterable[str], *, simulator: bool = False,
                            hosts: Iterable[str] = ()) -> None:
    """A node agent's and a proxy's certificate for each of `nodes` (and, with `simulator`, the
    one credential a fake-node process uses for all its nodes); nats.conf rewritten."""
    hosts = list(hosts)
    for node in nodes:
        _ensure_identity(pki, BusIdentity("node", node), hosts)
        _ensure_identity(pki, BusIdentity("proxy", node), hosts)
    if simulator:
        _ensure_identity(pki, BusIdentity("node", ANY_NODE), hosts)
    write_nats_config(pki)


def ensure_credentials(data_dir: str | Path, hosts: Iterable[str] = (), nodes: Iterable[str] = (), *,
                       simulator: bool = False) -> ClusterPKI:
    """Create what is missing under `<data_dir>/pki` and return it (see the module doc)."""
    pki = ClusterPKI(Path(data_dir) / "pki")
    pki.ensure()
    hosts = list(hosts)
    names, ips = _split_hosts([socket.gethostname().lower(), *hosts])
    for server in ("apiserver", "nats"):
        pki.ensure_leaf(server, "cluster-ca", f"kubelite-{server}" if server == "nats" else "kube-apiserver",
                        dns_names=names, ip_addresses=ips, server=True)
    # clientAuth too: etcd's gRPC gateway (/v3/... over HTTPS) dials the member with this
    # certificate, and the member demands client certificates (as kubeadm issues it)
    pki.ensure_leaf("etcd-server", "etcd-ca", "kubelite-etcd", dns_names=names, ip_addresses=ips, server=True,
                    client=True)
    for component in ETCD_CLIENTS:
        pki.ensure_leaf(f"etcd-{component}", "etcd-ca", f"kubelite-{component}", client=True)
    for ident in CONTROL_PLANE:
        _ensure_identity(pki, ident, hosts)
    name, cn, orgs = MONITORING
    pki.ensure_leaf(name, "client-ca", cn, organizations=orgs, client=True)
    ensure_node_credentials(pki, nodes, simulator=simulator, hosts=hosts)
    if not (pki.root / ENCRYPTION_CONFIG).is_file():
        write_config(pki.root / ENCRYPTION_CONFIG, new_config())
    return pki


def ensure_peer_credentials(pki: ClusterPKI, addresses: Iterable[str]) -> None:
    """What the members of an etcd cluster and the servers of a NATS cluster show each other:
    `etcd-peer` (etcd CA) and `nats-route` (cluster CA), each a server and client certificate for
    every member's address (`kubelite lab` runs three of each)."""
    names, ips = _split_hosts(addresses)
    pki.ensure_leaf("etcd-peer", "etcd-ca", "kubelite-etcd-peer", dns_names=names, ip_addresses=ips,
                    server=True, client=True)
    pki.ensure_leaf("nats-route", "cluster-ca", "kubelite-nats-route", dns_names=names, ip_addresses=ips,
                    server=True, client=True)


def admin_credentials(pki: ClusterPKI) -> AdminCredentials:
    return AdminCredentials(pki.crt("cluster-ca").read_bytes(), pki.crt("admin").read_bytes(),
                            pki.key("admin").read_bytes())


def etcd_server_tls(pki: ClusterPKI) -> EtcdServerTLS:
    """etcd's side: its certificate, the CA client certificates must come from, a probe's."""
    return EtcdServerTLS(cert_file=str(pki.crt("etcd-server")), key_file=str(pki.key("etcd-server")),
                         ca_file=str(pki.crt("etcd-ca")), probe_cert_file=str(pki.crt("etcd-admin")),
                         probe_key_file=str(pki.key("etcd-admin")))


def etcd_client_tls(pki_dir: str | Path, component: str) -> EtcdTLS:
    """`component`'s client certificate for etcd (one of ETCD_CLIENTS), from `pki_dir`."""
    pki = ClusterPKI(pki_dir)
    name = f"etcd-{component}"
    if not pki.has(name):
        raise FileNotFoundError(f"no etcd client certificate {name}.crt in {pki.root} (`kubelite certs --data-dir DIR` "
                                "makes one for the apiserver, scheduler, controller-manager and admin)")
    return EtcdTLS(ca_file=str(pki.crt("etcd-ca")), cert_file=str(pki.crt(name)), key_file=str(pki.key(name)))


def bus_credentials(pki_dir: str | Path, ident: BusIdentity) -> BusCredentials:
    """Load `ident`'s certificate from `pki_dir` (a clear error when `kubelite certs` has not made it)."""
    if not str(pki_dir):
        raise FileNotFoundError("no NATS credentials: pass --pki-dir DIR (`kubelite certs --data-dir D` writes "
                                "them to D/pki); the bus takes only client certificates")
    pki = ClusterPKI(pki_dir)
    if not pki.has(ident.file_name) or not pki.crt("cluster-ca").is_file():
        raise FileNotFoundError(f"no NATS credentials for {ident.kind} {ident.name or ''} in {pki.root}: "
                                f"expected {ident.file_name}.crt/.key and cluster-ca.crt there "
                                f"(`kubelite certs --data-dir DIR{' --node ' + ident.name if ident.name else ''}`)")
    return load_bus_credentials(ident, ca_file=pki.crt("cluster-ca"), cert_file=pki.crt(ident.file_name),
                                key_file=pki.key(ident.file_name))


def load_bus_credentials(ident: BusIdentity, *, ca_file: str | Path, cert_file: str | Path,
                         key_file: str | Path) -> BusCredentials:
    """`ident`'s TLS context: trust the cluster CA, present `cert_file`."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    ctx.load_cert_chain(cert_file, key_file)
    return BusCredentials(ident, ctx)
