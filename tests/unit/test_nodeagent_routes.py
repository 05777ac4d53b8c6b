"""Pure route computation of the node agent's route manager (routes.py)."""

from __future__ import annotations

from kubelite.api.core_v1 import Node, NodeAddress, NodeSpec, NodeStatus
from kubelite.api.meta import ObjectMeta
from kubelite_nodeagent.config import parse_args
from kubelite_nodeagent.routes import (
    NAT_COMMENT,
    NodeRouteInfo,
    Route,
    RouteManager,
    desired_routes,
    nat_rule,
    nat_rule_in_place,
    node_route_info,
    parse_addresses,
    parse_routes,
    route_changes,
)

HERE = ["127.0.0.1/8", "192.0.2.2/24", "10.244.1.1/24"]  # lo, eth0, this machine's bridge
CLUSTER = "10.244.0.0/16"


def info(name: str, cidr: str, ip: str) -> NodeRouteInfo:
    return NodeRouteInfo(name=name, pod_cidrs=(cidr,) if cidr else (), internal_ip=ip)


def node(name: str, cidr: str | None, ip: str | None, rv: int = 1, cidrs: list[str] | None = None) -> Node:
    addresses = [NodeAddress(type="Hostname", address=name)]
    if ip:
        addresses.append(NodeAddress(type="InternalIP", address=ip))
    return Node(
        metadata=ObjectMeta(name=name, resourceVersion=str(rv)),
        spec=NodeSpec(podCIDR=cidr, podCIDRs=cidrs),
        status=NodeStatus(addresses=addresses),
    )


def test_routes_to_nodes_on_other_machines_only() -> None:
    nodes = [
        info("a", "10.244.1.0/24", "192.0.2.2"),  # this machine
        info("b", "10.244.2.0/24", "192.0.2.3"),
        info("c", "10.244.3.0/24", "192.0.2.4"),
    ]
    routes, skipped = desired_routes(nodes, HERE, cluster_cidr=CLUSTER)
    assert routes == {Route("10.244.2.0/24", "192.0.2.3"), Route("10.244.3.0/24", "192.0.2.4")}
    assert skipped == []


def test_second_local_node_by_name_or_address_gets_no_route() -> None:
    # `kubelite up --nodes 2` on one machine: both nodes have this machine's InternalIP
    nodes = [info("n1", "10.244.1.0/24", "192.0.2.2"), info("n2", "10.244.5.0/24", "192.0.2.2")]
    assert desired_routes(nodes, HERE, cluster_cidr=CLUSTER) == (set(), [])
    # named as a node of this process even if its InternalIP looks foreign
    routes, _ = desired_routes([info("me", "10.244.6.0/24", "192.0.2.9")], HERE, local_nodes=["me"])
    assert routes == set()


def test_nodes_without_cidr_or_ip_are_skipped_with_a_reason() -> None:
    nodes = [info("nocidr", "", "192.0.2.3"), info("noip", "10.244.4.0/24", "")]
    routes, skipped = desired_routes(nodes, HERE, cluster_cidr=CLUSTER)
    assert routes == set()
    assert skipped == ["node nocidr: no pod CIDR or InternalIP", "node noip: no pod CIDR or InternalIP"]


def test_cidr_overlapping_this_machine_or_outside_the_cluster_is_refused() -> None:
    nodes = [
        info("bridge", "10.244.1.0/24", "192.0.2.3"),  # the CIDR of our own bridge
        info("hostnet", "192.0.2.0/25", "192.0.2.3"),  # would hijack eth0's network
        info("wide", "0.0.0.0/0", "192.0.2.3"),  # would become a default route
        info("outside", "10.9.0.0/24", "192.0.2.3"),
    ]
    routes, skipped = desired_routes(nodes, HERE, cluster_cidr=CLUSTER)
    assert routes == set()
    assert "node bridge: pod CIDR 10.244.1.0/24 overlaps a network of this machine" in skipped
    assert "node hostnet: pod CIDR 192.0.2.0/25 is outside the cluster CIDR 10.244.0.0/16" in skipped
    assert "node wide: pod CIDR 0.0.0.0/0 is outside the cluster CIDR 10.244.0.0/16" in skipped
    assert len(skipped) == 4
    # without a cluster CIDR the overlap check alone still protects the host's networks
    routes, skipped = desired_routes(nodes, HERE)
    assert routes == {Route("10.9.0.0/24", "192.0.2.3")}
    assert len(skipped) == 3


def test_overlapping_cidrs_of_two_remote_nodes_get_no_route() -> None:
    nodes = [
        info("x", "10.244.8.0/24", "192.0.2.3"),
        info("y", "10.244.8.0/23", "192.0.2.4"),
        info("z", "10.244.9.0/24", "192.0.2.5"),
        info("ok", "10.244.10.0/24", "192.0.2.6"),
    ]
    routes, skipped = desired_routes(nodes, HERE, cluster_cidr=CLUSTER)
    assert routes == {Route("10.244.10.0/24", "192.0.2.6")}
    assert "node y: pod CIDR 10.244.8.0/23 overlaps that of x, z" in skipped
    assert "node x: pod CIDR 10.244.8.0/24 overlaps that of y" in skipped


def test_gateway_inside_its_own_cidr_is_refused() -> None:
    routes, skipped = desired_routes([info("loop", "10.244.7.0/24", "10.244.7.5")], HERE, cluster_cidr=CLUSTER)
    assert routes == set() and skipped == ["node loop: InternalIP 10.244.7.5 lies inside its pod CIDR 10.244.7.0/24"]


def test_node_route_info_reads_ipv4_cidrs_and_internal_ip() -> None:
    n = node("d", "10.244.4.0/24", "192.0.2.7", cidrs=["10.244.4.0/24", "fd00:1::/64"])
    assert node_route_info(n) == NodeRouteInfo("d", ("10.244.4.0/24",), "192.0.2.7")
    bare = Node(metadata=ObjectMeta(name="e"))
    assert node_route_info(bare) == NodeRouteInfo("e", (), "")
    v6 = node("f", "10.244.5.0/24", "fd00::5")
    assert node_route_info(v6).internal_ip == ""


def test_parse_routes_and_addresses() -> None:
    out = (
        "default via 192.0.2.1 dev eth0 proto 199\n"
        "10.244.2.0/24 via 192.0.2.3 dev eth0 proto 199\n"
        "10.244.9.7 via 192.0.2.4 dev eth0 proto 199 \n"
        "10.244.3.0/24 dev kl-x proto 199 scope link\n"
    )
    assert parse_routes(out) == {Route("10.244.2.0/24", "192.0.2.3"), Route("10.244.9.7/32", "192.0.2.4")}
    addr = (
        "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
        "4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever\n"
    )
    assert parse_addresses(addr) == ["127.0.0.1/8", "192.0.2.2/24"]


def test_nat_rule_must_come_before_any_masquerade() -> None:
    ours = f'-A POSTROUTING -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "{NAT_COMMENT}" -j RETURN'
    other = f'-A POSTROUTING -s 10.0.0.0/8 -d 10.0.0.0/8 -m comment --comment "{NAT_COMMENT}" -j RETURN'
    masq = '-A POSTROUTING -s 10.244.5.0/24 ! -o kl-+ -m comment --comment "kubelite pod network n" -j MASQUERADE'
    head = "-P POSTROUTING ACCEPT\n"
    assert nat_rule_in_place(f"{head}{ours}\n{masq}\n", CLUSTER)
    assert nat_rule_in_place(f"{head}{other}\n{ours}\n{masq}\n", "10.244.0.0/16")
    assert not nat_rule_in_place(f"{head}{masq}\n{ours}\n", CLUSTER)
    assert not nat_rule_in_place(f"{head}{other}\n{masq}\n", CLUSTER)
    assert not nat_rule_in_place(head, CLUSTER)
    assert nat_rule("10.244.1.2/16")[:4] == ["-s", CLUSTER, "-d", CLUSTER]  # normalised like `iptables -S`
    assert nat_rule(CLUSTER)[-2:] == ["-j", "RETURN"]


def test_route_changes_replace_a_moved_cidr_and_delete_only_stale_ones() -> None:
    current = {Route("10.244.2.0/24", "192.0.2.3"), Route("10.244.3.0/24", "192.0.2.4"),
               Route("10.244.4.0/24", "192.0.2.5")}
    wanted = {Route("10.244.2.0/24", "192.0.2.3"), Route("10.244.3.0/24", "192.0.2.9"),
              Route("10.244.6.0/24", "192.0.2.6")}
    stale, missing = route_changes(current, wanted)
    assert stale == [Route("10.244.4.0/24", "192.0.2.5")]
    assert missing == [Route("10.244.3.0/24", "192.0.2.9"), Route("10.244.6.0/24", "192.0.2.6")]
    assert route_changes(wanted, wanted) == ([], [])


class _Handlers:
    """Stands in for the informer only as the holder of the handlers (its event ordering
    and tombstones are tested against real NATS in tests/integration/test_informer.py)."""

    def add_handler(self, on_add, on_update, on_delete) -> None:
        self.on_add, self.on_update, self.on_delete = on_add, on_update, on_delete


async def test_only_changes_of_routing_facts_touch_the_machine() -> None:
    h = _Handlers()
    m = RouteManager(nodes=h, cluster_cidr=CLUSTER)
    b5 = node("b", "10.244.2.0/24", "192.0.2.3", rv=5)
    h.on_add(b5)
    assert m._dirty.is_set()
    m._dirty.clear()
    h.on_update(b5, node("b", "10.244.2.0/24", "192.0.2.3", rv=6))
    assert not m._dirty.is_set(), "a status update that changes no route must not touch the machine"
    h.on_update(b5, node("b", "10.244.2.0/24", "192.0.2.9", rv=7))
    assert m._dirty.is_set()
    m._dirty.clear()
    h.on_update(b5, b5)  # the periodic resync re-applies (a route deleted by hand comes back)
    assert m._dirty.is_set()
    m._dirty.clear()
    h.on_delete(b5)
    assert m._dirty.is_set()


def test_manage_routes_flag() -> None:
    assert parse_args(["--runtime", "fake", "--manage-routes"]).manage_routes is True
    assert parse_args(["--runtime", "process", "--no-manage-routes"]).manage_routes is False
    assert parse_args(["--runtime", "fake"]).manage_routes is False


def test_many_nodes_with_one_conflicting_pair() -> None:
    nodes = [info(f"n{i}", f"10.{i // 256}.{i % 256}.0/24", f"172.16.{i // 200}.{i % 200 + 1}") for i in range(3000)]
    nodes.append(info("dup", "10.3.7.0/24", "172.31.0.1"))  # same CIDR as n775
    routes, skipped = desired_routes(nodes, HERE, cluster_cidr="10.0.0.0/8")
    assert len(routes) == 2999 and Route("10.1.44.0/24", "172.16.1.101") in routes
    assert sorted(skipped) == ["node dup: pod CIDR 10.3.7.0/24 overlaps that of n775",
                               "node n775: pod CIDR 10.3.7.0/24 overlaps that of dup"]
