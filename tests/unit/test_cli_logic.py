"""Pure CLI logic: apply's merge/unchanged decision, manifest parsing, bus lines, error lines."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from kubelite.client.http import UnknownResourceError
from kubelite.errors import not_found
from kubelite_cli.errors import CLIError, error_line
from kubelite_cli.events_fmt import format_message, is_shown
from kubelite_cli.manifests import parse_documents
from kubelite_cli.merge import merged_for_update, unchanged
from kubelite_cli.parser import parse_args

CURRENT_SVC = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "web", "namespace": "default", "resourceVersion": "42", "uid": "u1",
                 "labels": {"app": "web"}},
    "spec": {"type": "NodePort", "clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.5"],
             "selector": {"app": "web"}, "sessionAffinity": "None",
             "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 30001}]},
    "status": {"loadBalancer": {}},
}
FILE_SVC = {
    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"type": "NodePort", "selector": {"app": "web"},
             "ports": [{"port": 80, "targetPort": 8080}]},
}


def test_unchanged_tolerates_server_defaults() -> None:
    assert unchanged(FILE_SVC, CURRENT_SVC)


def test_label_or_spec_change_is_detected() -> None:
    relabeled = {**FILE_SVC, "metadata": {"name": "web", "labels": {"app": "web", "v": "2"}}}
    assert not unchanged(relabeled, CURRENT_SVC)
    moved = {**FILE_SVC, "spec": {**FILE_SVC["spec"], "ports": [{"port": 81}]}}
    assert not unchanged(moved, CURRENT_SVC)


def test_server_owned_labels_are_neither_a_change_nor_lost() -> None:
    current = {"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": "x", "resourceVersion": "3",
                            "labels": {"kubernetes.io/metadata.name": "x"}}}
    desired = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}
    assert unchanged(desired, current)
    desired["metadata"]["labels"] = {"team": "a"}
    assert merged_for_update(desired, current)["metadata"]["labels"] == {
        "kubernetes.io/metadata.name": "x", "team": "a"}


def test_merged_for_update_keeps_identity_status_and_allocations() -> None:
    desired = {**FILE_SVC, "spec": {**FILE_SVC["spec"], "selector": {"app": "v2"}}}
    out = merged_for_update(desired, CURRENT_SVC)
    assert out["metadata"]["resourceVersion"] == "42" and out["metadata"]["uid"] == "u1"
    assert out["status"] == {"loadBalancer": {}}
    assert out["spec"]["selector"] == {"app": "v2"}
    assert out["spec"]["clusterIP"] == "10.96.0.5"
    assert out["spec"]["ports"][0]["nodePort"] == 30001
    assert "sessionAffinity" not in out["spec"]  # the file's spec replaces the old one
    assert CURRENT_SVC["spec"]["selector"] == {"app": "web"}  # input untouched


def test_merged_for_update_drops_removed_data_keys_and_labels() -> None:
    current = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "c", "resourceVersion": "9", "labels": {"a": "1"}},
               "data": {"x": "1", "y": "2"}}
    desired = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
               "data": {"x": "1"}}
    out = merged_for_update(desired, current)
    assert out["data"] == {"x": "1"} and "labels" not in out["metadata"]


def test_parse_documents_multi_doc_and_lists() -> None:
    text = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\n"
            "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: s}}\n")
    docs = parse_documents(text, "f.yaml")
    assert [(d.obj["kind"], d.obj["metadata"]["name"]) for d in docs] == [
        ("ConfigMap", "a"), ("Secret", "s")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: 1\n", "f.yaml: line 5:"),
        ("kind: ConfigMap\nmetadata: {name: a}\n", "apiVersion not set"),
        ("apiVersion: v1\nmetadata: {name: a}\n", "kind not set"),
        ("apiVersion: v1\nkind: ConfigMap\n", "metadata.name not set"),
        ("- a\n- b\n", "not a mapping"),
    ],
)
def test_parse_documents_errors(text: str, message: str) -> None:
    with pytest.raises(CLIError, match=message):
        parse_documents(text, "f.yaml")


def test_bus_lines() -> None:
    when = datetime(2026, 1, 1, 3, 4, 5, tzinfo=UTC)
    change = (b'{"type":"MODIFIED","object":{"kind":"Pod","metadata":{"name":"web.1",'
              b'"namespace":"default","resourceVersion":"12"},"spec":{"nodeName":"node-1"},'
              b'"status":{"phase":"Running"}}}')
    assert format_message("kubelite.changes.pods.default.web~1", change, when) == (
        "03:04:05  pods default/web.1  MODIFIED  Running on node-1 rv=12")
    decision = b'{"type":"Bound","message":"node-1 scored 87"}'
    assert format_message("kubelite.decisions.scheduler.default.web", decision, when) == (
        "03:04:05  scheduler default/web  Bound  node-1 scored 87")
    assert format_message("kubelite.other", b"not json", when) == "03:04:05  kubelite.other  -  not json"
    assert is_shown("kubelite.changes.pods.a.b")
    assert not is_shown("kubelite.api.get.pods")
    assert not is_shown("_INBOX.x")


def test_heartbeats_are_hidden_but_node_changes_are_not() -> None:
    import json as _json

    from kubelite_cli.events_fmt import Heartbeats

    hb = Heartbeats()
    assert hb.is_heartbeat("kubelite.changes.leases.kube-node-lease.n1", b"{}")
    assert hb.is_heartbeat("kubelite.node.n1.metrics", b"\x81")
    assert hb.is_heartbeat("kubelite.node.n1.pods", b"{}")
    assert not hb.is_heartbeat("kubelite.changes.pods.default.web", b"{}")

    def node(ready: str, rv: str) -> bytes:
        return _json.dumps({"type": "MODIFIED", "object": {"kind": "Node", "metadata": {"resourceVersion": rv},
                            "status": {"conditions": [{"type": "Ready", "status": ready}]}}}).encode()

    subject = "kubelite.changes.nodes._.n1"
    assert not hb.is_heartbeat(subject, node("True", "1"))  # the first is news
    assert hb.is_heartbeat(subject, node("True", "2"))  # a status refresh: the same summary
    assert not hb.is_heartbeat(subject, node("False", "3"))  # NotReady: news


def test_error_lines() -> None:
    assert error_line(not_found("pods", "x")) == 'Error from server (NotFound): pods "x" not found'
    assert error_line(UnknownResourceError("foo")) == (
        'error: the server doesn\'t have a resource type "foo"')
    assert error_line(CLIError("bad\nthings")) == "error: bad things"
    request = httpx.Request("GET", "http://127.0.0.1:6443/api")
    assert error_line(httpx.ConnectError("refused", request=request)) == (
        "The connection to the server 127.0.0.1:6443 was refused - "
        "did you specify the right host or port?")
    assert error_line(ValueError("a\nb")) == "error: a b"


def test_global_flags_before_or_after_the_verb() -> None:
    before = parse_args(["--kubeconfig", "k", "-n", "ns", "get", "pods"])
    after = parse_args(["get", "pods", "--kubeconfig", "k", "-n", "ns"])
    neither = parse_args(["get", "pods"])
    assert (before.kubeconfig, before.namespace) == ("k", "ns")
    assert (after.kubeconfig, after.namespace) == ("k", "ns")
    assert (neither.kubeconfig, neither.namespace, neither.log_level) == (None, None, "warning")


def test_secret_string_data_matches_stored_data() -> None:
    desired = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
               "stringData": {"a": "b"}}
    folded = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
              "data": {"a": "Yg=="}, "type": "Opaque"}
    assert unchanged(desired, folded)
    assert not unchanged(desired, {**folded, "data": {"a": "Yw=="}})
