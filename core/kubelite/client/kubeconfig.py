"""Kubeconfig files: find, read (current context -> server) and write.

The format is kubectl's (clientcmd v1 Config), so a file written here works
with the real `kubectl`. kubelite keeps the NATS URL of the cluster in the
cluster entry's `extensions` (name `kubelite`, extension `{nats: URL}`), which
kubectl preserves and ignores.
"""

from __future__ import annotations

import base64
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubelite.client.tls import client_context

NAME = "kubelite"  # cluster, user, context and extension name written by `write_kubeconfig`
DEFAULT_PATH = Path("~/.kube/config")


class KubeconfigError(Exception):
    """The kubeconfig is missing, unreadable or does not name a usable context."""


@dataclass(frozen=True)
class ClusterConfig:
    """What a client needs from the current context."""

    server: str
    namespace: str = "default"
    context: str = ""
    nats_url: str | None = None
    token: str | None = None
    ca_pem: bytes | None = None  # certificate-authority-data, or the file certificate-authority names
    client_cert_pem: bytes | None = None  # client-certificate(-data)
    client_key_pem: bytes | None = None  # client-key(-data)
    insecure_skip_tls_verify: bool = False
    path: str = ""

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS settings for an https server (None for http)."""
        if not self.server.startswith("https://"):
            return None
        return client_context(ca_pem=self.ca_pem, cert_pem=self.client_cert_pem, key_pem=self.client_key_pem,
                              insecure=self.insecure_skip_tls_verify)


def find_kubeconfig(explicit: str | None = None) -> Path:
    """--kubeconfig, then the first entry of $KUBECONFIG, then ~/.kube/config."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("KUBECONFIG", "")
    for entry in env.split(os.pathsep):
        if entry:
            return Path(entry).expanduser()
    return DEFAULT_PATH.expanduser()


def load_kubeconfig(explicit: str | None = None, context: str | None = None) -> ClusterConfig:
    path = find_kubeconfig(explicit)
    try:
        text = path.read_text()
    except OSError as exc:
        raise KubeconfigError(f"cannot read kubeconfig {path}: {exc.strerror or exc}") from exc
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise KubeconfigError(f"kubeconfig {path} is not valid YAML: {exc}") from exc
    return parse_kubeconfig(doc, context=context, path=str(path))


def _named(entries: Any, name: str, section: str) -> dict[str, Any]:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry.get(section) or {}
    return {}


def parse_kubeconfig(doc: dict[str, Any], context: str | None = None, path: str = "") -> ClusterConfig:
    """Pure: resolve the (current or named) context of a parsed kubeconfig."""
    if not isinstance(doc, dict):
        raise KubeconfigError(f"kubeconfig {path} is not a mapping")
    ctx_name = context or doc.get("current-context") or ""
    if not ctx_name:
        raise KubeconfigError(f"kubeconfig {path} has no current-context")
    ctx = _named(doc.get("contexts"), ctx_name, "context")
    if not ctx:
        raise KubeconfigError(f'context "{ctx_name}" does not exist in kubeconfig {path}')
    cluster = _named(doc.get("clusters"), ctx.get("cluster", ""), "cluster")
    server = cluster.get("server")
    if not server:
        raise KubeconfigError(
            f'cluster "{ctx.get("cluster", "")}" of context "{ctx_name}" has no server in {path}'
        )
    user = _named(doc.get("users"), ctx.get("user", ""), "user")
    base = Path(path).parent if path else Path.cwd()
    return ClusterConfig(
        server=str(server).rstrip("/"),
        namespace=ctx.get("namespace") or "default",
        context=ctx_name,
        nats_url=_nats_extension(cluster.get("extensions")),
        token=user.get("token"),
        ca_pem=_pem(cluster, "certificate-authority", base, path),
        client_cert_pem=_pem(user, "client-certificate", base, path),
        client_key_pem=_pem(user, "client-key", base, path),
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
        path=path,
    )


def _pem(section: dict[str, Any], field: str, base: Path, path: str) -> bytes | None:
    """`<field>-data` (base64) or the file `<field>` names (relative to the kubeconfig), as kubectl reads them."""
    data = section.get(f"{field}-data")
    if data:
        try:
            return base64.b64decode(data, validate=True)
        except (ValueError, TypeError) as exc:
            raise KubeconfigError(f"kubeconfig {path}: {field}-data is not valid base64") from exc
    name = section.get(field)
    if not name:
        return None
    file = base / Path(name).expanduser()
    try:
        return file.read_bytes()
    except OSError as exc:
        raise KubeconfigError(f"kubeconfig {path}: cannot read {field} {file}: {exc.strerror or exc}") from exc


def _nats_extension(extensions: Any) -> str | None:
    for ext in extensions or []:
        if isinstance(ext, dict) and ext.get("name") == NAME:
            body = ext.get("extension") or {}
            if isinstance(body, dict) and body.get("nats"):
                return str(body["nats"])
    return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig_document(server_url: str, nats_url: str | None, tls: Any = None) -> dict[str, Any]:
    """Pure: the kubeconfig dict `write_kubeconfig` writes; `tls` (ca_pem, cert_pem, key_pem:
    kubelite.credentials.AdminCredentials) embeds the CA and the client certificate."""
    cluster: dict[str, Any] = {"server": server_url}
    user: dict[str, Any] = {}
    if tls is not None:
        cluster["certificate-authority-data"] = _b64(tls.ca_pem)
        user = {"client-certificate-data": _b64(tls.cert_pem), "client-key-data": _b64(tls.key_pem)}
    if nats_url:
        cluster["extensions"] = [{"name": NAME, "extension": {"nats": nats_url}}]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": NAME, "cluster": cluster}],
        "users": [{"name": NAME, "user": user}],
        "contexts": [
            {"name": NAME, "context": {"cluster": NAME, "user": NAME, "namespace": "default"}}
        ],
        "current-context": NAME,
    }


def write_kubeconfig(path: str | os.PathLike[str], server_url: str, nats_url: str | None, tls: Any = None) -> Path:
    """Write a kubeconfig for one kubelite cluster (mode 0600, as kubectl does)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(kubeconfig_document(server_url, nats_url, tls), sort_keys=False)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return target
