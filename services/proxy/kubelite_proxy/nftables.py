"""The kernel data path as rules (pure): a rule table -> one `nft -f` script.

Modelled on kube-proxy's nftables mode (KEP-3866, pkg/proxy/nftables/proxier.go),
in one table per node (`kubelite-proxy-<node>`, so the proxies of several
simulated nodes on one host do not overwrite each other):

- base chains `nat-prerouting` (pods and other hosts) and `nat-output` (this
  host) jump to `services`, which looks the destination up in two verdict maps:
  `service-ips` (cluster IP or external IP . protocol . port) and
  `service-nodeports` (protocol . port, for any local address but loopback);
- each Service port has a chain `svc-…` that DNATs to an endpoint chosen at
  random (`dnat ip to numgen random mod N map`), marking traffic from its own
  endpoints for masquerade (hairpin: a pod reaching itself through its
  Service). With ClientIP affinity it instead sends a client found in an
  endpoint's affinity set to that endpoint's chain `ep-…`, others to one at
  random (`numgen random mod N vmap`), and the endpoint chain refreshes the
  client's entry and DNATs;
- traffic that arrived for an external IP or a NodePort passes `ext-…` first,
  which marks it for masquerade (externalTrafficPolicy Cluster: the reply must
  come back through this node);
- a Service port without ready endpoints is in `no-endpoint-services` /
  `no-endpoint-nodeports`, checked in the filter hooks for new connections,
  which reject: a client gets "connection refused" at once, as from kube-proxy.

Every change is one transaction, so a packet sees either the old rules or the
new ones: the first sync of a process replaces the table (replace_script),
later ones change only the Service ports that changed (update_script), as
kube-proxy does, so a sync costs what changed and affinity entries survive.

Worked example: Service default/web, cluster IP 10.96.0.10, port 80/TCP →
endpoints 10.244.1.5:8080 and 10.244.2.7:8080 becomes the `service-ips`
element `10.96.0.10 . tcp . 80 : goto svc-…-default/web/tcp/_` and that chain:
    ip saddr { 10.244.1.5, 10.244.2.7 } jump mark-for-masquerade
    meta l4proto tcp dnat ip to numgen random mod 2 map { 0 : 10.244.1.5 . 8080, 1 : 10.244.2.7 . 8080 }
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from kubelite_proxy.rules import Backend, Frontend, PortRule, ServicePortName

TABLE_PREFIX = "kubelite-proxy"
MASQUERADE_MARK = 0x4000  # kube-proxy's masquerade bit
ANY_NODE_ADDRESS = "0.0.0.0"
_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_./-]")

# Fixed part of the table: helper chains and the hooks (priorities as kube-proxy's).
_SKELETON = f"""\
    chain reject-chain {{
        reject
    }}
    chain mark-for-masquerade {{
        meta mark set meta mark | {MASQUERADE_MARK:#x}
    }}
    chain masquerading {{
        meta mark & {MASQUERADE_MARK:#x} == 0 return
        meta mark set meta mark ^ {MASQUERADE_MARK:#x}
        masquerade fully-random
    }}
    chain services {{
        ip daddr . meta l4proto . th dport vmap @service-ips
        fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports
    }}
    chain endpoints-check {{
        ip daddr . meta l4proto . th dport vmap @no-endpoint-services
        fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports
    }}
    chain nat-prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        jump services
    }}
    chain nat-output {{
        type nat hook output priority -100; policy accept;
        jump services
    }}
    chain nat-postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        jump masquerading
    }}
    chain filter-input {{
        type filter hook input priority -110; policy accept;
        ct state new jump endpoints-check
    }}
    chain filter-forward {{
        type filter hook forward priority -110; policy accept;
        ct state new jump endpoints-check
    }}
    chain filter-output {{
        type filter hook output priority -110; policy accept;
        ct state new jump endpoints-check
    }}
"""


def table_name(node_name: str) -> str:
    """`kubelite-proxy-<node>`: one table per node, so proxies of simulated nodes on one host coexist."""
    return f"{TABLE_PREFIX}-{_NAME_UNSAFE.sub('_', node_name)}" if node_name else TABLE_PREFIX


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _port_id(spn: ServicePortName) -> str:
    readable = f"{spn.namespace}/{spn.name}/{spn.protocol.lower()}/{spn.port or '_'}"
    return f"{_hash(str(spn))}-{_NAME_UNSAFE.sub('_', readable)}"


def service_chain(spn: ServicePortName) -> str:
    return f"svc-{_port_id(spn)}"


def external_chain(spn: ServicePortName) -> str:
    return f"ext-{_port_id(spn)}"


def endpoint_chain(spn: ServicePortName, backend: Backend) -> str:
    return f"ep-{_port_id(spn)}__{backend.ip}/{backend.port}"


def affinity_set(spn: ServicePortName, backend: Backend, seconds: int) -> str:
    """Named with its timeout too: a set's timeout cannot change, a new timeout is a new set."""
    return f"aff-{_port_id(spn)}__{backend.ip}/{backend.port}/{seconds}s"


def is_ipv4(ip: str) -> bool:
    return ":" not in ip


MAPS = {
    "service-ips": "ipv4_addr . inet_proto . inet_service",
    "service-nodeports": "inet_proto . inet_service",
    "no-endpoint-services": "ipv4_addr . inet_proto . inet_service",
    "no-endpoint-nodeports": "inet_proto . inet_service",
}


class Element(NamedTuple):
    map: str
    key: str
    verdict: str


@dataclass(frozen=True)
class Block:
    """What one Service port puts in the table: map elements, chains (name -> rules), sets (name -> spec)."""

    elements: frozenset[Element] = frozenset()
    chains: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sets: Mapping[str, str] = field(default_factory=dict)


def _is_cluster_ip(rule: PortRule, fe: Frontend) -> bool:
    return bool(rule.cluster_ip) and fe.ip == rule.cluster_ip


def _element(rule: PortRule, fe: Frontend, ready: bool) -> Element:
    spn, proto = rule.service_port, rule.service_port.protocol.lower()
    target = service_chain(spn) if _is_cluster_ip(rule, fe) else external_chain(spn)
    verdict = f"goto {target}" if ready else "goto reject-chain"
    if fe.ip == ANY_NODE_ADDRESS:
        return Element("service-nodeports" if ready else "no-endpoint-nodeports", f"{proto} . {fe.port}", verdict)
    return Element("service-ips" if ready else "no-endpoint-services", f"{fe.ip} . {proto} . {fe.port}", verdict)


def block(rule: PortRule, frontends: Iterable[Frontend]) -> Block:
    """One Service port's part of the table, given the frontends it owns (see rules.resolve_frontends:
    a verdict map holds one verdict per key, and one duplicate would fail the whole transaction)."""
    mine = [fe for fe in frontends if is_ipv4(fe.ip)]
    backends = [b for b in rule.backends if is_ipv4(b.ip)]
    if not mine:
        return Block()
    elements = frozenset(_element(rule, fe, bool(backends)) for fe in mine)
    if not backends:
        return Block(elements)
    spn = rule.service_port
    chains: dict[str, tuple[str, ...]] = {}
    sets: dict[str, str] = {}
    if rule.affinity_seconds is None:
        svc_rules = _spread(backends, spn.protocol.lower())
    else:
        svc_rules = _sticky(rule, backends, chains, sets)
    chains[service_chain(spn)] = tuple(svc_rules)
    if any(not _is_cluster_ip(rule, fe) for fe in mine):
        chains[external_chain(spn)] = ("jump mark-for-masquerade", f"goto {service_chain(spn)}")
    return Block(elements, chains, sets)


def _spread(backends: list[Backend], proto: str) -> list[str]:
    """No affinity: the Service chain DNATs itself, no chain per endpoint (half the rules for nft to load).

    Traffic from any endpoint of the port is masqueraded (a pod that may be sent to itself must
    get the reply through the node); kube-proxy masquerades only the hairpin case itself.
    """
    ips = sorted({b.ip for b in backends})
    own = ips[0] if len(ips) == 1 else "{ " + ", ".join(ips) + " }"
    if len(backends) == 1:
        dnat = f"dnat to {backends[0].ip}:{backends[0].port}"
    else:
        choices = ", ".join(f"{i} : {b.ip} . {b.port}" for i, b in enumerate(backends))
        dnat = f"dnat ip to numgen random mod {len(backends)} map {{ {choices} }}"
    return [f"ip saddr {own} jump mark-for-masquerade", f"meta l4proto {proto} {dnat}"]


def _sticky(rule: PortRule, backends: list[Backend], chains: dict[str, tuple[str, ...]],
            sets: dict[str, str]) -> list[str]:  # fmt: skip
    """ClientIP affinity: a chain per endpoint refreshing its set of clients; the Service chain
    sends a client found in one of the sets to that endpoint, others at random. Fills `chains`
    and `sets`; returns the Service chain's rules."""
    spn, proto, seconds = rule.service_port, rule.service_port.protocol.lower(), rule.affinity_seconds or 0
    svc_rules: list[str] = []
    for b in backends:
        aff = affinity_set(spn, b, seconds)
        sets[aff] = f"type ipv4_addr; flags dynamic,timeout; timeout {seconds}s;"
        svc_rules.append(f"ip saddr @{aff} goto {endpoint_chain(spn, b)}")
        chains[endpoint_chain(spn, b)] = (
            f"ip saddr {b.ip} jump mark-for-masquerade",  # hairpin: a pod reaching itself
            f"update @{aff} {{ ip saddr }}",
            f"meta l4proto {proto} dnat to {b.ip}:{b.port}",
        )
    if len(backends) == 1:
        svc_rules.append(f"goto {endpoint_chain(spn, backends[0])}")
    else:
        choices = ", ".join(f"{i} : goto {endpoint_chain(spn, b)}" for i, b in enumerate(backends))
        svc_rules.append(f"numgen random mod {len(backends)} vmap {{ {choices} }}")
    return svc_rules


def _chain(name: str, rules: Iterable[str]) -> str:
    body = "".join(f"        {r}\n" for r in rules)
    return f"    chain {name} {{\n{body}    }}"


def _map(name: str, elements: Iterable[Element]) -> str:
    items = ", ".join(f"{e.key} : {e.verdict}" for e in elements)
    elems = f"\n        elements = {{ {items} }}" if items else ""
    return f"    map {name} {{\n        type {MAPS[name]} : verdict;{elems}\n    }}"


def replace_script(table: str, blocks: Iterable[Block]) -> str:
    """One transaction replacing the whole table (a process's first sync: affinity starts afresh)."""
    blocks = list(blocks)
    elements = [e for b in blocks for e in b.elements]
    parts = [_map(name, (e for e in elements if e.map == name)) for name in MAPS]
    parts.append(_SKELETON.rstrip("\n"))
    for b in blocks:
        parts += [f"    set {name} {{\n        {spec}\n    }}" for name, spec in b.sets.items()]
        parts += [_chain(name, rules) for name, rules in b.chains.items()]
    body = "\n".join(parts)
    return f"add table ip {table}\ndelete table ip {table}\ntable ip {table} {{\n{body}\n}}\n"


def update_script(table: str, old: Mapping[Hashable, Block], new: Mapping[Hashable, Block]) -> str:
    """One transaction taking the table from `old` to `new` (per Service port), touching only what changed.

    Order matters within it: sets and chains are added before rules refer to them, a changed
    chain is flushed and refilled, map elements move next, and chains and sets nothing refers
    to any more are flushed and deleted last. Affinity sets of unchanged endpoints keep their
    entries. Returns "" when nothing changed.
    """
    t = f"ip {table}"
    adds: list[str] = []
    fills: list[str] = []
    moves: list[str] = []
    drops: list[str] = []
    for key in old.keys() | new.keys():
        before, after = old.get(key, Block()), new.get(key, Block())
        if before == after:
            continue
        adds += [f"add set {t} {n} {{ {spec} }}" for n, spec in after.sets.items() if n not in before.sets]
        adds += [f"add chain {t} {n}" for n in after.chains if n not in before.chains]
        for name, rules in after.chains.items():
            if before.chains.get(name) != rules:
                fills += [f"flush chain {t} {name}", *(f"add rule {t} {name} {r}" for r in rules)]
        moves += [f"delete element {t} {e.map} {{ {e.key} }}" for e in before.elements - after.elements]
        moves += [f"add element {t} {e.map} {{ {e.key} : {e.verdict} }}" for e in after.elements - before.elements]
        for name in before.chains.keys() - after.chains.keys():
            drops += [f"flush chain {t} {name}", f"delete chain {t} {name}"]
        drops += [f"delete set {t} {n}" for n in before.sets.keys() - after.sets.keys()]
    # deletes of elements first: a frontend moving between Service ports is deleted, then added
    moves.sort(key=lambda line: not line.startswith("delete"))
    lines = adds + fills + moves + [d for d in drops if d.startswith("flush")] + \
        [d for d in drops if d.startswith("delete")]
    return "".join(f"{line}\n" for line in lines)


def delete_script(table: str) -> str:
    """Removes the table whether or not it exists (`add` first makes the `delete` always valid)."""
    return f"add table ip {table}\ndelete table ip {table}\n"
