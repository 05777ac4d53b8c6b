"""The drain gate's bookkeeping: which Endpoints dropped a pod IP, and which proxies applied it."""

from __future__ import annotations

import msgspec

from kubelite.api.core_v1 import Endpoints
from kubelite.api.meta import ObjectMeta
from kubelite_nodeagent.drain import DrainGate, ready_ips


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
