"""The bus contract: one catalog in kubelite.bus, the architecture doc generated from it,
and every subject builder producing the pattern the catalog names."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import msgspec
import pytest

from kubelite.bus import api, catalog, changes, decisions, proxy

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def test_architecture_doc_lists_the_catalog() -> None:
    text = DOC.read_text()
    m = re.search(r"<!-- BEGIN bus-table[^>]*-->\n(.*?)<!-- END bus-table -->", text, re.S)
    assert m, "docs/architecture.md lost its generated bus table markers"
    assert m.group(1) == catalog.markdown_table(), (
        "docs/architecture.md disagrees with kubelite/bus/catalog.py; paste the output of "
        "`python -m kubelite.bus.catalog` between the markers")


def _sample_args(fn) -> list[str]:
    return [f"<{p}>" for p in inspect.signature(fn).parameters]


def test_every_builder_yields_its_catalog_pattern() -> None:
    for topic in catalog.TOPICS:
        module, _, func = topic.builder.partition(".")
        fn = getattr(importlib.import_module(f"kubelite.bus.{module}"), func)
        # every parameter a sample name; a bus identity's kind must be one that exists
        built = fn(*["node" if p == "<kind>" else "x" for p in _sample_args(fn)])
        pattern = re.escape(topic.subject)
        pattern = re.sub(r"<[a-z]+>", "[^.]+", pattern.replace(r"\<", "<").replace(r"\>", ">"))
        assert re.fullmatch(pattern, built), (topic.subject, built)


def test_names_with_dots_stay_one_token() -> None:
    assert changes.subject("pods", "default", "web.v1") == "kubelite.changes.pods.default.web~v1"
    assert changes.node_pods("node-a.lab") == "kubelite.node.node-a~lab.pods"
    assert proxy.applied("n.1") == "kubelite.proxy.n~1.applied"
    assert decisions.controller("replicaset", None, "a.b") == "kubelite.decisions.replicaset.-.a~b"


def test_api_subjects_name_their_caller() -> None:
    from kubelite.bus.identity import ANY_NODE, BusIdentity, UnknownIdentity, parse_api_subject
    from kubelite.bus.permissions import permissions

    node = BusIdentity("node", "n.1")
    assert node.api_subject("list", "pods") == "kubelite.api.node.n~1.list.pods"
    assert parse_api_subject("kubelite.api.node.n~1.list.pods") == (node, "list", "pods")
    assert node.user().name == "system:node:n.1" and "system:nodes" in node.user().groups
    assert BusIdentity("scheduler").api_subject("create", "bindings") == "kubelite.api.scheduler.-.create.bindings"
    for bad in ("kubelite.api.root.-.get.pods", "kubelite.api.node.-.get.pods", "kubelite.api.get.pods"):
        with pytest.raises(UnknownIdentity):
            parse_api_subject(bad)
    # a node may use its own node's subjects and its own API prefix, nothing of another node's
    perm = permissions(node)
    assert "kubelite.node.n~1.>" in perm.subscribe and "kubelite.api.node.n~1.>" in perm.publish
    assert not any("changes.secrets" in s or s in (">", "kubelite.>") for s in perm.subscribe)
    assert "kubelite.changes.services.>" in perm.subscribe  # service links, as a kubelet watches Services
    # one ConfigMap's changes in every namespace (the cluster CA), never the others'
    assert "kubelite.changes.configmaps.*.kube-root-ca~crt" in perm.subscribe
    assert not any(s.startswith("kubelite.changes.configmaps") and s.endswith(">") for s in perm.subscribe)
    sim = permissions(BusIdentity("node", ANY_NODE))
    assert "kubelite.api.node.*.>" in sim.publish and "kubelite.node.*.>" in sim.subscribe


def test_api_request_round_trips_with_and_without_body() -> None:
    bare = api.APIRequest(verb="get", resource="pods", namespace="default", name="web")
    assert api.encode_request(bare) == b'{"verb":"get","resource":"pods","namespace":"default","name":"web"}'
    assert api.body_bytes(api.request_decoder.decode(api.encode_request(bare))) == b""
    with_body = api.APIRequest(verb="create", resource="pods", body=api.raw_body({"a": 1}, msgspec.json.encode))
    decoded = api.request_decoder.decode(api.encode_request(with_body))
    assert api.body_bytes(decoded) == b'{"a":1}'
    assert api.body_bytes(api.APIRequest(verb="x", resource="y", body=api.raw_body(b'{"b":2}', None))) == b'{"b":2}'


def test_applied_ack_is_one_typed_message_both_sides_decode() -> None:
    msg = proxy.Applied("node-1", "default", "web", "42")
    assert proxy.decoder.decode(proxy.encoder.encode(msg)) == msg


def test_scheduling_decision_drops_detail_when_too_big() -> None:
    d = decisions.SchedulingDecision(
        namespace="ns", pod="p", result="Unschedulable",
        rejected={f"node-{i}": ["Insufficient cpu" * 20] for i in range(3000)})
    data = decisions.encode_scheduling(d)
    assert len(data) <= decisions.MAX_DECISION_BYTES
    assert msgspec.json.decode(data)["detailOmitted"] is True


def test_compat_doc_names_every_served_type() -> None:
    """docs/kubectl-compat.md's opening list of served types is the scheme's, no more, no less."""
    from kubelite.api.scheme import all_resources

    text = (DOC.parent / "kubectl-compat.md").read_text()
    intro = text.split("\n\n", 2)[1]
    named = set(re.findall(r"\b([A-Z][A-Za-z]+)\b", intro))
    served = {r.kind for r in all_resources()}
    missing = served - named
    assert not missing, f"docs/kubectl-compat.md does not name served types {sorted(missing)}"
    groups = {r.group for r in all_resources() if r.group}
    assert all(g in intro for g in groups), f"a served group is missing from the doc: {sorted(groups)}"
