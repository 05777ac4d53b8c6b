"""The EndpointSlice a selector Service should have, pure (Kubernetes' endpointslice
controller podToEndpoint and getEndpointPorts, simplified to one slice per Service).

Which pods count and whether they are ready comes from the Endpoints controller's
own rules (endpoints/subsets.py), so both views of a Service agree. Unlike the
Endpoints, the slice also lists terminating pods (ready=false, terminating=true),
as Kubernetes' controller does.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections import Counter
from collections.abc import Iterable

from kubelite.api.core_v1 import ObjectReference, Pod, Service
from kubelite.api.discovery_v1 import (
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    Endpoint,
    EndpointConditions,
    EndpointPort,
    EndpointSlice,
)
from kubelite.api.meta import ObjectMeta, OwnerReference
from kubelite_controller_manager.endpoints.subsets import (
    endpoints_labels,
    find_port,
    is_ready,
    pod_hostname,
    should_be_in_endpoints,
)

MANAGED_BY = "endpointslice-controller.k8s.io"

PortKey = tuple[tuple[str, str, int, str], ...]


def slice_name(service: Service) -> str:
    """`<service>-<5 hex digits of its uid>`: stable for the Service, new for a re-created one."""
    meta = service.metadata
    digest = hashlib.sha256((meta.uid or meta.name or "").encode()).hexdigest()[:5]
    return f"{meta.name}-{digest}"


def address_type(service: Service) -> str:
    families = (service.spec.ipFamilies if service.spec else None) or []
    return "IPv6" if families and families[0] == "IPv6" else "IPv4"


def pod_addresses(pod: Pod, family: str) -> list[str]:
    """The pod's IPs of the slice's family (podIPs first, podIP as fallback), one of them."""
    status = pod.status
    ips = [p.ip for p in (status.podIPs if status else None) or () if p.ip]
    if status and status.podIP and status.podIP not in ips:
        ips.append(status.podIP)
    want = 6 if family == "IPv6" else 4
    for ip in ips:
        try:
            if ipaddress.ip_address(ip).version == want:
                return [ip]
        except ValueError:
            continue
    return []


def pod_ports(service: Service, pod: Pod) -> list[EndpointPort]:
    """getEndpointPorts: every service port the pod serves, with the pod's port number."""
    out: list[EndpointPort] = []
    for sp in (service.spec.ports if service.spec else None) or ():
        number = find_port(pod, sp)
        if number is None:
            continue
        out.append(EndpointPort(name=sp.name or "", port=number, protocol=sp.protocol or "TCP",
                                appProtocol=sp.appProtocol))
    return out


def _port_key(ports: list[EndpointPort]) -> PortKey:
    return tuple(sorted((p.name or "", p.protocol or "", p.port or 0, p.appProtocol or "") for p in ports))


def pod_endpoint(service: Service, pod: Pod, addresses: list[str]) -> Endpoint:
    """podToEndpoint: ready never true for a terminating pod unless publishNotReadyAddresses."""
    publish = bool(service.spec and service.spec.publishNotReadyAddresses)
    serving = is_ready(pod)
    terminating = pod.metadata.deletionTimestamp is not None
    meta = pod.metadata
    hostname = pod_hostname(pod, service)
    return Endpoint(
        addresses=addresses,
        conditions=EndpointConditions(ready=publish or (serving and not terminating),
                                      serving=serving, terminating=terminating),
        hostname=hostname,
        targetRef=ObjectReference(kind="Pod", namespace=meta.namespace, name=meta.name, uid=meta.uid),
        nodeName=pod.spec.nodeName if pod.spec else None,
    )


def slice_endpoints(service: Service, pods: Iterable[Pod]) -> tuple[list[Endpoint], list[EndpointPort]]:
    """The endpoints and ports of the Service's one slice.

    Kubernetes keeps one slice per distinct set of resolved ports; with one slice,
    the set most pods resolve to wins and pods resolving to another set (a named
    targetPort some pods lack) are left out.
    """
    family = address_type(service)
    candidates: list[tuple[Pod, list[str], list[EndpointPort]]] = []
    for pod in pods:
        if not should_be_in_endpoints(pod, include_terminating=True):
            continue
        addresses = pod_addresses(pod, family)
        if not addresses:
            continue
        candidates.append((pod, addresses, pod_ports(service, pod)))
    if not candidates:
        return [], []
    counts = Counter(_port_key(ports) for _, _, ports in candidates)
    best = max(counts.items(), key=lambda kv: (kv[1], len(kv[0]), kv[0]))[0]
    endpoints: list[Endpoint] = []
    chosen: list[EndpointPort] = []
    for pod, addresses, ports in candidates:
        if _port_key(ports) != best:
            continue
        chosen = sorted(ports, key=lambda p: (p.name or "", p.protocol or "", p.port or 0))
        endpoints.append(pod_endpoint(service, pod, addresses))
    endpoints.sort(key=lambda e: ((e.targetRef.name or "") if e.targetRef else "", e.addresses or []))
    return endpoints, chosen


def slice_labels(service: Service) -> dict[str, str]:
    """The service's labels (with the headless mark, as on Endpoints) and the two slice labels."""
    labels = dict(endpoints_labels(service) or {})
    labels[SERVICE_NAME_LABEL] = service.metadata.name or ""
    labels[MANAGED_BY_LABEL] = MANAGED_BY
    return labels


def owner_reference(service: Service) -> OwnerReference:
    meta = service.metadata
    return OwnerReference(apiVersion="v1", kind="Service", name=meta.name or "", uid=meta.uid or "",
                          controller=True, blockOwnerDeletion=True)


def desired_slice(service: Service, pods: Iterable[Pod]) -> EndpointSlice:
    """The whole EndpointSlice the Service should have (no resourceVersion: a new object)."""
    endpoints, ports = slice_endpoints(service, pods)
    meta = service.metadata
    return EndpointSlice(
        apiVersion="discovery.k8s.io/v1", kind="EndpointSlice",
        metadata=ObjectMeta(name=slice_name(service), namespace=meta.namespace, labels=slice_labels(service),
                            ownerReferences=[owner_reference(service)]),
        addressType=address_type(service), endpoints=endpoints, ports=ports,
    )


def same_content(current: EndpointSlice, want: EndpointSlice) -> bool:
    """True when writing `want` over `current` would change nothing the controller owns."""
    cm, wm = current.metadata, want.metadata
    return (current.addressType == want.addressType
            and (current.endpoints or []) == (want.endpoints or [])
            and (current.ports or []) == (want.ports or [])
            and (cm.labels or {}) == (wm.labels or {})
            and (cm.ownerReferences or []) == (wm.ownerReferences or []))
