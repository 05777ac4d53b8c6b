"""Proxy rule computation and backend choice (pure)."""

from __future__ import annotations

from typing import Any

import msgspec

from kubelite.api.core_v1 import Endpoints, Service
from kubelite_proxy.balancer import Balancer
from kubelite_proxy.rules import (
    DEFAULT_AFFINITY_SECONDS,
    Backend,
    Frontend,
    ServicePortName,
    resolve_frontends,
    service_rules,
)


def svc(name: str = "web", ns: str = "default", **spec: Any) -> Service:
    spec.setdefault("clusterIP", "10.96.0.10")
    return msgspec.convert({"metadata": {"name": name, "namespace": ns}, "spec": spec}, Service)


def eps(subsets: list[dict[str, Any]], name: str = "web", ns: str = "default") -> Endpoints:
    return msgspec.convert({"metadata": {"name": name, "namespace": ns}, "subsets": subsets}, Endpoints)


def addrs(*ips: str) -> list[dict[str, str]]:
    return [{"ip": ip} for ip in ips]


def test_single_unnamed_port_maps_cluster_ip_to_ready_addresses() -> None:
    [rule] = service_rules(
        svc(ports=[{"port": 80, "targetPort": 8080}]),
        eps([{"addresses": addrs("10.0.0.1", "10.0.0.2"), "ports": [{"port": 8080}]}]),
    )
    assert rule.service_port == ServicePortName("default", "web", "", "TCP")
    assert rule.frontends == (Frontend("10.96.0.10", 80, "TCP"),)
    assert rule.backends == (Backend("10.0.0.1", 8080), Backend("10.0.0.2", 8080))
    assert rule.affinity_seconds is None
    assert rule.warnings == ()


def test_named_ports_resolve_through_endpoint_port_names() -> None:
    # The Endpoints controller resolved targetPort "web" per pod; ports match by Service port name.
    service = svc(ports=[
        {"name": "http", "port": 80, "targetPort": "web"},
        {"name": "metrics", "port": 9090, "targetPort": 9100},
    ])  # fmt: skip
    endpoints = eps([
        {"addresses": addrs("10.0.0.1"), "ports": [{"name": "http", "port": 8080}, {"name": "metrics", "port": 9100}]},
        {"addresses": addrs("10.0.0.2"), "ports": [{"name": "http", "port": 8081}, {"name": "metrics", "port": 9100}]},
    ])  # fmt: skip
    rules = {r.service_port.port: r for r in service_rules(service, endpoints)}
    assert rules["http"].backends == (Backend("10.0.0.1", 8080), Backend("10.0.0.2", 8081))
    assert rules["metrics"].backends == (Backend("10.0.0.1", 9100), Backend("10.0.0.2", 9100))
    assert rules["http"].frontends == (Frontend("10.96.0.10", 80, "TCP"),)


def test_not_ready_addresses_get_no_traffic() -> None:
    [rule] = service_rules(
        svc(ports=[{"port": 80}]),
        eps([{"addresses": addrs("10.0.0.1"), "notReadyAddresses": addrs("10.0.0.2"), "ports": [{"port": 80}]}]),
    )
    assert rule.backends == (Backend("10.0.0.1", 80),)


def test_protocol_must_match_and_udp_is_its_own_rule() -> None:
    service = svc(ports=[{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53}])
    endpoints = eps([{"addresses": addrs("10.0.0.5"), "ports": [
        {"name": "dns", "port": 5353, "protocol": "UDP"},
        {"name": "dns-tcp", "port": 5353, "protocol": "TCP"},
        {"name": "dns", "port": 1, "protocol": "TCP"},  # same name, other protocol: not a backend of dns/UDP
    ]}])  # fmt: skip
    rules = {r.service_port.port: r for r in service_rules(service, endpoints)}
    assert rules["dns"].frontends == (Frontend("10.96.0.10", 53, "UDP"),)
    assert rules["dns"].backends == (Backend("10.0.0.5", 5353),)
    assert rules["dns-tcp"].backends == (Backend("10.0.0.5", 5353),)


def test_no_endpoints_gives_empty_backends_and_a_warning_not_an_error() -> None:
    [rule] = service_rules(svc(ports=[{"port": 80}]), None)
    assert rule.backends == ()
    assert rule.warnings == ("no ready endpoints",)
    [rule] = service_rules(svc(ports=[{"port": 80}]), eps([]))
    assert rule.backends == ()


def test_node_port_frontend_on_the_bind_address() -> None:
    service = svc(type="NodePort", ports=[{"port": 80, "nodePort": 30080}])
    [rule] = service_rules(service, None, node_address="127.0.0.2")
    assert rule.frontends == (Frontend("10.96.0.10", 80, "TCP"), Frontend("127.0.0.2", 30080, "TCP"))
    # a ClusterIP Service has no NodePort even if the field lingers
    [rule] = service_rules(svc(ports=[{"port": 80, "nodePort": 30080}]), None)
    assert rule.frontends == (Frontend("10.96.0.10", 80, "TCP"),)


def test_external_ips_are_frontends() -> None:
    [rule] = service_rules(svc(externalIPs=["192.0.2.7"], ports=[{"port": 80}]), None)
    assert Frontend("192.0.2.7", 80, "TCP") in rule.frontends


def test_headless_and_external_name_services_forward_nothing() -> None:
    [rule] = service_rules(svc(clusterIP="None", ports=[{"port": 80}]), eps([{"addresses": addrs("10.0.0.1"),
                                                                             "ports": [{"port": 80}]}]))
    assert rule.frontends == ()
    assert service_rules(svc(type="ExternalName", externalName="example.com"), None) == []


def test_unsupported_protocol_is_a_warning() -> None:
    [rule] = service_rules(svc(ports=[{"port": 80, "protocol": "SCTP"}]), None)
    assert rule.frontends == ()
    assert any("SCTP" in w for w in rule.warnings)


def test_session_affinity_timeout() -> None:
    [rule] = service_rules(svc(sessionAffinity="ClientIP", ports=[{"port": 80}]), None)
    assert rule.affinity_seconds == DEFAULT_AFFINITY_SECONDS
    [rule] = service_rules(svc(sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 30}},
                               ports=[{"port": 80}]), None)  # fmt: skip
    assert rule.affinity_seconds == 30


def test_frontend_conflicts_are_settled_deterministically() -> None:
    a = service_rules(svc("a", type="NodePort", clusterIP="10.96.0.1", ports=[{"port": 80, "nodePort": 30001}]), None)
    b = service_rules(svc("b", type="NodePort", clusterIP="10.96.0.2", ports=[{"port": 80, "nodePort": 30001}]), None)
    for order in (a + b, b + a):
        owners, warnings = resolve_frontends(order)
        assert owners[Frontend("0.0.0.0", 30001, "TCP")].name == "a"
        assert owners[Frontend("10.96.0.2", 80, "TCP")].name == "b"
        assert len(warnings) == 1 and "taken by default/a" in warnings[0]


B1, B2, B3 = Backend("10.0.0.1", 80), Backend("10.0.0.2", 80), Backend("10.0.0.3", 80)


def test_round_robin_spreads_evenly_and_offers_the_rest_as_fallbacks() -> None:
    bal = Balancer((B1, B2, B3))
    firsts = [bal.candidates("1.1.1.1")[0] for _ in range(300)]
    assert {b: firsts.count(b) for b in (B1, B2, B3)} == {B1: 100, B2: 100, B3: 100}
    order = bal.candidates("1.1.1.1")
    assert sorted(order) == [B1, B2, B3]  # a failed first choice is followed by every other backend


def test_no_backends_no_candidates() -> None:
    assert Balancer(()).candidates("1.1.1.1") == []


def test_update_keeps_going_and_removed_backends_are_not_offered() -> None:
    bal = Balancer((B1, B2, B3))
    bal.candidates("c")
    bal.update((B1, B3), None)
    seen = {bal.candidates("c")[0] for _ in range(10)}
    assert seen == {B1, B3}


def test_client_ip_affinity_sticks_until_timeout() -> None:
    now = [1000.0]
    bal = Balancer((B1, B2, B3), affinity_seconds=10, clock=lambda: now[0])
    first = bal.candidates("1.1.1.1")[0]
    bal.connected("1.1.1.1", first)
    for _ in range(5):
        assert bal.candidates("1.1.1.1")[0] == first
        bal.connected("1.1.1.1", first)
        now[0] += 9  # each use restarts the timer
    other = bal.candidates("2.2.2.2")[0]
    assert other != first  # other clients still rotate
    now[0] += 11
    firsts = {bal.candidates("1.1.1.1")[0] for _ in range(3)}
    assert firsts == {B1, B2, B3}  # expired: round-robin again


def test_affinity_to_a_removed_backend_is_forgotten() -> None:
    bal = Balancer((B1, B2), affinity_seconds=100)
    bal.connected("1.1.1.1", B1)
    bal.update((B2, B3), 100)
    assert B1 not in bal.candidates("1.1.1.1")


def test_affinity_falls_back_when_sticky_backend_fails() -> None:
    bal = Balancer((B1, B2, B3), affinity_seconds=100)
    bal.connected("1.1.1.1", B2)
    order = bal.candidates("1.1.1.1")
    assert order[0] == B2 and sorted(order[1:]) == [B1, B3]


def test_failed_backend_is_tried_last_for_a_while() -> None:
    now = [0.0]
    bal = Balancer((B1, B2, B3), clock=lambda: now[0])
    bal.failed(B2)
    for _ in range(6):
        assert bal.candidates("c")[-1] == B2  # still offered, as a last resort
    bal.update((B2,), None)
    assert bal.candidates("c") == [B2]  # the only one left is still tried
    bal.update((B1, B2, B3), None)
    now[0] += 6  # penalty over
    assert {bal.candidates("c")[0] for _ in range(3)} == {B1, B2, B3}
    bal.failed(B1)
    bal.connected("c", B1)  # it answered again: forgiven at once
    assert {bal.candidates("c")[0] for _ in range(3)} == {B1, B2, B3}
