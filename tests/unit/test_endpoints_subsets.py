"""Endpoints subsets: readiness, terminating pods, target ports, repacking, headless services."""

from __future__ import annotations

from kubelite.api.core_v1 import (
    Container,
    ContainerPort,
    EndpointAddress,
    EndpointPort,
    EndpointSubset,
    ObjectReference,
    Pod,
    PodCondition,
    PodSpec,
    PodStatus,
    Service,
    ServicePort,
    ServiceSpec,
)
from kubelite.api.meta import ObjectMeta
from kubelite_controller_manager.endpoints.subsets import (
    endpoints_labels,
    find_port,
    repack,
    service_subsets,
)


def pod(name: str, ip: str | None, *, ready: bool = True, ports: list[ContainerPort] | None = None,
        deleting: bool = False, phase: str = "Running", node: str = "n1") -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, namespace="ns", uid=f"uid-{name}", labels={"app": "web"},
                            deletionTimestamp="2026-01-01T00:00:00Z" if deleting else None),
        spec=PodSpec(nodeName=node, containers=[Container(name="c", image="x", ports=ports)]),
        status=PodStatus(phase=phase, podIP=ip,
                         conditions=[PodCondition(type="Ready", status="True" if ready else "False")]),
    )


def service(*ports: ServicePort, publish_not_ready: bool = False, cluster_ip: str = "10.0.0.1") -> Service:
    return Service(metadata=ObjectMeta(name="web", namespace="ns", labels={"tier": "front"}),
                   spec=ServiceSpec(selector={"app": "web"}, ports=list(ports), clusterIP=cluster_ip,
                                    publishNotReadyAddresses=publish_not_ready))


def addr(p: Pod) -> EndpointAddress:
    return EndpointAddress(ip=p.status.podIP, nodeName="n1",
                           targetRef=ObjectReference(kind="Pod", namespace="ns", name=p.metadata.name,
                                                     uid=p.metadata.uid))


HTTP = ServicePort(name="http", port=80, targetPort=8080, protocol="TCP")


def test_ready_and_not_ready_pods() -> None:
    a, b = pod("a", "10.1.0.2"), pod("b", "10.1.0.3", ready=False)
    assert service_subsets(service(HTTP), [a, b]) == [EndpointSubset(
        addresses=[addr(a)], notReadyAddresses=[addr(b)],
        ports=[EndpointPort(name="http", port=8080, protocol="TCP")],
    )]


def test_pods_without_ip_finished_or_terminating_are_left_out() -> None:
    pods = [pod("noip", None), pod("done", "10.1.0.4", phase="Succeeded"),
            pod("failed", "10.1.0.6", phase="Failed"), pod("going", "10.1.0.5", deleting=True)]
    assert service_subsets(service(HTTP), pods) == []


def test_publish_not_ready_addresses_lists_every_pod_as_ready() -> None:
    a, b, c = pod("a", "10.1.0.2"), pod("b", "10.1.0.3", ready=False), pod("c", "10.1.0.4", deleting=True)
    [ss] = service_subsets(service(HTTP, publish_not_ready=True), [a, b, c])
    assert ss.addresses == [addr(a), addr(b), addr(c)]
    assert ss.notReadyAddresses is None


def test_addresses_sorted_by_ip_numerically() -> None:
    pods = [pod("x", "10.1.0.10"), pod("y", "10.1.0.9")]
    [ss] = service_subsets(service(HTTP), pods)
    assert [a.ip for a in ss.addresses or ()] == ["10.1.0.9", "10.1.0.10"]


def test_named_target_port_is_looked_up_per_pod() -> None:
    named = ServicePort(name="http", port=80, targetPort="web", protocol="TCP")
    a = pod("a", "10.1.0.2", ports=[ContainerPort(name="web", containerPort=8080, protocol="TCP")])
    b = pod("b", "10.1.0.3", ports=[ContainerPort(name="web", containerPort=9090, protocol="TCP")])
    c = pod("c", "10.1.0.4", ports=[ContainerPort(name="metrics", containerPort=9100, protocol="TCP")])
    subsets = service_subsets(service(named), [a, b, c])
    assert subsets == [
        EndpointSubset(addresses=[addr(a)], ports=[EndpointPort(name="http", port=8080, protocol="TCP")]),
        EndpointSubset(addresses=[addr(b)], ports=[EndpointPort(name="http", port=9090, protocol="TCP")]),
    ]  # c lacks the port and is left out


def test_named_port_must_match_protocol() -> None:
    udp = ServicePort(name="dns", port=53, targetPort="dns", protocol="UDP")
    p = pod("a", "10.1.0.2", ports=[ContainerPort(name="dns", containerPort=5353, protocol="TCP")])
    assert find_port(p, udp) is None
    p2 = pod("a", "10.1.0.2", ports=[ContainerPort(name="dns", containerPort=5353, protocol="UDP")])
    assert find_port(p2, udp) == 5353


def test_missing_target_port_defaults_to_port() -> None:
    assert find_port(pod("a", "1.1.1.1"), ServicePort(port=80)) == 80


def test_several_ports_served_by_the_same_pods_share_a_subset() -> None:
    metrics = ServicePort(name="metrics", port=9100, targetPort=9100, protocol="TCP")
    a, b = pod("a", "10.1.0.2"), pod("b", "10.1.0.3")
    assert service_subsets(service(HTTP, metrics), [a, b]) == [EndpointSubset(
        addresses=[addr(a), addr(b)],
        ports=[EndpointPort(name="http", port=8080, protocol="TCP"),
               EndpointPort(name="metrics", port=9100, protocol="TCP")],
    )]


def test_ports_served_by_different_address_sets_get_different_subsets() -> None:
    # RepackSubsets groups by the set of addresses behind each port
    named = ServicePort(name="metrics", port=9100, targetPort="metrics", protocol="TCP")
    a = pod("a", "10.1.0.2", ports=[ContainerPort(name="metrics", containerPort=9100, protocol="TCP")])
    b = pod("b", "10.1.0.3")
    assert service_subsets(service(HTTP, named), [a, b]) == [
        EndpointSubset(addresses=[addr(a), addr(b)], ports=[EndpointPort(name="http", port=8080, protocol="TCP")]),
        EndpointSubset(addresses=[addr(a)], ports=[EndpointPort(name="metrics", port=9100, protocol="TCP")]),
    ]


def test_headless_service_without_ports_lists_addresses_alone() -> None:
    a = pod("a", "10.1.0.2")
    assert service_subsets(service(cluster_ip="None"), [a]) == [EndpointSubset(addresses=[addr(a)])]
    assert service_subsets(service(), [a]) == []  # not headless: no ports, no endpoints


def test_repack_not_ready_trumps_ready() -> None:
    a = EndpointAddress(ip="10.0.0.1")
    p = EndpointPort(name="p", port=1, protocol="TCP")
    out = repack([EndpointSubset(addresses=[a], ports=[p]), EndpointSubset(notReadyAddresses=[a], ports=[p])])
    assert out == [EndpointSubset(notReadyAddresses=[a], ports=[p])]


def test_repack_is_independent_of_input_order() -> None:
    a, b = EndpointAddress(ip="10.0.0.1"), EndpointAddress(ip="10.0.0.2")
    p1, p2 = EndpointPort(name="a", port=1, protocol="TCP"), EndpointPort(name="b", port=2, protocol="TCP")
    one = [EndpointSubset(addresses=[a], ports=[p1]), EndpointSubset(addresses=[b], ports=[p2]),
           EndpointSubset(addresses=[a], ports=[p2])]
    assert repack(one) == repack(list(reversed(one)))


def test_hostname_set_for_pods_in_the_services_subdomain() -> None:
    p = pod("a", "10.1.0.2")
    p.spec.hostname, p.spec.subdomain = "a-host", "web"
    [ss] = service_subsets(service(HTTP), [p])
    assert ss.addresses and ss.addresses[0].hostname == "a-host"


def test_endpoints_labels() -> None:
    assert endpoints_labels(service(HTTP)) == {"tier": "front"}
    assert endpoints_labels(service(cluster_ip="None")) == {"tier": "front", "service.kubernetes.io/headless": ""}
