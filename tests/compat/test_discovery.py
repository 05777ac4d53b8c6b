"""kubectl version / api-versions / api-resources / cluster-info / explain, and unknown resources."""

from __future__ import annotations

import json

import httpx
import pytest

pytestmark = pytest.mark.usefixtures("cluster")


@pytest.mark.compat(
    "kubectl version",
    missing="the server reports the v1.31 API level, so a newer kubectl prints a version-skew warning",
)
def test_version(kubectl) -> None:
    r = kubectl("version", "-o", "json")
    out = json.loads(r.stdout)
    assert "version difference between client" in r.stderr  # the gap the table notes
    assert out["clientVersion"]["gitVersion"].startswith("v1.")
    server = out["serverVersion"]
    assert server["gitVersion"].startswith("v1.") and "kubelite" in server["gitVersion"]
    assert server["major"] == "1" and server["minor"]


@pytest.mark.compat("kubectl api-versions")
def test_api_versions(kubectl) -> None:
    lines = kubectl("api-versions").stdout.split()
    assert {"v1", "apps/v1", "coordination.k8s.io/v1"} <= set(lines), lines


@pytest.mark.compat("kubectl api-resources")
def test_api_resources(kubectl) -> None:
    out = kubectl("api-resources").stdout
    header, *rows = out.splitlines()
    assert header.split() == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    by_name: dict[str, list[str]] = {}
    for r in rows:  # nodes and pods are in metrics.k8s.io too, listed after core (as with metrics-server)
        by_name.setdefault(r.split()[0], r.split())
    assert ["pods", "metrics.k8s.io/v1beta1", "true", "PodMetrics"] in [r.split() for r in rows]
    assert by_name["pods"] == ["pods", "po", "v1", "true", "Pod"]
    assert by_name["deployments"] == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    assert by_name["nodes"] == ["nodes", "no", "v1", "false", "Node"]
    assert "ingresses" not in by_name  # outside the supported subset: absent, not broken
    wide = kubectl("api-resources", "-o", "wide").stdout
    assert "VERBS" in wide.splitlines()[0]
    assert kubectl("api-resources", "--namespaced=false", "-o", "name").stdout.split() >= ["namespaces"]


@pytest.mark.compat("kubectl cluster-info")
def test_cluster_info(cluster, kubectl) -> None:
    out = kubectl("cluster-info").stdout
    assert f"Kubernetes control plane is running at {cluster.apiserver_url}" in out


@pytest.mark.compat("unknown resources: 404 Status, absent from discovery")
def test_unknown_resource(cluster, kubectl) -> None:
    r = kubectl("get", "ingresses", check=False)
    assert r.returncode != 0
    assert "the server doesn't have a resource type \"ingresses\"" in r.stderr
    for path in ("/apis/networking.k8s.io/v1/namespaces/default/ingresses",
                 "/api/v1/namespaces/default/podtemplates", "/apis/autoscaling/v2beta2"):
        resp = httpx.get(cluster.apiserver_url + path, timeout=5, verify=cluster.tls)
        assert resp.status_code == 404, (path, resp.status_code, resp.text)
        status = resp.json()
        assert status["kind"] == "Status" and status["reason"] == "NotFound" and status["code"] == 404
    groups = httpx.get(cluster.apiserver_url + "/apis", timeout=5, verify=cluster.tls).json()
    assert "networking.k8s.io" not in {g["name"] for g in groups["groups"]}


@pytest.mark.compat("kubectl explain")
def test_explain(kubectl) -> None:
    out = kubectl("explain", "deployment.spec.replicas").stdout
    assert "KIND:       Deployment" in out and "FIELD: replicas <integer>" in out
    out = kubectl("explain", "pods.spec.containers").stdout
    assert "image\t<string>" in out or "image <string>" in out.replace("\t", " ")
    bad = kubectl("explain", "pods.spec.nosuchfield", check=False)
    assert bad.returncode != 0 and "nosuchfield" in bad.stderr
