"""Cluster DNS answers (pure: dns_records.answer over an in-memory view)."""

from __future__ import annotations

from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import msgspec
import pytest

from kubelite.api.core_v1 import Endpoints, Service
from kubelite_proxy.dns_records import answer
from kubelite_proxy.dns_server import parse_host_port, upstreams_from_resolv_conf

DOMAIN = dns.name.from_text("cluster.local")


class View:
    def __init__(self, services: list[Service], endpoints: list[Endpoints]) -> None:
        self.s = {(o.metadata.namespace, o.metadata.name): o for o in services}
        self.e = {(o.metadata.namespace, o.metadata.name): o for o in endpoints}

    def service(self, namespace: str, name: str) -> Service | None:
        return self.s.get((namespace, name))

    def endpoints(self, namespace: str, name: str) -> Endpoints | None:
        return self.e.get((namespace, name))


def obj(cls: type, name: str, ns: str = "shop", **fields: Any) -> Any:
    return msgspec.convert({"metadata": {"name": name, "namespace": ns}, **fields}, cls)


VIEW = View(
    [
        obj(Service, "web", spec={"clusterIP": "10.96.0.10", "ports": [
            {"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]}),
        obj(Service, "db", spec={"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}),
        obj(Service, "ext", spec={"type": "ExternalName", "externalName": "example.com"}),
    ],
    [
        obj(Endpoints, "db", subsets=[{
            "addresses": [{"ip": "10.244.1.5", "hostname": "db-0"}, {"ip": "10.244.1.6"}],
            "notReadyAddresses": [{"ip": "10.244.1.7"}],
            "ports": [{"name": "pg", "port": 5432}],
        }]),
    ],
)  # fmt: skip


def ask(name: str, rdtype: str = "A") -> dns.message.Message:
    response = answer(dns.message.make_query(name, rdtype), VIEW, DOMAIN)
    assert response is not None
    return response


def records(response: dns.message.Message) -> set[str]:
    return {rd.to_text() for rrset in response.answer for rd in rrset}


def test_service_a_record_is_its_cluster_ip() -> None:
    r = ask("web.shop.svc.cluster.local")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    assert records(r) == {"10.96.0.10"}
    assert r.answer[0].ttl == 5


def test_names_are_case_insensitive() -> None:
    assert records(ask("WEB.Shop.SVC.cluster.local")) == {"10.96.0.10"}


def test_headless_service_answers_ready_pod_ips() -> None:
    assert records(ask("db.shop.svc.cluster.local")) == {"10.244.1.5", "10.244.1.6"}
    assert records(ask("db-0.db.shop.svc.cluster.local")) == {"10.244.1.5"}
    assert records(ask("10-244-1-6.db.shop.svc.cluster.local")) == {"10.244.1.6"}


def test_srv_for_named_ports() -> None:
    assert records(ask("_http._tcp.web.shop.svc.cluster.local", "SRV")) == {"0 100 80 web.shop.svc.cluster.local."}
    assert records(ask("_dns._udp.web.shop.svc.cluster.local", "SRV")) == {"0 100 53 web.shop.svc.cluster.local."}
    assert ask("_http._udp.web.shop.svc.cluster.local", "SRV").rcode() == dns.rcode.NXDOMAIN
    assert records(ask("web.shop.svc.cluster.local", "SRV")) == {
        "0 100 80 web.shop.svc.cluster.local.", "0 100 53 web.shop.svc.cluster.local."}
    assert records(ask("_pg._tcp.db.shop.svc.cluster.local", "SRV")) == {
        "0 100 5432 db-0.db.shop.svc.cluster.local.", "0 100 5432 10-244-1-6.db.shop.svc.cluster.local."}


def test_unknown_names_in_the_domain_are_nxdomain_with_soa() -> None:
    for name in ("nope.shop.svc.cluster.local", "web.other.svc.cluster.local", "foo.cluster.local",
                 "a.b.c.web.shop.svc.cluster.local"):
        r = ask(name)
        assert r.rcode() == dns.rcode.NXDOMAIN, name
        assert r.answer == [] and r.authority[0].rdtype == dns.rdatatype.SOA


def test_existing_name_other_type_is_nodata() -> None:
    r = ask("web.shop.svc.cluster.local", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR and r.answer == []
    assert r.authority[0].rdtype == dns.rdatatype.SOA
    assert ask("shop.svc.cluster.local").rcode() == dns.rcode.NOERROR


def test_pod_names_and_external_name() -> None:
    assert records(ask("10-244-1-9.shop.pod.cluster.local")) == {"10.244.1.9"}
    r = ask("ext.shop.svc.cluster.local")
    assert records(r) == {"example.com."}


def test_other_domains_are_left_for_forwarding() -> None:
    assert answer(dns.message.make_query("example.com", "A"), VIEW, DOMAIN) is None


def test_resolv_conf_upstreams_exclude_ourselves(tmp_path: Any) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("search x\nnameserver 10.0.0.53\nnameserver 127.0.0.1\noptions ndots:5\n")
    assert upstreams_from_resolv_conf(str(conf), exclude=("127.0.0.1",)) == ["10.0.0.53"]
    assert upstreams_from_resolv_conf(str(tmp_path / "missing")) == []


@pytest.mark.parametrize(("text", "want"), [("0.0.0.0:53", ("0.0.0.0", 53)), ("127.0.0.1", ("127.0.0.1", 53)),
                                            (":1053", ("0.0.0.0", 1053))])
def test_parse_host_port(text: str, want: tuple[str, int]) -> None:
    assert parse_host_port(text) == want
