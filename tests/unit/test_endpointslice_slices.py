"""EndpointSlices: the one slice a Service should have, and its validation."""

from __future__ import annotations

import msgspec

from kubelite.api.core_v1 import (
    Container,
    ContainerPort,
    ObjectReference,
    Pod,
    PodCondition,
    PodIP,
    PodSpec,
    PodStatus,
    Service,
    ServicePort,
    ServiceSpec,
)
from kubelite.api.discovery_v1 import (
    ENDPOINTSLICES,
    Endpoint,
    EndpointConditions,
    EndpointPort,
    EndpointSlice,
)
from kubelite.api.meta import ObjectMeta
from kubelite.api.scheme import by_kind, by_plural
from kubelite.api.validation import validate, validate_update
from kubelite_controller_manager.endpointslices.controller import managed_for
from kubelite_controller_manager.endpointslices.slices import (
    desired_slice,
    same_content,
    slice_endpoints,
    slice_name,
)


def pod(name: str, ip: str | None, *, ready: bool = True, ports: list[ContainerPort] | None = None,
        deleting: bool = False, phase: str = "Running", ips: list[str] | None = None) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, namespace="ns", uid=f"uid-{name}", labels={"app": "web"},
                            deletionTimestamp="2026-01-01T00:00:00Z" if deleting else None),
        spec=PodSpec(nodeName="n1", containers=[Container(name="c", image="x", ports=ports)]),
        status=PodStatus(phase=phase, podIP=ip, podIPs=[PodIP(ip=i) for i in ips] if ips else None,
                         conditions=[PodCondition(type="Ready", status="True" if ready else "False")]),
    )


def service(*ports: ServicePort, publish_not_ready: bool = False, families: list[str] | None = None) -> Service:
    return Service(metadata=ObjectMeta(name="web", namespace="ns", uid="svc-uid", labels={"tier": "front"}),
                   spec=ServiceSpec(selector={"app": "web"}, ports=list(ports), clusterIP="10.0.0.1",
                                    publishNotReadyAddresses=publish_not_ready, ipFamilies=families))


HTTP = ServicePort(name="http", port=80, targetPort=8080, protocol="TCP")
NAMED = ServicePort(name="web", port=80, targetPort="www", protocol="TCP")


def conditions(e: Endpoint) -> tuple[bool | None, bool | None, bool | None]:
    assert e.conditions is not None
    return (e.conditions.ready, e.conditions.serving, e.conditions.terminating)


def test_scheme_registration() -> None:
    assert by_plural("discovery.k8s.io", "endpointslices") is ENDPOINTSLICES
    assert by_kind("discovery.k8s.io/v1", "EndpointSlice") is ENDPOINTSLICES
    assert ENDPOINTSLICES.namespaced and not ENDPOINTSLICES.has_spec and ENDPOINTSLICES.short_names == ()


def test_ready_not_ready_and_terminating_conditions() -> None:
    a, b, c = pod("a", "10.1.0.2"), pod("b", "10.1.0.3", ready=False), pod("c", "10.1.0.4", deleting=True)
    endpoints, ports = slice_endpoints(service(HTTP), [c, b, a])
    assert [e.addresses for e in endpoints] == [["10.1.0.2"], ["10.1.0.3"], ["10.1.0.4"]]
    assert [conditions(e) for e in endpoints] == [(True, True, False), (False, False, False), (False, True, True)]
    assert endpoints[0].targetRef == ObjectReference(kind="Pod", namespace="ns", name="a", uid="uid-a")
    assert endpoints[0].nodeName == "n1"
    assert ports == [EndpointPort(name="http", port=8080, protocol="TCP")]


def test_publish_not_ready_makes_every_endpoint_ready() -> None:
    b, c = pod("b", "10.1.0.3", ready=False), pod("c", "10.1.0.4", deleting=True)
    endpoints, _ = slice_endpoints(service(HTTP, publish_not_ready=True), [b, c])
    assert [conditions(e) for e in endpoints] == [(True, False, False), (True, True, True)]


def test_pods_without_ip_or_finished_are_left_out() -> None:
    endpoints, ports = slice_endpoints(service(HTTP), [pod("a", None), pod("b", "10.1.0.3", phase="Succeeded")])
    assert endpoints == [] and ports == []


def test_named_target_port_majority_wins() -> None:
    www = [ContainerPort(name="www", containerPort=8000)]
    a, b, c = pod("a", "10.1.0.2", ports=www), pod("b", "10.1.0.3", ports=www), pod("c", "10.1.0.4")
    endpoints, ports = slice_endpoints(service(NAMED), [a, b, c])
    assert [e.targetRef.name for e in endpoints if e.targetRef] == ["a", "b"]
    assert ports == [EndpointPort(name="web", port=8000, protocol="TCP")]


def test_address_family_follows_the_service() -> None:
    p = pod("a", "10.1.0.2", ips=["10.1.0.2", "fd00::2"])
    v6 = desired_slice(service(HTTP, families=["IPv6"]), [p])
    assert v6.addressType == "IPv6" and v6.endpoints and v6.endpoints[0].addresses == ["fd00::2"]
    v4 = desired_slice(service(HTTP), [p])
    assert v4.addressType == "IPv4" and v4.endpoints and v4.endpoints[0].addresses == ["10.1.0.2"]


def test_desired_slice_metadata() -> None:
    svc = service(HTTP)
    eps = desired_slice(svc, [pod("a", "10.1.0.2")])
    meta = eps.metadata
    assert meta.name == slice_name(svc) and meta.name.startswith("web-") and len(meta.name) == len("web-") + 5
    assert meta.labels == {"tier": "front", "kubernetes.io/service-name": "web",
                           "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
    assert meta.ownerReferences and meta.ownerReferences[0].uid == "svc-uid"
    assert meta.ownerReferences[0].controller is True and meta.ownerReferences[0].kind == "Service"
    assert managed_for(eps) == "web"
    assert validate(eps) == []


def test_empty_endpoints_are_serialised() -> None:
    # Kubernetes' field has no omitempty, and the official clients require it
    wire = msgspec.json.decode(msgspec.json.encode(desired_slice(service(HTTP), [])))
    assert wire["endpoints"] == [] and wire["addressType"] == "IPv4"


def test_same_content_ignores_server_fields() -> None:
    svc = service(HTTP)
    want = desired_slice(svc, [pod("a", "10.1.0.2")])
    stored = msgspec.structs.replace(want, metadata=msgspec.structs.replace(
        want.metadata, resourceVersion="7", uid="u", creationTimestamp="2026-01-01T00:00:00Z"))
    assert same_content(stored, want)
    assert not same_content(stored, desired_slice(svc, [pod("a", "10.1.0.2", ready=False)]))
    assert not same_content(stored, desired_slice(svc, []))


def eps(address_type: str | None = "IPv4", addresses: list[str] | None = None,
        ports: list[EndpointPort] | None = None) -> EndpointSlice:
    return EndpointSlice(metadata=ObjectMeta(name="s", namespace="ns"), addressType=address_type,
                         endpoints=[Endpoint(addresses=addresses or ["10.0.0.1"],
                                             conditions=EndpointConditions(ready=True))],
                         ports=ports)


def fields(errs: list) -> list[tuple[str, str]]:
    return [(e.type, e.field) for e in errs]


def test_validation() -> None:
    assert validate(eps()) == []
    assert validate(eps("FQDN", ["example.com"])) == []
    assert validate(eps("IPv6", ["fd00::1"])) == []
    assert fields(validate(eps(None))) == [("Required", "addressType")]
    assert fields(validate(eps("IPv5"))) == [("NotSupported", "addressType")]
    assert fields(validate(eps("IPv4", ["fd00::1"]))) == [("Invalid", "endpoints[0].addresses[0]")]
    assert fields(validate(eps(ports=[EndpointPort(name="a", port=0), EndpointPort(name="a", port=70000),
                                      EndpointPort(name="b", port=80, protocol="ICMP")]))) == [
        ("Invalid", "ports[0].port"), ("Duplicate", "ports[1].name"), ("Invalid", "ports[1].port"),
        ("NotSupported", "ports[2].protocol")]


def test_address_type_is_immutable() -> None:
    old = eps()
    old = msgspec.structs.replace(old, metadata=msgspec.structs.replace(old.metadata, uid="u", resourceVersion="1"))
    new = msgspec.structs.replace(old, addressType="IPv6", endpoints=[])
    assert ("Invalid", "addressType") in fields(validate_update(new, old))
    assert validate_update(msgspec.structs.replace(old, ports=[]), old) == []
