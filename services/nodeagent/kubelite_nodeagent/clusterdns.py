"""A pod's /etc/resolv.conf by its dnsPolicy, as the kubelet writes it.

ClusterFirst (the default) points at the cluster DNS that the node's proxy
serves on the node's pod-network gateway (port 53, all addresses), with the
Kubernetes search path `<ns>.svc.<domain> svc.<domain> <domain>` and ndots:5.
A host-network pod with ClusterFirst, and dnsPolicy Default, keep the host's
file (no mount); dnsPolicy None uses only spec.dnsConfig.
"""

from __future__ import annotations

from typing import Any


def resolv_conf(pod: Any, *, nameserver: str, cluster_domain: str, host_network: bool) -> str | None:
    """The file's text, or None to leave the host's /etc/resolv.conf in place."""
    spec = pod.spec
    policy = getattr(spec, "dnsPolicy", None) or "ClusterFirst"
    cfg = getattr(spec, "dnsConfig", None)
    if policy == "Default" or (policy == "ClusterFirst" and host_network):
        return None
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet"):
        if not nameserver:
            return None
        ns = pod.metadata.namespace or "default"
        servers = [nameserver]
        searches = [f"{ns}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain]
        options = ["ndots:5"]
    if cfg is not None:
        servers += [s for s in (cfg.nameservers or []) if s not in servers]
        searches += [s for s in (cfg.searches or []) if s not in searches]
        for opt in cfg.options or []:
            text = opt.name if not opt.value else f"{opt.name}:{opt.value}"
            options = [o for o in options if o.split(":")[0] != opt.name] + [text]
    if not servers and not searches:
        return None
    lines = [f"nameserver {s}" for s in servers[:3]]
    if searches:
        lines.append("search " + " ".join(searches[:32]))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"
