"""The drain gate's bookkeeping: which Endpoints dropped a pod IP, and which proxies applied it."""

from __future__ import annotations

import msgspec

from kubelite.api.core_v1 import Endpoints
from kubelite.api.meta import ObjectMeta
from kubelite_nodeagent.drain import DrainGate, ready_ips, wait_accepted
from kubelite_nodeagent.runtime.netconnect import listen_queue_lengths


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


def test_accept_queue_is_rx_queue_of_listening_sockets_only() -> None:
    table = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 00000000:1F90 00000000:0000 0A 00000000:00000003 00:00000000 00000000     0        0 1 1\n"
        "   1: 0100007F:1F91 00000000:0000 0A 00000000:0000000A 00:00000000 00000000     0        0 2 1\n"
        "   2: 0100007F:1F90 0100007F:D431 01 00000000:00000040 00:00000000 00000000     0        0 3 1\n"
    )  # the established socket's 0x40 bytes unread are not a waiting connection
    assert listen_queue_lengths(table) == 3 + 10
    assert listen_queue_lengths(table.splitlines()[0]) == 0


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
