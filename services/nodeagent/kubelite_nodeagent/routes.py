"""Routes to other machines' pod CIDRs: the flat pod network across machines.

DESIGN "Networking model": a node owns a pod CIDR; across machines, routes to
each node's pod CIDR go through that node's address.  One `RouteManager` per
agent process (shared by its nodes) learns every Node from a NatsInformer (a
list at start, after each reconnect and every `resync` seconds, plus the
`kubelite.changes.nodes.>` events in between) and keeps, in the main routing table,

    <node's podCIDR> via <node's InternalIP> proto 199

for every node on another machine.  Nodes whose InternalIP is an address of
this machine need no route (their bridge is local).  Routes carry protocol
number `ROUTE_PROTO`, so the manager only ever replaces or deletes routes it
added; on exit it leaves them (a restarted agent recomputes the same set).

Pod-to-pod traffic must keep the pod's source IP between machines
(Kubernetes' network model), but the runtimes masquerade whatever leaves on a
non-bridge interface.  So the manager keeps a `-s <cluster> -d <cluster> -j
RETURN` rule first in nat POSTROUTING, ahead of those MASQUERADE rules, and
turns on net.ipv4.ip_forward.

Pure computation (`desired_routes`, parsers) first; `ip`/`iptables` at the edge.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubelite.api.core_v1 import NODES, Node
from kubelite.bus import changes
from kubelite.client.nats import NatsAPIClient
from kubelite.command import run_command
from kubelite.reconcile.nats_informer import NatsInformer
from kubelite.tasks import wait_event
from kubelite_nodeagent.runtime.netns import NetworkError, run

log = logging.getLogger("kubelite.nodeagent.routes")

RECHECK_SECONDS = 5.0  # routes compared with the machine's at least this often
ROUTE_PROTO = "199"  # marks our routes: `ip route show proto 199` is exactly what we own
NAT_COMMENT = "kubelite pod-to-pod keeps its source IP"
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


@dataclass(frozen=True, order=True)
class Route:
    cidr: str  # e.g. "10.244.3.0/24"
    via: str  # the node's InternalIP


@dataclass(frozen=True)
class NodeRouteInfo:
    """What routing needs of a Node."""

    name: str
    pod_cidrs: tuple[str, ...]  # IPv4 only
    internal_ip: str


# ---- pure computation -------------------------------------------------------------------


def node_route_info(node: Node) -> NodeRouteInfo:
    spec, status = node.spec, node.status
    cidrs = list((spec.podCIDRs or []) if spec else [])
    if spec and spec.podCIDR and spec.podCIDR not in cidrs:
        cidrs.insert(0, spec.podCIDR)
    ipv4 = tuple(c for c in cidrs if _ipv4_network(c) is not None)
    internal = ""
    for addr in (status.addresses or []) if status else []:
        if addr.type == "InternalIP" and addr.address and _ipv4_address(addr.address):
            internal = addr.address
            break
    return NodeRouteInfo(name=node.metadata.name or "", pod_cidrs=ipv4, internal_ip=internal)


def _ipv4_network(text: str) -> ipaddress.IPv4Network | None:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    return net if isinstance(net, ipaddress.IPv4Network) else None


def _ipv4_address(text: str) -> ipaddress.IPv4Address | None:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    return addr if isinstance(addr, ipaddress.IPv4Address) else None


def desired_routes(
    nodes: Iterable[NodeRouteInfo],
    local_addresses: Iterable[str],
    *,
    cluster_cidr: str = "",
    local_nodes: Iterable[str] = (),
) -> tuple[set[Route], list[str]]:
    """(routes this machine needs, why other nodes got none).

    `local_addresses` are this machine's "address/prefix" entries (bridges
    included).  A node gets no route when it runs here (named in `local_nodes`
    or its InternalIP is ours), lacks a pod CIDR or InternalIP, its CIDR lies
    outside `cluster_cidr` (a bogus Node must not hijack other traffic), overlaps
    a network of this machine, or overlaps another node's CIDR (ambiguous).
    """
    local_ifaces = [ipaddress.ip_interface(a) for a in local_addresses]
    local_ips = {i.ip for i in local_ifaces}
    local_nets = [i.network for i in local_ifaces]
    cluster = _ipv4_network(cluster_cidr) if cluster_cidr else None
    own = set(local_nodes)
    skipped: list[str] = []
    candidates: list[tuple[ipaddress.IPv4Network, str, str]] = []  # (cidr, via, node)
    for node in sorted(nodes, key=lambda n: n.name):
        via = _ipv4_address(node.internal_ip)
        if node.name in own or (via is not None and via in local_ips):
            continue  # on this machine: its bridge is directly connected
        if via is None or not node.pod_cidrs:
            skipped.append(f"node {node.name}: no pod CIDR or InternalIP")
            continue
        for text in node.pod_cidrs:
            net = _ipv4_network(text)
            if net is None:
                continue
            if cluster is not None and not net.subnet_of(cluster):
                skipped.append(f"node {node.name}: pod CIDR {net} is outside the cluster CIDR {cluster}")
            elif any(net.overlaps(local) for local in local_nets):
                skipped.append(f"node {node.name}: pod CIDR {net} overlaps a network of this machine")
            elif via in net:
                skipped.append(f"node {node.name}: InternalIP {via} lies inside its pod CIDR {net}")
            else:
                candidates.append((net, str(via), node.name))
    routes: set[Route] = set()
    for group in _overlap_groups(candidates):  # pairwise checks only within a group: 1000s of nodes stay cheap
        for net, via, name in group:
            rivals = sorted({n for other, _, n in group if n != name and other.overlaps(net)})
            if rivals:
                skipped.append(f"node {name}: pod CIDR {net} overlaps that of {', '.join(rivals)}")
            else:
                routes.add(Route(str(net), via))
    return routes, skipped


def _overlap_groups(
    candidates: list[tuple[ipaddress.IPv4Network, str, str]],
) -> list[list[tuple[ipaddress.IPv4Network, str, str]]]:
    """The candidates in runs whose address ranges chain together (a sweep over sorted starts)."""
    groups: list[list[tuple[ipaddress.IPv4Network, str, str]]] = []
    end = None
    for item in sorted(candidates, key=lambda c: (c[0].network_address, c[0].prefixlen)):
        net = item[0]
        if end is not None and net.network_address <= end:
            groups[-1].append(item)
            end = max(end, net.broadcast_address)
        else:
            groups.append([item])
            end = net.broadcast_address
    return groups


def parse_routes(output: str) -> set[Route]:
    """Routes with a gateway from `ip -o -4 route show ...` ("10.244.3.0/24 via 10.0.0.3 dev eth0 ...")."""
    found: set[Route] = set()
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "via" and parts[0] != "default":
            cidr = parts[0] if "/" in parts[0] else f"{parts[0]}/32"
            found.add(Route(cidr, parts[2]))
    return found


def parse_addresses(output: str) -> list[str]:
    """"address/prefix" of every IPv4 address in `ip -o -4 addr show` output."""
    rows = (line.split() for line in output.splitlines())
    return [parts[3] for parts in rows if len(parts) > 3 and parts[2] == "inet"]


def nat_rule(cluster_cidr: str) -> list[str]:
    """The rule spec (after `-t nat -I/-C/-D POSTROUTING`) that exempts pod-to-pod traffic."""
    cidr = str(ipaddress.ip_network(cluster_cidr, strict=False))  # as `iptables -S` prints it
    return ["-s", cidr, "-d", cidr, "-m", "comment", "--comment", NAT_COMMENT, "-j", "RETURN"]


def nat_rule_in_place(rules_listing: str, cluster_cidr: str) -> bool:
    """Whether `iptables -t nat -S POSTROUTING` output has our rule ahead of every MASQUERADE/SNAT
    (other agents' rules for other cluster CIDRs may come first: no fight over position 1)."""
    cidr = str(ipaddress.ip_network(cluster_cidr, strict=False))
    ours = f"-s {cidr} -d {cidr} "
    for line in rules_listing.splitlines():
        if not line.startswith("-A "):
            continue
        if NAT_COMMENT in line and ours in line:
            return True
        if "-j MASQUERADE" in line or "-j SNAT" in line:
            return False
    return False


def route_changes(current: set[Route], wanted: set[Route]) -> tuple[list[Route], list[Route]]:
    """(owned routes to delete, routes to `ip route replace`): a CIDR whose gateway changed is
    replaced in place, never deleted first (no moment without a route)."""
    wanted_cidrs = {r.cidr for r in wanted}
    stale = sorted(r for r in current - wanted if r.cidr not in wanted_cidrs)
    return stale, sorted(wanted - current)


# ---- the machine's side -------------------------------------------------------------------


async def _output(*argv: str) -> str:
    done = await run_command(*argv)
    if done.code != 0:
        raise NetworkError(f"`{' '.join(argv)}` failed ({done.code}): {done.stderr.strip()}")
    return done.stdout


async def local_addresses() -> list[str]:
    return parse_addresses(await _output("ip", "-o", "-4", "addr", "show"))


async def owned_routes() -> set[Route]:
    return parse_routes(await _output("ip", "-o", "-4", "route", "show", "table", "main", "proto", ROUTE_PROTO))


def enable_ip_forward() -> None:
    """Routed pod traffic passes through this machine (a /proc write: instant, never blocks)."""
    try:
        if IP_FORWARD.read_text().strip() != "1":
            IP_FORWARD.write_text("1\n")
            log.info("routes: enabled net.ipv4.ip_forward")
    except OSError as exc:
        log.warning("routes: cannot enable net.ipv4.ip_forward: %s", exc)


def manage_routes_reason() -> str:
    """Why this process cannot manage routes, or "" when it can."""
    if os.geteuid() != 0:
        return "not running as root"
    if shutil.which("ip") is None:
        return "iproute2 `ip` not found"
    return ""


# ---- the manager ---------------------------------------------------------------------------


class RouteManager:
    """Keeps this machine's routes to other machines' pod CIDRs (see module doc).

    Nodes informer → handlers (mark dirty when a node's routing facts change) →
    apply loop → pure `desired_routes` / `route_changes` → `ip route`."""

    def __init__(
        self,
        *,
        nodes: Any,
        cluster_cidr: str,
        local_nodes: Iterable[str] = (),
    ) -> None:
        self.informer = nodes  # an Informer of Nodes (NatsInformer on kubelite.changes.nodes.>)
        self.cluster_cidr = cluster_cidr
        self.local_nodes = set(local_nodes)
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._last_skipped: set[str] = set()
        self._failed: dict[Route, str] = {}  # logged once per route and error
        self.reason = manage_routes_reason()
        nodes.add_handler(on_add=self._node_added, on_update=self._node_updated, on_delete=self._node_added)

    @classmethod
    def over_nats(cls, nc: Any, api: NatsAPIClient, *, resync: float = 30.0, **kw: Any) -> RouteManager:
        informer = NatsInformer(nc, api, NODES, subject=changes.of("nodes"), resync_seconds=resync,
                                watch_reconnects=False)
        return cls(nodes=informer, **kw)

    async def start(self) -> None:
        if self.reason:
            log.warning("not managing routes to other machines' pods: %s", self.reason)
            return
        self._tasks.append(self.informer.start())
        self._tasks.append(asyncio.create_task(self._apply_loop(), name="routes-apply"))

    async def stop(self) -> None:
        """Stop watching; the routes stay (a restarted agent recomputes the same set)."""
        await self.informer.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def on_reconnect(self) -> None:
        if not self.reason:
            self.informer.request_relist()

    # --- handlers: only a change of a node's routing facts touches the machine ---------------
    def _node_added(self, node: Node) -> None:
        self._dirty.set()

    def _node_updated(self, old: Node, new: Node) -> None:
        if old is new or node_route_info(old) != node_route_info(new):
            self._dirty.set()  # a periodic resync re-applies too: routes removed by hand come back

    def known_nodes(self) -> list[NodeRouteInfo]:
        return [node_route_info(n) for n in self.informer.list()]

    # --- applying ----------------------------------------------------------------------------
    async def _apply_loop(self) -> None:
        while True:
            # also every RECHECK_SECONDS without a change: a link that went down and up again
            # took its routes with it, and nothing about the nodes changed to say so
            await wait_event(self._dirty, RECHECK_SECONDS)
            self._dirty.clear()
            try:
                await self.apply()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next event or re-list tries again
                log.warning("routes: applying failed: %s: %s", type(exc).__name__, exc)

    async def apply(self) -> None:
        """Make the machine's owned routes match the nodes known now."""
        await self._ensure_forwarding_and_nat()
        wanted, skipped = desired_routes(
            self.known_nodes(), await local_addresses(),
            cluster_cidr=self.cluster_cidr, local_nodes=self.local_nodes,
        )  # fmt: skip
        for reason in sorted(set(skipped) - self._last_skipped):
            log.warning("routes: no route for %s", reason)
        self._last_skipped = set(skipped)
        stale, missing = route_changes(await owned_routes(), wanted)
        for route in stale:
            code, err = await run("ip", "route", "del", route.cidr, "proto", ROUTE_PROTO, check=False)
            if code == 0:
                log.info("routes: removed %s via %s", route.cidr, route.via)
            else:
                log.warning("routes: removing %s via %s failed: %s", route.cidr, route.via, err)
        for route in missing:
            code, err = await run(
                "ip", "route", "replace", route.cidr, "via", route.via, "proto", ROUTE_PROTO, check=False
            )  # fmt: skip
            if code == 0:
                self._failed.pop(route, None)
                log.info("routes: %s via %s", route.cidr, route.via)
            elif self._failed.get(route) != err:  # e.g. the gateway is not on a connected network
                self._failed[route] = err
                log.warning("routes: adding %s via %s failed (retried at each re-list): %s",
                            route.cidr, route.via, err)

    async def _ensure_forwarding_and_nat(self) -> None:
        enable_ip_forward()
        if not self.cluster_cidr or shutil.which("iptables") is None:
            return
        rule = nat_rule(self.cluster_cidr)
        listing = await _output("iptables", "-w", "-t", "nat", "-S", "POSTROUTING")
        if nat_rule_in_place(listing, self.cluster_cidr):
            return
        # A runtime inserted its MASQUERADE rule at the top after ours: move ours back first.
        while (await run("iptables", "-w", "-t", "nat", "-D", "POSTROUTING", *rule, check=False))[0] == 0:
            pass
        await run("iptables", "-w", "-t", "nat", "-I", "POSTROUTING", "1", *rule)

