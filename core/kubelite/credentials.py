"""Everything a cluster's processes and its admin need to trust each other, made by one call.

`ensure_credentials(data_dir, hosts)` (what `kubelite certs` and `kubelite up` run) keeps
under `<data_dir>/pki/`: the CAs and the ServiceAccount key (kubelite.pki), the
apiserver's serving certificate for every name and address in `hosts` (plus localhost,
127.0.0.1 and the in-cluster names), and the admin's client certificate
(CN=kubelite-admin, O=system:masters). Each service finds its own files there
(`kubelite-apiserver --pki-dir <data_dir>/pki`); the admin kubeconfig embeds the CA
and the admin certificate, so kubectl and the official clients use it unchanged.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kubelite.auth.user import MASTERS
from kubelite.pki import ClusterPKI

ADMIN_USER = "kubelite-admin"
IN_CLUSTER_NAMES = ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local")


@dataclass(frozen=True)
class AdminCredentials:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


def _split_hosts(hosts: Iterable[str]) -> tuple[list[str], list[str]]:
    names, ips = ["localhost", *IN_CLUSTER_NAMES], ["127.0.0.1"]
    for h in hosts:
        try:
            ips.append(str(ipaddress.ip_address(h)))
        except ValueError:
            names.append(h)
    return sorted(set(names)), sorted(set(ips))


def ensure_credentials(data_dir: str | Path, hosts: Iterable[str] = ()) -> ClusterPKI:
    """Create what is missing under `<data_dir>/pki` and return it (see the module doc)."""
    pki = ClusterPKI(Path(data_dir) / "pki")
    pki.ensure()
    names, ips = _split_hosts([socket.gethostname().lower(), *hosts])
    pki.ensure_leaf("apiserver", "cluster-ca", "kube-apiserver", dns_names=names, ip_addresses=ips, server=True)
    pki.ensure_leaf("admin", "client-ca", ADMIN_USER, organizations=[MASTERS], client=True)
    return pki


def admin_credentials(pki: ClusterPKI) -> AdminCredentials:
    return AdminCredentials(pki.crt("cluster-ca").read_bytes(), pki.crt("admin").read_bytes(),
                            pki.key("admin").read_bytes())
