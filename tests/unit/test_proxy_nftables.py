"""nftables rules (pure): what a Service port puts in the table, and what an update touches."""

from __future__ import annotations

from kubelite_proxy.nft_dataplane import _conntrack_flushes
from kubelite_proxy.nftables import (
    Element,
    block,
    endpoint_chain,
    external_chain,
    replace_script,
    service_chain,
    table_name,
    update_script,
)
from kubelite_proxy.rules import Backend, Frontend, PortRule, ServicePortName, resolve_frontends

WEB = ServicePortName("default", "web", "", "TCP")
API = ServicePortName("default", "api", "http", "TCP")
A, B = Backend("10.244.1.5", 8080), Backend("10.244.2.7", 8080)


def rule(spn: ServicePortName, *backends: Backend, ip: str = "10.96.0.10", node_port: int = 0,
         affinity: int | None = None) -> PortRule:  # fmt: skip
    fronts = [Frontend(ip, 80, spn.protocol)] + ([Frontend("0.0.0.0", node_port, spn.protocol)] if node_port else [])
    return PortRule(spn, tuple(fronts), backends, affinity, ip)


def blocks(*rules: PortRule) -> dict:
    owners, _ = resolve_frontends(rules)
    return {r.service_port: block(r, [f for f in r.frontends if owners.get(f) == r.service_port]) for r in rules}


def test_table_per_node_with_safe_characters() -> None:
    assert table_name("w-1") == "kubelite-proxy-w-1"
    assert table_name("node:7") == "kubelite-proxy-node_7"


def test_cluster_ip_goes_to_the_service_chain_node_port_through_the_external_one() -> None:
    b = block(rule(WEB, A, B, node_port=30080), rule(WEB, A, B, node_port=30080).frontends)
    assert b.elements == {
        Element("service-ips", "10.96.0.10 . tcp . 80", f"goto {service_chain(WEB)}"),
        Element("service-nodeports", "tcp . 30080", f"goto {external_chain(WEB)}"),
    }
    assert b.chains[external_chain(WEB)] == ("jump mark-for-masquerade", f"goto {service_chain(WEB)}")
    assert b.chains[service_chain(WEB)] == (
        "ip saddr { 10.244.1.5, 10.244.2.7 } jump mark-for-masquerade",
        "meta l4proto tcp dnat ip to numgen random mod 2 map { 0 : 10.244.1.5 . 8080, 1 : 10.244.2.7 . 8080 }",
    )
    assert set(b.chains) == {service_chain(WEB), external_chain(WEB)}  # no chain per endpoint without affinity
    one = block(rule(WEB, A), rule(WEB, A).frontends)
    assert one.chains[service_chain(WEB)] == (
        "ip saddr 10.244.1.5 jump mark-for-masquerade", "meta l4proto tcp dnat to 10.244.1.5:8080",
    )  # fmt: skip


def test_no_endpoints_rejects_and_has_no_chains() -> None:
    r = rule(WEB, node_port=30080)
    b = block(r, r.frontends)
    assert {e.map for e in b.elements} == {"no-endpoint-services", "no-endpoint-nodeports"}
    assert {e.verdict for e in b.elements} == {"goto reject-chain"}
    assert not b.chains


def test_affinity_sets_are_checked_before_the_random_choice_and_refreshed_by_the_endpoint() -> None:
    r = rule(WEB, A, B, affinity=600)
    b = block(r, r.frontends)
    first = b.chains[service_chain(WEB)][0]
    assert first.startswith("ip saddr @aff-") and first.endswith(f"goto {endpoint_chain(WEB, A)}")
    assert any(line.startswith("update @aff-") for line in b.chains[endpoint_chain(WEB, A)])
    assert all("timeout 600s" in spec for spec in b.sets.values()) and len(b.sets) == 2


def test_a_frontend_two_services_claim_goes_to_one_only() -> None:
    both = blocks(rule(WEB, A), rule(API, B))  # same cluster IP and port
    keys = [e.key for b in both.values() for e in b.elements]
    assert keys == ["10.96.0.10 . tcp . 80"]


def test_update_touches_only_what_changed_and_nothing_when_nothing_did() -> None:
    old = blocks(rule(WEB, A, B, affinity=60), rule(API, A, ip="10.96.0.20"))
    assert update_script("t", old, old) == ""
    new = blocks(rule(WEB, B, affinity=60), rule(API, A, ip="10.96.0.20"))
    script = update_script("t", old, new).splitlines()
    assert all("default/api" not in line for line in script), script
    assert script.index(f"flush chain ip t {service_chain(WEB)}") < script.index(
        f"delete chain ip t {endpoint_chain(WEB, A)}")  # fmt: skip
    assert f"flush chain ip t {endpoint_chain(WEB, A)}" in script  # emptied before it is deleted
    assert script[-1].startswith("delete set ip t aff-") and "10.244.1.5" in script[-1]
    assert not any(line.startswith("delete set") and "10.244.2.7" in line for line in script)  # B keeps its clients


def test_update_moves_a_frontend_by_deleting_before_adding() -> None:
    old = blocks(rule(WEB, A))
    new = blocks(rule(WEB))  # lost its endpoint: the key moves to the reject map
    script = update_script("t", old, new).splitlines()
    delete = script.index("delete element ip t service-ips { 10.96.0.10 . tcp . 80 }")
    add = script.index("add element ip t no-endpoint-services { 10.96.0.10 . tcp . 80 : goto reject-chain }")
    assert delete < add


def test_replace_script_starts_from_an_empty_table() -> None:
    text = replace_script("t", blocks(rule(WEB, A)).values())
    assert text.startswith("add table ip t\ndelete table ip t\ntable ip t {")
    assert "elements = { 10.96.0.10 . tcp . 80 : goto " in text


def test_udp_conntrack_flushed_for_removed_endpoints_and_for_the_first_one() -> None:
    dns = ServicePortName("kube-system", "dns", "dns", "UDP")
    two, one, none = rule(dns, A, B, ip="10.96.0.10"), rule(dns, B, ip="10.96.0.10"), rule(dns, ip="10.96.0.10")
    base = ["conntrack", "-D", "-p", "udp", "--orig-dst", "10.96.0.10", "--orig-port-dst", "80"]
    assert _conntrack_flushes([two], [one]) == [[*base, "--dst-nat", A.ip]]
    assert _conntrack_flushes([none], [one]) == [base]
    assert _conntrack_flushes([one], []) == [[*base, "--dst-nat", B.ip]]  # the Service went
    assert _conntrack_flushes([rule(WEB, A)], [rule(WEB)]) == []  # TCP keeps its connections
