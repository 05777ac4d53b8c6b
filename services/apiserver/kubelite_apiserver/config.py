"""apiserver settings: parsed from flags once, handed to each worker as JSON."""

from __future__ import annotations

import argparse
import os
from typing import Any

import msgspec

from kubelite.durations import duration_flag
from kubelite.flags import add_etcd_tls_flags, etcd_tls_from, options_from
from kubelite.logsetup import add_log_level_flag

CONFIG_ENV = "KUBELITE_APISERVER_CONFIG"


class Config(msgspec.Struct, kw_only=True):
    etcd: str = "http://127.0.0.1:2379"
    nats: str = "nats://127.0.0.1:4222"
    bind_address: str = "127.0.0.1"
    port: int = 6443
    workers: int = 1
    service_cluster_ip_range: str = "10.96.0.0/16"
    service_node_port_range: str = "30000-32767"
    default_not_ready_toleration_seconds: int = 300
    default_unreachable_toleration_seconds: int = 300
    shutdown_grace_seconds: float = 10.0
    connect_wait_seconds: float = 30.0
    etcd_compaction_interval: float = 300.0  # seconds; 0: never (compaction is someone else's job)
    storage_compression: str = "zlib"  # how JSON values are stored (kubelite.storage.compression)
    event_ttl: float = 3600.0  # seconds an Event is kept after its last write (kube-apiserver's --event-ttl)
    log_level: str = "info"
    # Trust: HTTPS only. --pki-dir DIR stands for DIR/apiserver.{crt,key} and DIR/client-ca.crt.
    tls_cert_file: str = ""
    tls_private_key_file: str = ""
    client_ca_file: str = ""
    token_auth_file: str = ""
    service_account_key_file: str = ""  # public key: checks ServiceAccount tokens
    service_account_signing_key_file: str = ""  # private key: issues them (TokenRequest)
    anonymous_auth: bool = True
    audit_log_path: str = ""
    authorization_mode: str = "RBAC"
    # The apiserver's own NATS client certificate (--pki-dir: apiserver-client.crt/.key, cluster-ca.crt)
    nats_cert_file: str = ""
    nats_key_file: str = ""
    nats_ca_file: str = ""
    root_ca_file: str = ""  # pods get it as kube-root-ca.crt (the CA of this apiserver's certificate)
    advertise_address: str = ""  # where pods reach this apiserver (the kubernetes Service's endpoint)
    encryption_provider_config: str = ""  # EncryptionConfiguration: Secrets encrypted in etcd
    etcd_cafile: str = ""  # etcd over TLS (an https:// --etcd): its CA, our client certificate
    etcd_certfile: str = ""
    etcd_keyfile: str = ""

    def etcd_tls(self) -> Any:
        return etcd_tls_from(self, "apiserver")  # the files parse_args settled on

    def node_port_range(self) -> tuple[int, int]:
        lo, _, hi = self.service_node_port_range.partition("-")
        return int(lo), int(hi or lo)


def parse_args(argv: list[str] | None = None) -> Config:
    d = Config()
    p = argparse.ArgumentParser(
        prog="kubelite-apiserver",
        description="kubelite's front door: Kubernetes REST over HTTP, the same API over NATS.",
    )
    p.add_argument("--etcd", default=d.etcd, help="etcd client URL, or every member's, comma-separated")
    p.add_argument("--nats", default=d.nats, help="NATS URL, or every server's of a NATS cluster, comma-separated")
    p.add_argument("--bind-address", default=d.bind_address)
    p.add_argument("--port", type=int, default=d.port, help="HTTP port (plain HTTP)")
    p.add_argument("--workers", type=int, default=1, help="HTTP worker processes (stateless)")
    p.add_argument("--service-cluster-ip-range", default=d.service_cluster_ip_range)
    p.add_argument("--service-node-port-range", default=d.service_node_port_range)
    p.add_argument("--default-not-ready-toleration-seconds", type=int, default=300)
    p.add_argument("--default-unreachable-toleration-seconds", type=int, default=300)
    p.add_argument("--shutdown-grace-seconds", type=float, default=10.0,
                   help="how long SIGTERM waits for in-flight requests")
    p.add_argument("--connect-wait-seconds", type=float, default=30.0,
                   help="how long to wait for etcd and NATS at start")
    p.add_argument("--pki-dir", default="", metavar="DIR",
                   help="take apiserver.crt/.key and client-ca.crt from DIR (what `kubelite certs` writes)")
    p.add_argument("--tls-cert-file", default="", help="serving certificate (PEM)")
    p.add_argument("--tls-private-key-file", default="", help="its private key (PEM)")
    p.add_argument("--client-ca-file", default="", help="CA whose client certificates authenticate users (CN, O)")
    p.add_argument("--service-account-key-file", default="", help="public key that checks ServiceAccount tokens")
    p.add_argument("--service-account-signing-key-file", default="",
                   help="private key that signs ServiceAccount tokens (TokenRequest)")
    p.add_argument("--token-auth-file", default="", help="static bearer tokens: token,user,uid[,\"g1,g2\"] per line")
    p.add_argument("--anonymous-auth", default=True, action=argparse.BooleanOptionalAction,
                   help="requests without credentials are system:anonymous (default on; RBAC lets them "
                        "reach only health, version and discovery)")
    p.add_argument("--audit-log-path", default="",
                   help="append one JSON audit event (Metadata level: no bodies) per request to this file")
    p.add_argument("--root-ca-file", default="",
                   help="CA bundle every namespace gets as ConfigMap kube-root-ca.crt (default with --pki-dir: "
                        "cluster-ca.crt)")
    p.add_argument("--advertise-address", default="",
                   help="address the kubernetes Service sends pods to (default: --bind-address, or this host's "
                        "address when that is 0.0.0.0)")
    p.add_argument("--encryption-provider-config", default="",
                   help="EncryptionConfiguration file: which resources are encrypted in etcd, with which keys "
                        "(default with --pki-dir: its encryption.yaml when present); re-read when it changes")
    add_etcd_tls_flags(p)
    p.add_argument("--nats-cert-file", default="", help="client certificate for NATS (PEM)")
    p.add_argument("--nats-key-file", default="", help="its private key (PEM)")
    p.add_argument("--nats-ca-file", default="", help="CA that signed nats-server's certificate")
    p.add_argument("--etcd-compaction-interval", type=duration_flag, default=d.etcd_compaction_interval,
                   metavar="DURATION", help="compact etcd's history this often, keeping one interval of it "
                   "(kube-apiserver's flag and default, 5m); 0 turns it off")
    p.add_argument("--event-ttl", type=duration_flag, default=d.event_ttl, metavar="DURATION",
                   help="how long an Event is kept after it was last written (kube-apiserver's flag and "
                   "default, 1h); etcd deletes it then")
    p.add_argument("--storage-compression", default=d.storage_compression, choices=["zlib", "none"],
                   help="store objects in etcd deflated against a preset dictionary (zlib, the default: a "
                   "pod takes about a eighth of its JSON) or as plain JSON (none); either form reads back")
    p.add_argument("--authorization-mode", default=d.authorization_mode, choices=["RBAC", "AlwaysAllow"],
                   help="RBAC (default); AlwaysAllow only to measure what authorization costs")
    add_log_level_flag(p)
    a = p.parse_args(argv)
    if a.pki_dir:
        a.tls_cert_file = a.tls_cert_file or os.path.join(a.pki_dir, "apiserver.crt")
        a.tls_private_key_file = a.tls_private_key_file or os.path.join(a.pki_dir, "apiserver.key")
        a.client_ca_file = a.client_ca_file or os.path.join(a.pki_dir, "client-ca.crt")
        a.service_account_key_file = a.service_account_key_file or os.path.join(a.pki_dir, "sa.pub")
        a.service_account_signing_key_file = (a.service_account_signing_key_file
                                              or os.path.join(a.pki_dir, "sa.key"))
        a.nats_cert_file = a.nats_cert_file or os.path.join(a.pki_dir, "apiserver-client.crt")
        a.nats_key_file = a.nats_key_file or os.path.join(a.pki_dir, "apiserver-client.key")
        a.nats_ca_file = a.nats_ca_file or os.path.join(a.pki_dir, "cluster-ca.crt")
        a.root_ca_file = a.root_ca_file or os.path.join(a.pki_dir, "cluster-ca.crt")
        if a.etcd.startswith("https://") and not a.etcd_certfile:
            try:
                tls = etcd_tls_from(a, "apiserver")
            except FileNotFoundError as exc:
                p.error(str(exc))
            a.etcd_cafile, a.etcd_certfile, a.etcd_keyfile = tls.ca_file, tls.cert_file, tls.key_file
        default_encryption = os.path.join(a.pki_dir, "encryption.yaml")
        if not a.encryption_provider_config and os.path.isfile(default_encryption):
            a.encryption_provider_config = default_encryption
    if not (a.tls_cert_file and a.tls_private_key_file):
        p.error("no serving certificate: pass --pki-dir (see `kubelite certs`) or "
                "--tls-cert-file and --tls-private-key-file; the apiserver serves HTTPS only")
    if a.etcd.startswith("https://") and not (a.etcd_cafile and a.etcd_certfile and a.etcd_keyfile):
        p.error("--etcd is https: pass --pki-dir or --etcd-cafile, --etcd-certfile and --etcd-keyfile")
    if not (a.nats_cert_file and a.nats_key_file and a.nats_ca_file):
        p.error("no NATS client certificate: pass --pki-dir (see `kubelite certs`) or --nats-cert-file, "
                "--nats-key-file and --nats-ca-file; the bus takes only certificates")
    for flag in ("tls_cert_file", "tls_private_key_file", "client_ca_file", "token_auth_file",
                 "service_account_key_file", "service_account_signing_key_file", "nats_cert_file",
                 "nats_key_file", "nats_ca_file", "root_ca_file", "encryption_provider_config", "etcd_cafile",
                 "etcd_certfile", "etcd_keyfile"):
        path = getattr(a, flag)
        if path and not os.path.isfile(path):
            p.error(f"--{flag.replace('_', '-')}: {path} does not exist")
    if a.encryption_provider_config:
        from kubelite.storage.encryption import EncryptionConfigError, load_config

        try:
            load_config(a.encryption_provider_config)
        except (EncryptionConfigError, OSError) as exc:
            p.error(f"--encryption-provider-config {a.encryption_provider_config}: {exc}")
    if not a.advertise_address:
        a.advertise_address = a.bind_address if a.bind_address not in ("0.0.0.0", "::") else _host_address()
    cfg = options_from(a, Config)
    try:
        cfg.node_port_range()
        import ipaddress

        ipaddress.ip_network(cfg.service_cluster_ip_range, strict=False)
    except ValueError as exc:
        p.error(str(exc))
    return cfg


def _host_address() -> str:
    """This host's address on its default route (no packet is sent), else loopback."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 1))
            return str(sock.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def to_env(cfg: Config) -> None:
    os.environ[CONFIG_ENV] = msgspec.json.encode(cfg).decode()


def from_env() -> Config:
    raw = os.environ.get(CONFIG_ENV)
    return msgspec.json.decode(raw, type=Config) if raw else Config()
