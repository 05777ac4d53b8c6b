"""The drain gate's bookkeeping: which Endpoints dropped a pod IP, and which proxies applied it."""

from __future__ import annotations

import asyncio
import errno
import socket
import struct

import msgspec
import pytest

from kubelite.api.core_v1 import Endpoints, Node
from kubelite.api.meta import ObjectMeta
from kubelite_nodeagent.drain import DrainGate, ready_ips, wait_accepted
from kubelite_nodeagent.runtime.netconnect import (
    NLMSG_DONE,
    NLMSG_ERROR,
    NLMSG_HEADER,
    SOCK_DIAG_BY_FAMILY,
    diag_request,
    listen_queue_lengths,
)


def gate() -> DrainGate:
    return DrainGate(nc=None, api=None, timeout=1.0)


def test_ready_ips_reads_addresses_only() -> None:
    subsets = [{"addresses": [{"ip": "10.0.0.1"}], "notReadyAddresses": [{"ip": "10.0.0.2"}]},
               {"addresses": [{"ip": "10.0.0.3"}]}]
    eps = msgspec.convert({"metadata": {"name": "web"}, "subsets": subsets}, Endpoints)
    assert ready_ips(eps) == {"10.0.0.1", "10.0.0.3"}
    assert ready_ips(Endpoints(metadata=ObjectMeta(name="web"))) == frozenset()


def test_pod_still_listed_blocks() -> None:
    g = gate()
    g.observe(("ns", "web"), 10, frozenset({"10.0.0.1", "10.0.0.2"}))
    assert g.pending("10.0.0.1", "ns", ["n1"]) == ["endpoints ns/web still lists 10.0.0.1"]
    assert g.pending("10.0.0.9", "ns", ["n1"]) == []  # a pod behind no Service: no wait
    assert g.pending("10.0.0.1", "other", ["n1"]) == []


def test_removal_waits_for_every_proxy_to_apply_that_version() -> None:
    g = gate()
    g.observe(("ns", "web"), 10, frozenset({"10.0.0.1", "10.0.0.2"}))
    g.observe(("ns", "web"), 12, frozenset({"10.0.0.2"}))
    assert sorted(g.pending("10.0.0.1", "ns", ["n1", "n2"])) == [
        "proxy n1 has not applied endpoints ns/web@12", "proxy n2 has not applied endpoints ns/web@12"]
    g.acks[("n1", ("ns", "web"))] = 12
    g.acks[("n2", ("ns", "web"))] = 11  # an older version still routes to the pod
    assert g.pending("10.0.0.1", "ns", ["n1", "n2"]) == ["proxy n2 has not applied endpoints ns/web@12"]
    g.acks[("n2", ("ns", "web"))] = 13
    assert g.pending("10.0.0.1", "ns", ["n1", "n2"]) == []


def test_stale_versions_are_ignored_and_readding_clears_removal() -> None:
    g = gate()
    g.observe(("ns", "web"), 10, frozenset({"10.0.0.1"}))
    g.observe(("ns", "web"), 12, frozenset())
    g.observe(("ns", "web"), 11, frozenset({"10.0.0.1"}))  # late, older event: ignored
    assert g.endpoints[("ns", "web")] == (12, frozenset())
    g.observe(("ns", "web"), 14, frozenset({"10.0.0.1"}))  # the IP came back (a new pod got it)
    assert "10.0.0.1" not in g.removed or ("ns", "web") not in g.removed["10.0.0.1"]


def _diag_message(rqueue: int) -> bytes:
    """An inet_diag_msg as the kernel sends it: family … id, expires, rqueue, wqueue, uid, inode."""
    body = struct.pack("=BBBB48sIIIII", socket.AF_INET, 10, 0, 0, b"\0" * 48, 0, rqueue, 0, 0, 1)
    return NLMSG_HEADER.pack(NLMSG_HEADER.size + len(body), SOCK_DIAG_BY_FAMILY, 2, 1, 0) + body


def test_accept_queue_sums_the_listeners_rqueue_until_the_dump_is_done() -> None:
    done = NLMSG_HEADER.pack(NLMSG_HEADER.size + 4, NLMSG_DONE, 2, 1, 0) + b"\0" * 4
    assert listen_queue_lengths(_diag_message(3) + _diag_message(10)) == (13, False)  # more to read
    assert listen_queue_lengths(_diag_message(1) + done) == (1, True)
    assert listen_queue_lengths(done) == (0, True)
    request = diag_request(socket.AF_INET6, 7)
    length, kind, flags, seq, _ = NLMSG_HEADER.unpack_from(request)
    assert (length, kind, seq) == (len(request), SOCK_DIAG_BY_FAMILY, 7) and flags & 0x300


def test_accept_queue_netlink_error_is_an_oserror() -> None:
    error = NLMSG_HEADER.pack(NLMSG_HEADER.size + 4, NLMSG_ERROR, 0, 1, 0) + struct.pack("=i", -errno.EPERM)
    with pytest.raises(OSError, match="sock_diag"):
        listen_queue_lengths(error)


async def test_wait_accepted_stops_when_the_queue_is_empty_or_the_budget_ends() -> None:
    left = [2, 1, 0]

    async def queued() -> int:
        return left.pop(0) if left else 0

    assert await wait_accepted(queued, budget=5.0) < 1.0
    assert not left

    async def stuck() -> int:
        return 1

    waited = await wait_accepted(stuck, budget=0.1)
    assert 0.1 <= waited < 0.5


def test_only_a_pod_behind_a_service_needs_the_proxies() -> None:
    g = gate()
    g.observe(("ns", "web"), 10, frozenset({"10.0.0.1", "10.0.0.2"}))
    g.observe(("ns", "web"), 12, frozenset({"10.0.0.2"}))
    assert g.behind_a_service("10.0.0.2", "ns")  # listed
    assert g.behind_a_service("10.0.0.1", "ns")  # dropped lately: proxies must apply that
    assert not g.behind_a_service("10.0.0.9", "ns")  # no Service: nothing to list nodes for
    assert not g.behind_a_service("10.0.0.2", "other")


class CountingNodes:
    """The API's LIST of nodes, counted (one Ready node, one NotReady)."""

    def __init__(self) -> None:
        self.lists = 0

    async def list(self, resource: str) -> tuple[list, str]:
        self.lists += 1
        await asyncio.sleep(0.01)
        nodes = [{"metadata": {"name": n}, "status": {"conditions": [{"type": "Ready", "status": s}]}}
                 for n, s in (("n1", "True"), ("n2", "False"))]
        return [msgspec.convert(n, Node) for n in nodes], "1"


async def test_pods_stopping_together_share_one_list_of_the_nodes() -> None:
    api = CountingNodes()
    g = DrainGate(nc=None, api=api, timeout=1.0)
    answers = await asyncio.gather(*(g._proxy_nodes() for _ in range(20)))
    assert answers == [["n1"]] * 20
    assert api.lists == 1
