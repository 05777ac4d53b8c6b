"""Kubeconfig files: find, read (current context -> server) and write.

The format is kubectl's (clientcmd v1 Config), so a file written here works
with the real `kubectl`. kubelite keeps the NATS URL of the cluster in the
cluster entry's `extensions` (name `kubelite`, extension `{nats: URL}`), which
kubectl preserves and ignores.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

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
    # Parsed for completeness; plain HTTP is all kubelite serves for now.
    token: str | None = None
    certificate_authority: str | None = None
    insecure_skip_tls_verify: bool = False
    path: str = ""


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
    return ClusterConfig(
        server=str(server).rstrip("/"),
        namespace=ctx.get("namespace") or "default",
        context=ctx_name,
        nats_url=_nats_extension(cluster.get("extensions")),
        token=user.get("token"),
        certificate_authority=cluster.get("certificate-authority"),
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
        path=path,
    )


def _nats_extension(extensions: Any) -> str | None:
    for ext in extensions or []:
        if isinstance(ext, dict) and ext.get("name") == NAME:
            body = ext.get("extension") or {}
            if isinstance(body, dict) and body.get("nats"):
                return str(body["nats"])
    return None


def kubeconfig_document(server_url: str, nats_url: str | None) -> dict[str, Any]:
    """Pure: the kubeconfig dict `write_kubeconfig` writes."""
    cluster: dict[str, Any] = {"server": server_url}
    if nats_url:
        cluster["extensions"] = [{"name": NAME, "extension": {"nats": nats_url}}]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": NAME, "cluster": cluster}],
        "users": [{"name": NAME, "user": {}}],
        "contexts": [
            {"name": NAME, "context": {"cluster": NAME, "user": NAME, "namespace": "default"}}
        ],
        "current-context": NAME,
    }


def write_kubeconfig(path: str | os.PathLike[str], server_url: str, nats_url: str | None) -> Path:
    """Write a kubeconfig for one kubelite cluster (mode 0600, as kubectl does)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(kubeconfig_document(server_url, nats_url), sort_keys=False)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return target
