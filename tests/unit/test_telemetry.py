"""Who may read /metrics, how flags parse, and the apiserver's request labels (pure logic)."""

from __future__ import annotations

import argparse

import pytest

from kubelite.telemetry.families import etcd_object_type
from kubelite.telemetry.server import BindAddress, parse_bind_address, route
from kubelite_apiserver.metrics import is_long_running, labels
from kubelite_apiserver.requestinfo import parse_request


def _peer(cn: str, *groups: str) -> tuple[str, tuple[str, ...]]:
    """A client certificate's (user, groups), as kubelite.pki.peer_identity reads them."""
    return cn, groups


def test_monitoring_and_masters_read_others_are_refused() -> None:
    assert route("GET", "/metrics", _peer("kubelite-monitoring", "system:monitoring"))[0] == 200
    assert route("GET", "/metrics", _peer("kubelite-admin", "system:masters"))[0] == 200
    code, _, body = route("GET", "/metrics", _peer("system:node:n1", "system:nodes"))
    assert code == 403 and b'User "system:node:n1" cannot get path "/metrics"' in body
    assert route("GET", "/metrics", None)[0] == 401
    assert route("GET", "/healthz", None)[0] == 200  # health is public, as in Kubernetes
    assert route("GET", "/other", _peer("a", "system:masters"))[0] == 404
    assert route("POST", "/metrics", _peer("a", "system:masters"))[0] == 405


def test_metrics_body_is_prometheus_text() -> None:
    code, ctype, body = route("GET", "/metrics?x=1", _peer("a", "system:monitoring"))
    assert code == 200 and ctype.startswith("text/plain; version=")
    assert b"# TYPE workqueue_depth gauge" in body


@pytest.mark.parametrize(("text", "want"), [
    ("127.0.0.1:10259", BindAddress("127.0.0.1", 10259)),
    (":9000", BindAddress("127.0.0.1", 9000)),
    ("0.0.0.0:0", BindAddress("0.0.0.0", 0)),
    ("[::1]:80", BindAddress("::1", 80)),
    ("off", None),
])
def test_bind_address(text: str, want: BindAddress | None) -> None:
    assert parse_bind_address(text) == want


@pytest.mark.parametrize("text", ["10259", "host:", "h:99999", "h:x"])
def test_bad_bind_address(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="invalid metrics bind address"):
        parse_bind_address(text)


def test_etcd_object_type() -> None:
    assert etcd_object_type("/registry/pods/ns/p") == "pods"
    assert etcd_object_type("/registry/deployments.apps/") == "deployments.apps"
    assert etcd_object_type("/kubelite/leader/x") == "other"


def test_request_labels_follow_kubernetes() -> None:
    get = parse_request("GET", "/api/v1/namespaces/ns/pods/p", {})
    assert labels(get, "apiserver") == ("GET", "", "v1", "pods", "", "resource", "apiserver")
    lst = parse_request("GET", "/apis/apps/v1/deployments", {})
    assert labels(lst, "bus") == ("LIST", "apps", "v1", "deployments", "", "cluster", "bus")
    apply = parse_request("PATCH", "/apis/apps/v1/namespaces/ns/deployments/d", {})
    assert labels(apply, "apiserver", apply=True)[0] == "APPLY"
    watch = parse_request("GET", "/api/v1/namespaces/ns/pods", {"watch": "true"})
    assert labels(watch, "apiserver")[:1] == ("WATCH",) and is_long_running(watch)
    exec_ = parse_request("POST", "/api/v1/namespaces/ns/pods/p/exec", {})
    assert labels(exec_, "apiserver")[0] == "CONNECT" and is_long_running(exec_)
    assert labels(parse_request("GET", "/version", {}), "apiserver")[0] == "GET"

