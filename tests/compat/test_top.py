"""kubectl top against the resource metrics API (metrics.k8s.io, fed by the node agents).

The compat cluster's node is a fake-runtime node: a container with KUBELITE_FAKE_CPU_MILLIS /
KUBELITE_FAKE_MEMORY_BYTES reports that steady use, so the figures are known exactly."""

from __future__ import annotations

import pytest

from tests.compat.conftest import wait_for

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: busy, labels: {app: busy}}
spec:
  containers:
  - name: main
    image: busybox
    command: [sleep, "3600"]
    env:
    - {name: KUBELITE_FAKE_CPU_MILLIS, value: "250"}
    - {name: KUBELITE_FAKE_MEMORY_BYTES, value: "52428800"}
"""


@pytest.mark.compat("kubectl top pod [--containers] [-l]")
@pytest.mark.compat("kubectl top node")
def test_top_pods_and_nodes(cluster, kubectl, ns) -> None:
    kubectl("-n", ns, "apply", "-f", "-", input=POD)

    def top() -> str | None:
        out = kubectl("-n", ns, "top", "pod", check=False)
        return out.stdout if out.returncode == 0 and "busy" in out.stdout else None

    out = wait_for(top, 30, "kubectl top pod never showed the pod")
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"], out
    name, cpu, memory = row.split()
    assert name == "busy" and 245 <= int(cpu.removesuffix("m")) <= 255 and memory == "50Mi", out
    containers = kubectl("-n", ns, "top", "pod", "busy", "--containers").stdout
    assert containers.split()[:4] == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"], containers
    assert "main" in containers, containers
    assert "busy" in kubectl("-n", ns, "top", "pod", "-l", "app=busy").stdout
    nodes = kubectl("top", "node").stdout
    assert nodes.split()[:5] == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"], nodes
    assert "node-1" in nodes, nodes
    missing = kubectl("-n", ns, "top", "pod", "nosuch", check=False)
    assert missing.returncode != 0 and "not found" in missing.stderr, missing.stderr

    # the kubelite CLI prints the same table (the figures are the fake runtime's steady ones)
    mine = _kubelite(cluster, "-n", ns, "top", "pods")
    assert mine.splitlines()[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"], mine
    assert mine.splitlines()[1].split()[0] == "busy" and mine.splitlines()[1].split()[2] == "50Mi", mine
    assert _kubelite(cluster, "-n", ns, "top", "pod", "busy", "--containers").split()[:6] == [
        "POD", "NAME", "CPU(cores)", "MEMORY(bytes)", "busy", "main"]
    assert _kubelite(cluster, "top", "nodes").split()[:5] == nodes.split()[:5]


def _kubelite(cluster, *args: str) -> str:
    out = cluster.kubelite(*args)
    assert out.returncode == 0, out.stderr
    return out.stdout


DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: burner}
spec:
  replicas: 1
  selector: {matchLabels: {app: burner}}
  template:
    metadata: {labels: {app: burner}}
    spec:
      containers:
      - name: main
        image: busybox
        command: [sleep, "3600"]
        resources: {requests: {cpu: 100m}}
        env:
        - {name: KUBELITE_FAKE_CPU_MILLIS, value: "150"}
"""


@pytest.mark.compat("kubectl autoscale --cpu=N% --min --max")
@pytest.mark.compat("kubectl get hpa")
def test_autoscale_scales_a_busy_deployment(cluster, kubectl, ns) -> None:
    kubectl("-n", ns, "apply", "-f", "-", input=DEPLOY)
    out = kubectl("-n", ns, "autoscale", "deployment", "burner", "--cpu=50%", "--min=1", "--max=3").stdout
    assert "horizontalpodautoscaler.autoscaling/burner autoscaled" in out, out
    hpa = cluster.json("-n", ns, "get", "hpa", "burner")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 50}
    # 150m used of 100m requested against 50 %: the controller (2 s sync here) takes it to the maximum
    wait_for(lambda: cluster.json("-n", ns, "get", "deploy", "burner")["spec"]["replicas"] == 3, 90,
             "the busy deployment was not scaled to 3")
    table = kubectl("-n", ns, "get", "hpa").stdout
    assert table.split()[:7] == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"], table
    assert "Deployment/burner" in table and "cpu: 150%/50%" in table, table


HPA_V1 = """\
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: legacy}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burner}
  minReplicas: 1
  maxReplicas: 2
  targetCPUUtilizationPercentage: 75
"""


@pytest.mark.compat("kubectl apply -f (autoscaling/v1 HorizontalPodAutoscaler)")
@pytest.mark.compat("kubectl get horizontalpodautoscalers.v1.autoscaling")
def test_autoscaling_v1_manifest(cluster, kubectl, ns) -> None:
    out = kubectl("-n", ns, "apply", "-f", "-", input=HPA_V1).stdout
    assert "horizontalpodautoscaler.autoscaling/legacy created" in out, out
    v1 = cluster.json("-n", ns, "get", "horizontalpodautoscalers.v1.autoscaling", "legacy")
    assert v1["apiVersion"] == "autoscaling/v1" and v1["spec"]["targetCPUUtilizationPercentage"] == 75
    v2 = cluster.json("-n", ns, "get", "hpa", "legacy")
    assert v2["apiVersion"] == "autoscaling/v2"
    assert v2["spec"]["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 75}
    again = kubectl("-n", ns, "apply", "-f", "-", input=HPA_V1.replace("75", "65")).stdout
    assert "configured" in again, again
    assert cluster.json("-n", ns, "get", "horizontalpodautoscalers.v1.autoscaling", "legacy")["spec"]["targetCPUUtilizationPercentage"] == 65
