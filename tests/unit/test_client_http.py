"""Pure parts of the API client and kubeconfig handling: paths, queries, errors, files."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import yaml

from kubelite.api import scheme
from kubelite.client.http import (
    UnknownResourceError,
    build_path,
    build_query,
    build_request,
    decode_response,
    parse_watch_line,
    resource_info,
)
from kubelite.client.kubeconfig import (
    KubeconfigError,
    find_kubeconfig,
    load_kubeconfig,
    parse_kubeconfig,
    write_kubeconfig,
)
from kubelite.errors import APIError, not_found

PODS = scheme.resolve("pods")
DEPLOYS = scheme.resolve("deploy")
NODES = scheme.resolve("nodes")
LEASES = scheme.resolve("leases")


def test_build_path_for_core_group_and_named_groups() -> None:
    assert build_path(PODS, "default") == "/api/v1/namespaces/default/pods"
    assert build_path(PODS, None) == "/api/v1/pods"
    assert build_path(PODS, "ns", "web", "status") == "/api/v1/namespaces/ns/pods/web/status"
    assert build_path(DEPLOYS, "ns", "web", "scale") == "/apis/apps/v1/namespaces/ns/deployments/web/scale"
    assert build_path(LEASES, "kube-node-lease", "n1") == (
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1")
    assert build_path(NODES, "ignored-for-cluster-scope", "n1") == "/api/v1/nodes/n1"


def test_build_query_maps_names_and_drops_unset() -> None:
    assert build_query(label_selector="app=web", limit=5, continue_="tok", dry_run=True,
                       resource_version=None, watch=False) == {
        "labelSelector": "app=web", "limit": "5", "continue": "tok", "dryRun": "All"}
    assert build_query(propagation_policy="Orphan", grace_period_seconds=0) == {
        "propagationPolicy": "Orphan", "gracePeriodSeconds": "0"}
    with pytest.raises(TypeError):
        build_query(bogus=1)


def test_build_request_delete_sends_delete_options() -> None:
    req = build_request("delete", PODS, "ns", "web", grace_period_seconds=0,
                        propagation_policy="Foreground")
    assert (req.method, req.path) == ("DELETE", "/api/v1/namespaces/ns/pods/web")
    body = msgspec.json.decode(req.body)
    assert body == {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                    "propagationPolicy": "Foreground"}


def test_build_request_watch_of_one_name_uses_a_field_selector() -> None:
    req = build_request("watch", PODS, "ns", "web", resource_version="7")
    assert req.path == "/api/v1/namespaces/ns/pods"
    assert req.params == {"watch": "true", "fieldSelector": "metadata.name=web",
                          "resourceVersion": "7"}


def test_build_request_patch_content_type() -> None:
    req = build_request("patch", DEPLOYS, "ns", "web", {"spec": {"replicas": 2}})
    assert req.headers["Content-Type"] == "application/merge-patch+json"
    req = build_request("patch", DEPLOYS, "ns", "web", [], patch_type="json")
    assert req.headers["Content-Type"] == "application/json-patch+json"


def test_resource_info_resolves_names_and_rejects_unknown() -> None:
    assert resource_info("po") is PODS
    with pytest.raises(UnknownResourceError, match='resource type "widgets"'):
        resource_info("widgets")


def test_decode_response_raises_api_error_from_status() -> None:
    body = msgspec.json.encode(not_found("deployments.apps", "web").to_status())
    with pytest.raises(APIError) as info:
        decode_response(404, body)
    assert (info.value.code, info.value.reason) == (404, "NotFound")
    assert info.value.message == 'deployments.apps "web" not found'
    assert decode_response(200, b'{"a": 1}') == {"a": 1}


def test_decode_response_without_status_body() -> None:
    with pytest.raises(APIError) as info:
        decode_response(503, b"upstream down", "Service Unavailable")
    assert (info.value.code, info.value.reason, info.value.message) == (
        503, "ServiceUnavailable", "upstream down")


def test_parse_watch_line() -> None:
    assert parse_watch_line(b"") is None
    assert parse_watch_line('{"type":"ADDED","object":{"kind":"Pod"}}') == ("ADDED", {"kind": "Pod"})
    with pytest.raises(APIError) as info:
        parse_watch_line('{"type":"ERROR","object":{"kind":"Status","code":410,'
                         '"reason":"Expired","message":"too old resource version"}}')
    assert info.value.code == 410


def test_write_then_load_kubeconfig(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "kc", "http://127.0.0.1:6443", "nats://127.0.0.1:4222")
    assert path.stat().st_mode & 0o777 == 0o600
    doc = yaml.safe_load(path.read_text())
    assert doc["current-context"] == "kubelite"
    assert [c["name"] for c in doc["clusters"]] == ["kubelite"]
    assert doc["clusters"][0]["cluster"]["extensions"] == [
        {"name": "kubelite", "extension": {"nats": "nats://127.0.0.1:4222"}}]
    config = load_kubeconfig(str(path))
    assert (config.server, config.namespace, config.nats_url) == (
        "http://127.0.0.1:6443", "default", "nats://127.0.0.1:4222")


def test_kubeconfig_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert find_kubeconfig("/explicit") == Path("/explicit")
    assert find_kubeconfig() == tmp_path / "a"
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert find_kubeconfig() == tmp_path / ".kube" / "config"


def test_parse_kubeconfig_other_context_and_errors() -> None:
    doc = {
        "current-context": "a",
        "contexts": [{"name": "a", "context": {"cluster": "c1", "user": "u"}},
                     {"name": "b", "context": {"cluster": "c2", "namespace": "prod"}}],
        "clusters": [{"name": "c1", "cluster": {"server": "https://x:6443/"}},
                     {"name": "c2", "cluster": {"server": "http://y:1"}}],
        "users": [{"name": "u", "user": {"token": "t0k"}}],
    }
    a = parse_kubeconfig(doc)
    assert (a.server, a.token, a.nats_url) == ("https://x:6443", "t0k", None)
    b = parse_kubeconfig(doc, context="b")
    assert (b.server, b.namespace) == ("http://y:1", "prod")
    with pytest.raises(KubeconfigError, match='context "zz" does not exist'):
        parse_kubeconfig(doc, context="zz")
    with pytest.raises(KubeconfigError, match="no current-context"):
        parse_kubeconfig({})
    with pytest.raises(KubeconfigError, match="cannot read kubeconfig"):
        load_kubeconfig("/nonexistent/kubeconfig")
