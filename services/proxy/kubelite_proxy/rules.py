"""Rule computation (pure): Services + Endpoints -> what the data path must forward.

Kept apart from forwarding so a kernel backend (nftables) can consume the same
table as the userspace one. A Service port becomes one `PortRule`: the
frontends that accept traffic for it (cluster IP:port, externalIPs:port and,
for NodePort/LoadBalancer Services, <node address>:nodePort) and the ready
backends. As in kube-proxy, a Service port's backends are the Endpoints ports
with the same *name* (the Endpoints controller has already resolved targetPort,
numeric or named, into that port number); not-ready addresses never receive
traffic.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from kubelite.api.core_v1 import Endpoints, Service

DEFAULT_AFFINITY_SECONDS = 10800  # Kubernetes' default ClientIP timeout (3 hours)
NODE_PORT_TYPES = frozenset({"NodePort", "LoadBalancer"})


class ServiceKey(NamedTuple):
    namespace: str
    name: str


class ServicePortName(NamedTuple):
    """One port of one Service (kube-proxy's ServicePortName)."""

    namespace: str
    name: str
    port: str  # the Service port's name ("" for a single unnamed port)
    protocol: str

    def __str__(self) -> str:
        port = f":{self.port}" if self.port else ""
        return f"{self.namespace}/{self.name}{port}/{self.protocol}"


class Frontend(NamedTuple):
    """An address the proxy accepts traffic on. ip "0.0.0.0" means every node address."""

    ip: str
    port: int
    protocol: str  # TCP | UDP


class Backend(NamedTuple):
    ip: str
    port: int


@dataclass(frozen=True)
class PortRule:
    service_port: ServicePortName
    frontends: tuple[Frontend, ...]
    backends: tuple[Backend, ...]
    affinity_seconds: int | None = None  # None: no session affinity
    cluster_ip: str = ""  # "" for headless / none
    warnings: tuple[str, ...] = field(default=(), compare=False)


def _protocol(value: str | None) -> str:
    return (value or "TCP").upper()


def is_headless(svc: Service) -> bool:
    ip = svc.spec.clusterIP if svc.spec else None
    return not ip or ip == "None"


def affinity_seconds(svc: Service) -> int | None:
    spec = svc.spec
    if spec is None or spec.sessionAffinity != "ClientIP":
        return None
    cfg = spec.sessionAffinityConfig
    seconds = cfg.clientIP.timeoutSeconds if cfg and cfg.clientIP else None
    return seconds or DEFAULT_AFFINITY_SECONDS


def ready_backends(endpoints: Endpoints | None, port_name: str, protocol: str) -> tuple[Backend, ...]:
    """Ready addresses × the Endpoints port named `port_name` (same protocol), in order, deduplicated."""
    if endpoints is None:
        return ()
    out: dict[Backend, None] = {}
    for subset in endpoints.subsets or []:
        ports = [
            p.port
            for p in subset.ports or []
            if (p.name or "") == port_name and _protocol(p.protocol) == protocol and p.port
        ]
        for addr in subset.addresses or []:
            if not addr.ip:
                continue
            for port in ports:
                out[Backend(addr.ip, port)] = None
    return tuple(out)


def service_rules(
    svc: Service, endpoints: Endpoints | None, *, node_address: str = "0.0.0.0"
) -> list[PortRule]:
    """The rules for one Service. Headless and ExternalName Services forward nothing (DNS only)."""
    spec = svc.spec
    if spec is None or spec.type == "ExternalName":
        return []
    ns = svc.metadata.namespace or "default"
    name = svc.metadata.name or ""
    cluster_ip = "" if is_headless(svc) else (spec.clusterIP or "")
    node_ports = spec.type in NODE_PORT_TYPES
    affinity = affinity_seconds(svc)
    rules: list[PortRule] = []
    for sp in spec.ports or []:
        protocol = _protocol(sp.protocol)
        if not sp.port:
            continue
        warnings: list[str] = []
        frontends: list[Frontend] = []
        if protocol not in ("TCP", "UDP"):
            warnings.append(f"protocol {protocol} is not supported by the userspace proxy")
        elif cluster_ip:
            frontends.append(Frontend(cluster_ip, sp.port, protocol))
            frontends += [Frontend(ip, sp.port, protocol) for ip in spec.externalIPs or []]
            if node_ports and sp.nodePort:
                frontends.append(Frontend(node_address, sp.nodePort, protocol))
        spn = ServicePortName(ns, name, sp.name or "", protocol)
        backends = ready_backends(endpoints, sp.name or "", protocol)
        if not backends:
            warnings.append("no ready endpoints")
        rules.append(PortRule(spn, tuple(frontends), backends, affinity, cluster_ip, tuple(warnings)))
    return rules


def resolve_frontends(rules: Iterable[PortRule]) -> tuple[dict[Frontend, ServicePortName], list[str]]:
    """Pure: frontend -> service port, plus a warning for each frontend two Service ports claim.

    Conflicts are settled deterministically (the smaller ServicePortName keeps it), so
    every proxy agrees regardless of the order it learnt the Services in.
    """
    owners: dict[Frontend, ServicePortName] = {}
    warnings: list[str] = []
    for rule in sorted(rules, key=lambda r: r.service_port):
        for fe in rule.frontends:
            held = owners.get(fe)
            if held is None:
                owners[fe] = rule.service_port
            elif held != rule.service_port:
                warnings.append(f"{fe.ip}:{fe.port}/{fe.protocol} of {rule.service_port} is taken by {held}")
    return owners, warnings


def key_of(obj: Any) -> ServiceKey:
    return ServiceKey(obj.metadata.namespace or "default", obj.metadata.name or "")


class RuleTable:
    """Each Service's port rules as the handler last set them: what both data planes keep."""

    def __init__(self) -> None:
        self._by_service: dict[Hashable, list[PortRule]] = {}

    def replace(self, key: Hashable, rules: list[PortRule]) -> list[PortRule]:
        """Set the Service `key`'s rules (none: forget it); returns the rules they replace. A
        Service keeps its place in the order (which of two claims to one frontend came first)."""
        old = self._by_service.get(key, [])
        if rules:
            self._by_service[key] = rules
        else:
            self._by_service.pop(key, None)
        return old

    def all(self) -> list[PortRule]:
        return [r for rules in self._by_service.values() for r in rules]
