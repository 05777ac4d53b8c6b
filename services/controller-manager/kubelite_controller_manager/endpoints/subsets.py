"""Endpoints subsets from a Service and its pods, pure (Kubernetes' endpoints controller
syncService, FindPort, ShouldPodBeInEndpoints and RepackSubsets)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kubelite.api.core_v1 import (
    EndpointAddress,
    EndpointPort,
    EndpointSubset,
    ObjectReference,
    Pod,
    Service,
    ServicePort,
)

HEADLESS_LABEL = "service.kubernetes.io/headless"


def is_ready(pod: Pod) -> bool:
    for cond in (pod.status.conditions if pod.status else None) or ():
        if cond.type == "Ready":
            return cond.status == "True"
    return False


def should_be_in_endpoints(pod: Pod, include_terminating: bool) -> bool:
    """ShouldPodBeInEndpoints: not finished, has an IP, and (unless publishing not-ready
    addresses) not terminating; a pod being deleted stops receiving traffic at once."""
    status = pod.status
    if status is None or status.phase in ("Succeeded", "Failed"):
        return False
    if not status.podIP and not status.podIPs:
        return False
    return include_terminating or not pod.metadata.deletionTimestamp


def find_port(pod: Pod, port: ServicePort) -> int | None:
    """FindPort: a numeric targetPort as is; a named one looked up among the pod's container
    ports with the same protocol (None when the pod has no such port)."""
    target = port.targetPort if port.targetPort is not None else port.port
    if isinstance(target, int):
        return target
    protocol = port.protocol or "TCP"
    containers = list((pod.spec.containers if pod.spec else None) or [])
    # sidecars (init containers that keep running) may serve named ports too
    containers += [c for c in (pod.spec.initContainers if pod.spec else None) or ()
                   if getattr(c, "restartPolicy", None) == "Always"]
    for c in containers:
        for cp in c.ports or ():
            if cp.name == target and (cp.protocol or "TCP") == protocol:
                return cp.containerPort
    return None


def pod_hostname(pod: Pod, service: Service) -> str | None:
    """The pod's hostname as the Service publishes it: only a pod whose subdomain names
    the Service (in the same namespace) gets one, for its DNS record."""
    spec = pod.spec
    if spec and spec.hostname and spec.subdomain == service.metadata.name \
            and pod.metadata.namespace == service.metadata.namespace:
        return spec.hostname
    return None


def pod_address(pod: Pod, service: Service) -> EndpointAddress:
    meta = pod.metadata
    hostname = pod_hostname(pod, service)
    return EndpointAddress(
        ip=pod.status.podIP if pod.status and pod.status.podIP else _first_ip(pod),
        hostname=hostname,
        nodeName=pod.spec.nodeName if pod.spec else None,
        targetRef=ObjectReference(kind="Pod", namespace=meta.namespace, name=meta.name, uid=meta.uid),
    )


def _first_ip(pod: Pod) -> str | None:
    ips = pod.status.podIPs if pod.status else None
    return ips[0].ip if ips else None


def service_subsets(service: Service, pods: Iterable[Pod]) -> list[EndpointSubset]:
    """The Endpoints subsets for `service` over the pods its selector matched."""
    spec = service.spec
    if spec is None:
        return []
    tolerate_unready = bool(spec.publishNotReadyAddresses)
    raw: list[EndpointSubset] = []
    for pod in pods:
        if not should_be_in_endpoints(pod, tolerate_unready):
            continue
        addr = pod_address(pod, service)
        ready = tolerate_unready or is_ready(pod)
        if not spec.ports:
            if spec.clusterIP == "None":  # a headless service may have no ports
                raw.append(_one(addr, None, ready))
            continue
        for sp in spec.ports:
            number = find_port(pod, sp)
            if number is None:
                continue  # this pod lacks the named port: left out of that port's subset
            port = EndpointPort(name=sp.name or None, port=number, protocol=sp.protocol or "TCP",
                                appProtocol=sp.appProtocol)
            raw.append(_one(addr, port, ready))
    return repack(raw)


def _one(addr: EndpointAddress, port: EndpointPort | None, ready: bool) -> EndpointSubset:
    return EndpointSubset(
        addresses=[addr] if ready else None,
        notReadyAddresses=None if ready else [addr],
        ports=[port] if port else None,
    )


def _addr_key(a: EndpointAddress) -> tuple[str, str]:
    return (a.ip or "", (a.targetRef.uid or "") if a.targetRef else "")


def _port_key(p: EndpointPort | None) -> tuple[str, int, str, str]:
    if p is None:
        return ("", -1, "", "")  # the sentinel for "no ports" (headless)
    return (p.name or "", p.port or 0, p.protocol or "", p.appProtocol or "")


def _ip_sort_key(a: EndpointAddress) -> tuple[int, ...] | tuple[str, ...]:
    ip = a.ip or ""
    parts = ip.split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        return (0, *(int(p) for p in parts), 0)  # numeric order for IPv4
    return (1, ip)  # type: ignore[return-value]


def repack(subsets: Sequence[EndpointSubset]) -> list[EndpointSubset]:
    """RepackSubsets: one subset per distinct set of addresses, holding every port those
    addresses all serve. An address not ready on a port counts as not ready there
    ("not ready always trumps ready")."""
    addrs: dict[tuple[str, str], EndpointAddress] = {}
    ports: dict[tuple[str, int, str, str], EndpointPort | None] = {}
    port_addrs: dict[tuple[str, int, str, str], dict[tuple[str, str], bool]] = {}
    for ss in subsets:
        for port in ss.ports or [None]:
            pk = _port_key(port)
            ports.setdefault(pk, port)
            table = port_addrs.setdefault(pk, {})
            for addr, ready in [(a, True) for a in ss.addresses or ()] + \
                               [(a, False) for a in ss.notReadyAddresses or ()]:
                ak = _addr_key(addr)
                addrs.setdefault(ak, addr)
                if table.get(ak, True):
                    table[ak] = ready
    groups: dict[tuple[tuple[tuple[str, str], bool], ...], list[EndpointPort]] = {}
    for pk, table in port_addrs.items():
        group = tuple(sorted(table.items()))
        real = ports[pk]
        members = groups.setdefault(group, [])
        if real is not None:
            members.append(real)
    out: list[EndpointSubset] = []
    for group, group_ports in groups.items():
        ready = sorted((addrs[k] for k, r in group if r), key=lambda a: (_ip_sort_key(a), _addr_key(a)))
        not_ready = sorted((addrs[k] for k, r in group if not r), key=lambda a: (_ip_sort_key(a), _addr_key(a)))
        if not ready and not not_ready:
            continue
        out.append(EndpointSubset(
            addresses=ready or None, notReadyAddresses=not_ready or None,
            ports=sorted(group_ports, key=_port_key) or None,
        ))
    out.sort(key=_subset_sort_key)
    return out


def _subset_sort_key(ss: EndpointSubset) -> tuple:
    first = (ss.addresses or ss.notReadyAddresses or [EndpointAddress()])[0]
    return (_ip_sort_key(first), _addr_key(first), [_port_key(p) for p in ss.ports or ()])


def endpoints_labels(service: Service) -> dict[str, str] | None:
    """The service's labels, plus service.kubernetes.io/headless for a headless service."""
    labels = dict(service.metadata.labels or {})
    if service.spec and service.spec.clusterIP == "None":
        labels[HEADLESS_LABEL] = ""
    else:
        labels.pop(HEADLESS_LABEL, None)
    return labels or None
