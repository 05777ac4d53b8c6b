"""Cluster DNS answers (pure): a query + the Services/Endpoints the proxy knows -> a response.

Names follow the Kubernetes DNS specification
(https://github.com/kubernetes/dns/blob/master/docs/specification.md):
- `<svc>.<ns>.svc.<domain>` A: the cluster IP; for a headless Service, every
  ready endpoint IP;
- `<hostname>.<svc>.<ns>.svc.<domain>` A: one endpoint of a headless Service
  (by its `hostname`, else its IP with dashes);
- `_<port>._<proto>.<svc>.<ns>.svc.<domain>` SRV: named ports (for a headless
  Service one record per ready endpoint), `<svc>.<ns>.svc.<domain>` SRV: all of them;
- `<a-b-c-d>.<ns>.pod.<domain>` A: a.b.c.d (CoreDNS' "pods insecure");
- any other name in the domain: NXDOMAIN; a name that exists with another
  type: NOERROR with no answer. Both carry the zone's SOA, as CoreDNS does.
`answer()` returns None for names outside the cluster domain: those are forwarded.
"""

from __future__ import annotations

import ipaddress
from typing import Protocol

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from kubelite.api.core_v1 import Endpoints, Service

TTL = 5  # seconds, CoreDNS' kubernetes plugin default


class ClusterView(Protocol):
    def service(self, namespace: str, name: str) -> Service | None: ...
    def endpoints(self, namespace: str, name: str) -> Endpoints | None: ...


def _headless(svc: Service) -> bool:
    ip = svc.spec.clusterIP if svc.spec else None
    return not ip or ip == "None"


def _dashed(ip: str) -> str:
    return ip.replace(".", "-").replace(":", "-")


def _ready(eps: Endpoints | None) -> list[tuple[str, str, list[tuple[str, int, str]]]]:
    """(ip, hostname label, [(port name, port, protocol)]) for every ready address."""
    out = []
    for subset in (eps.subsets or []) if eps else []:
        ports = [(p.name or "", p.port or 0, (p.protocol or "TCP").upper()) for p in subset.ports or []]
        for addr in subset.addresses or []:
            if addr.ip:
                out.append((addr.ip, addr.hostname or _dashed(addr.ip), ports))
    return out


class _Answer:
    def __init__(self, domain: dns.name.Name) -> None:
        self.domain = domain
        self.records: list[tuple[dns.name.Name, int, str]] = []  # (name, rdtype, text)
        self.exists = False

    def add(self, name: dns.name.Name, rdtype: int, text: str) -> None:
        self.records.append((name, rdtype, text))


def _ip_type(ip: str) -> int:
    return dns.rdatatype.AAAA if ipaddress.ip_address(ip).version == 6 else dns.rdatatype.A


def _lookup(qname: dns.name.Name, qtype: int, domain: dns.name.Name, view: ClusterView) -> _Answer:
    ans = _Answer(domain)
    labels = [label.decode().lower() for label in qname.relativize(domain).labels]
    if qname == domain:
        labels = []
    n = len(labels)
    want_addr = qtype in (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.ANY)

    def addr(name: dns.name.Name, ip: str) -> None:
        if want_addr and qtype in (_ip_type(ip), dns.rdatatype.ANY):
            ans.add(name, _ip_type(ip), ip)

    if n <= 2 and labels[-1:] in ([], ["svc"], ["pod"]):
        ans.exists = True  # the zone and its namespace levels exist (no records of their own)
        return ans
    if n == 3 and labels[2] == "pod":
        ip = labels[0].replace("-", ".")
        try:
            ipaddress.IPv4Address(ip)
        except ValueError:
            return ans
        ans.exists = True
        addr(qname, ip)
        return ans
    if n < 3 or labels[-1] != "svc":
        return ans
    ns, name = labels[-2], labels[-3]
    svc = view.service(ns, name)
    if svc is None or svc.spec is None:
        return ans
    svc_name = dns.name.from_text(f"{name}.{ns}.svc", origin=domain)
    headless = _headless(svc)
    ready = _ready(view.endpoints(ns, name)) if headless else []
    if n == 3:  # <svc>.<ns>.svc
        ans.exists = True
        if svc.spec.type == "ExternalName" and svc.spec.externalName:
            if qtype in (dns.rdatatype.CNAME, dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.ANY):
                ans.add(qname, dns.rdatatype.CNAME, svc.spec.externalName.rstrip(".") + ".")
            return ans
        if headless:
            for ip, _host, _ports in ready:
                addr(qname, ip)
        else:
            addr(qname, svc.spec.clusterIP or "")
        if qtype in (dns.rdatatype.SRV, dns.rdatatype.ANY):
            _srv(ans, qname, svc_name, svc, ready, port=None, proto=None)
        return ans
    if n == 4 and headless:  # <hostname>.<svc>.<ns>.svc
        for ip, host, _ports in ready:
            if host == labels[0]:
                ans.exists = True
                addr(qname, ip)
        return ans
    if n == 5 and labels[0].startswith("_") and labels[1].startswith("_"):
        port, proto = labels[0][1:], labels[1][1:].upper()
        _srv(ans, qname, svc_name, svc, ready, port=port, proto=proto)
        ans.exists = bool(ans.records)
        if qtype != dns.rdatatype.SRV and qtype != dns.rdatatype.ANY:
            ans.records.clear()
        return ans
    return ans


def _srv(
    ans: _Answer,
    qname: dns.name.Name,
    svc_name: dns.name.Name,
    svc: Service,
    ready: list[tuple[str, str, list[tuple[str, int, str]]]],
    *,
    port: str | None,
    proto: str | None,
) -> None:
    for sp in svc.spec.ports or []:  # type: ignore[union-attr]
        sp_proto = (sp.protocol or "TCP").upper()
        if not sp.name or (port is not None and sp.name.lower() != port) or (proto and sp_proto != proto):
            continue
        if not _headless(svc):
            ans.add(qname, dns.rdatatype.SRV, f"0 100 {sp.port} {svc_name}")
            continue
        for _ip, host, ports in ready:
            for pname, pnum, pproto in ports:
                if pname == sp.name and pproto == sp_proto:
                    target = dns.name.from_text(host, origin=svc_name)
                    ans.add(qname, dns.rdatatype.SRV, f"0 100 {pnum} {target}")


def soa(domain: dns.name.Name) -> dns.rrset.RRset:
    return dns.rrset.from_text(
        domain, TTL, "IN", "SOA", f"ns.dns.{domain} hostmaster.{domain} 1 7200 1800 86400 {TTL}"
    )


def in_domain(qname: dns.name.Name, domain: dns.name.Name) -> bool:
    return qname.is_subdomain(domain)


def answer(request: dns.message.Message, view: ClusterView, domain: dns.name.Name) -> dns.message.Message | None:
    """The response to `request`, or None when the name is outside the cluster domain (forward it)."""
    if request.opcode() != 0 or len(request.question) != 1:
        response = dns.message.make_response(request)
        response.set_rcode(dns.rcode.NOTIMP if request.opcode() != 0 else dns.rcode.FORMERR)
        return response
    q = request.question[0]
    if not in_domain(q.name, domain):
        return None
    response = dns.message.make_response(request)
    response.flags |= dns.flags.AA
    if q.rdclass != dns.rdataclass.IN:
        response.set_rcode(dns.rcode.NOTIMP)
        return response
    ans = _lookup(q.name, q.rdtype, domain, view)
    for name, rdtype, text in ans.records:
        rrset = response.find_rrset(response.answer, name, dns.rdataclass.IN, rdtype, create=True)
        rrset.add(dns.rdata.from_text(dns.rdataclass.IN, rdtype, text), TTL)
    if not ans.exists:
        response.set_rcode(dns.rcode.NXDOMAIN)
    if not ans.records:
        response.authority.append(soa(domain))
    return response
