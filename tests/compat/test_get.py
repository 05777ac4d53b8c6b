"""Reading: kubectl get (tables and every output format, selectors, -A, -w), describe, events."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.compat.conftest import wait_for

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: nginx, image: "nginx:1.25", ports: [{containerPort: 80}]}]
"""


def columns(out: str) -> list[str]:
    return out.splitlines()[0].split()


def describe_field(out: str, key: str) -> str:
    """The value of a top-level `Key:   value` line of kubectl describe."""
    for line in out.splitlines():
        if line.startswith(key + ":"):
            return line[len(key) + 1:].strip()
    raise AssertionError(f"no {key!r} line in:\n{out}")


@pytest.mark.compat("kubectl get (server-side tables)")
@pytest.mark.compat("kubectl get -o wide")
@pytest.mark.compat("kubectl get --show-labels")
def test_get_tables(cluster, kubectl, ns) -> None:
    kubectl("-n", ns, "create", "configmap", "one", "--from-literal=a=1")
    kubectl("-n", ns, "label", "configmap", "one", "tier=db")
    out = kubectl("-n", ns, "get", "configmaps").stdout
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}
    assert columns(out) == ["NAME", "DATA", "AGE"] and rows == {"kube-root-ca.crt": "1", "one": "1"}, out
    out = kubectl("-n", ns, "get", "configmaps", "--show-labels").stdout
    assert columns(out)[-1] == "LABELS" and "tier=db" in out
    out = kubectl("get", "nodes", "-o", "wide").stdout
    assert columns(out)[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert "INTERNAL-IP" in columns(out) and "CONTAINER-RUNTIME" in columns(out)
    kubectl("-n", ns, "create", "service", "clusterip", "db", "--tcp=5432:5432")
    out = kubectl("-n", ns, "get", "services", "-o", "wide").stdout
    assert columns(out) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    assert "5432/TCP" in out and "app=db" in out
    empty = kubectl("-n", ns, "get", "secrets")
    assert empty.stdout == "" and f"No resources found in {ns} namespace." in empty.stderr


@pytest.mark.compat("kubectl get -o yaml|json|name")
@pytest.mark.compat("kubectl get -o jsonpath")
@pytest.mark.compat("kubectl get --chunk-size (limit/continue)")
@pytest.mark.compat("kubectl get -o custom-columns")
def test_get_output_formats(cluster, kubectl, ns) -> None:
    kubectl("-n", ns, "create", "configmap", "one", "--from-literal=a=1")
    kubectl("-n", ns, "create", "configmap", "two", "--from-literal=b=2", "--from-literal=c=3")
    y = kubectl("-n", ns, "get", "configmap", "one", "-o", "yaml").stdout
    assert "kind: ConfigMap" in y and "  a: \"1\"" in y and "managedFields" not in y
    j = json.loads(kubectl("-n", ns, "get", "configmaps", "-o", "json").stdout)
    assert j["kind"] == "List" and sorted(i["metadata"]["name"] for i in j["items"]) == [
        "kube-root-ca.crt", "one", "two"]
    assert kubectl("-n", ns, "get", "configmaps", "-o", "name").stdout.split() == [
        "configmap/kube-root-ca.crt", "configmap/one", "configmap/two"]
    kubectl("-n", ns, "label", "configmaps", "one", "two", "set=fmt")  # ours, not kube-root-ca.crt
    jp = kubectl("-n", ns, "get", "configmaps", "-l", "set=fmt", "-o",
                 "jsonpath={range .items[*]}{.metadata.name}={.data}{\"\\n\"}{end}").stdout
    assert jp.splitlines() == ['one={"a":"1"}', 'two={"b":"2","c":"3"}']
    # kubectl pages with limit/continue (--chunk-size); every page joins up
    assert kubectl("-n", ns, "get", "configmaps", "--chunk-size=1", "-o", "name").stdout.split() == [
        "configmap/kube-root-ca.crt", "configmap/one", "configmap/two"]
    cc = kubectl("-n", ns, "get", "configmaps", "-l", "set=fmt", "-o",
                 "custom-columns=NAME:.metadata.name,NS:.metadata.namespace,B:.data.b").stdout
    assert [line.split() for line in cc.splitlines()] == [
        ["NAME", "NS", "B"], ["one", ns, "<none>"], ["two", ns, "2"]]


@pytest.mark.compat("kubectl get -l")
@pytest.mark.compat("kubectl get --field-selector")
@pytest.mark.compat("kubectl get -A")
def test_get_selectors(cluster, kubectl, ns) -> None:
    for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
        kubectl("-n", ns, "create", "configmap", name, "--from-literal=k=v")
        kubectl("-n", ns, "label", "configmap", name, f"tier={tier}")
    assert kubectl("-n", ns, "get", "cm", "-l", "tier=web", "-o", "name").stdout.split() == [
        "configmap/a", "configmap/c"]
    assert kubectl("-n", ns, "get", "cm", "-l", "tier in (db),tier!=web", "-o", "name").stdout.split() == [
        "configmap/b"]
    assert kubectl("-n", ns, "get", "cm", "--field-selector", "metadata.name=b", "-o",
                   "name").stdout.split() == ["configmap/b"]
    bad = kubectl("-n", ns, "get", "cm", "--field-selector", "data.k=v", check=False)
    assert bad.returncode != 0
    assert '"data.k" is not a known field selector: only "metadata.name", "metadata.namespace"' in bad.stderr
    out = kubectl("get", "configmaps", "-A", "-l", "tier=db").stdout
    assert columns(out) == ["NAMESPACE", "NAME", "DATA", "AGE"] and out.splitlines()[1].split()[:2] == [ns, "b"]
    out = kubectl("get", "namespaces", "--field-selector", f"metadata.name={ns}", "-o", "name").stdout
    assert out.strip() == f"namespace/{ns}"


@pytest.mark.compat("kubectl get --chunk-size (limit/continue)")
def test_get_pods_in_pages_from_a_snapshot(cluster, kubectl, ns) -> None:
    """kubectl's paged LIST of pods: its first page takes a snapshot of the apiserver's pod
    cache, the pages after it are slices of that snapshot (listsnapshots.py)."""
    for name in ("c", "a", "b"):  # bound to no real node: nothing runs them
        kubectl("-n", ns, "run", name, "--image=busybox", "--restart=Never",
                "--overrides", '{"spec": {"nodeName": "nowhere"}}')
    out = kubectl("-n", ns, "get", "pods", "--chunk-size=1", "-o", "name", "-v=6").stdout
    assert out.split() == ["pod/a", "pod/b", "pod/c"]
    paged = kubectl("-n", ns, "get", "pods", "--chunk-size=2", "-o", "json", "-v=6")
    assert [p["metadata"]["name"] for p in json.loads(paged.stdout)["items"]] == ["a", "b", "c"]
    assert "continue=" in paged.stderr, "kubectl did not page"
    for name in ("a", "b", "c"):
        kubectl("-n", ns, "delete", "pod", name, "--grace-period=0", "--force")


@pytest.mark.compat("kubectl get -w")
@pytest.mark.parametrize("resource", ["configmaps", "pods"])  # pods: from the watch cache
def test_get_watch(cluster, ns, resource: str) -> None:
    proc = subprocess.Popen(
        [cluster.kubectl_path, "--kubeconfig", str(cluster.kubeconfig), "-n", ns, "get", resource,
         "-w", "--output-watch-events"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        time.sleep(0.5)  # let the watch start (the assertion below does not rely on it)
        if resource == "pods":  # bound to no real node: a forced delete is immediate
            cluster.kubectl("-n", ns, "run", "w1", "--image=busybox", "--restart=Never",
                            "--overrides", '{"spec": {"nodeName": "nowhere"}}')
            cluster.kubectl("-n", ns, "label", "pod", "w1", "x=y")
            cluster.kubectl("-n", ns, "delete", "pod", "w1", "--grace-period=0", "--force")
        else:
            cluster.kubectl("-n", ns, "create", "configmap", "w1", "--from-literal=a=1")
            cluster.kubectl("-n", ns, "label", "configmap", "w1", "x=y")
            cluster.kubectl("-n", ns, "delete", "configmap", "w1")
        lines: list[str] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(line.startswith("DELETED") for line in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
    finally:
        proc.kill()
        proc.wait()
    events = [line.split()[:2] for line in lines if line.split() and line.split()[0] != "EVENT"]
    assert ["ADDED", "w1"] in events and ["MODIFIED", "w1"] in events and ["DELETED", "w1"] in events, lines


EXTERNAL_DB = """\
apiVersion: v1
kind: Service
metadata:
  name: ext
spec:
  ports:
  - name: pg
    port: 5432
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ext-1
  labels:
    kubernetes.io/service-name: ext
addressType: IPv4
endpoints:
- addresses: ["192.0.2.10"]
  conditions: {ready: true}
ports:
- name: pg
  port: 5432
  protocol: TCP
"""


@pytest.mark.compat("kubectl describe (services, nodes, configmaps)")
def test_describe_basic(cluster, kubectl, ns, tmp_path) -> None:
    kubectl("-n", ns, "create", "service", "clusterip", "db", "--tcp=5432:5432")
    out = kubectl("-n", ns, "describe", "service", "db").stdout
    assert describe_field(out, "Name") == "db" and describe_field(out, "Type") == "ClusterIP"
    assert describe_field(out, "Port") == "5432-5432  5432/TCP"  # kubectl names the port
    # kubectl 1.33+ reads a service's endpoints from its discovery.k8s.io/v1 EndpointSlices
    f = tmp_path / "ext.yaml"
    f.write_text(EXTERNAL_DB)
    kubectl("-n", ns, "apply", "-f", str(f))
    out = kubectl("-n", ns, "describe", "service", "ext").stdout
    assert describe_field(out, "Endpoints") == "192.0.2.10:5432", out
    out = kubectl("describe", "node", "node-1").stdout
    assert describe_field(out, "Name") == "node-1" and "Conditions:" in out and "Ready" in out
    kubectl("-n", ns, "create", "configmap", "c", "--from-literal=a=1")
    assert "Data\n====" in kubectl("-n", ns, "describe", "configmap", "c").stdout


@pytest.mark.compat("kubectl describe (pods, deployments, replicasets, with Events)")
@pytest.mark.compat("kubectl get events")
def test_describe_workloads_with_events(cluster, kubectl, ns, tmp_path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(DEPLOYMENT)
    kubectl("-n", ns, "apply", "-f", str(f))
    kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=60s", timeout=70)
    out = kubectl("-n", ns, "describe", "deployment", "web").stdout
    assert "Replicas:               2 desired | 2 updated | 2 total | 2 available | 0 unavailable" in out
    assert "ScalingReplicaSet" in out and "Scaled up replica set web-" in out
    out = kubectl("-n", ns, "describe", "replicaset", "-l", "app=web").stdout
    assert "Controlled By:  Deployment/web" in out and "SuccessfulCreate" in out
    kubectl("-n", ns, "wait", "--for=condition=Ready", "pods", "-l", "app=web", "--timeout=30s", timeout=40)
    pod = kubectl("-n", ns, "get", "pods", "-l", "app=web", "-o", "name").stdout.split()[0]
    out = kubectl("-n", ns, "describe", pod).stdout
    assert describe_field(out, "Status") == "Running" and describe_field(out, "Controlled By").startswith(
        "ReplicaSet/web-")
    assert "Scheduled" in out and "default-scheduler" in out
    out = wait_for(lambda: kubectl("-n", ns, "get", "events").stdout, 10, "no events")
    assert columns(out) == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert "deployment/web" in out and "ScalingReplicaSet" in out
    out = kubectl("-n", ns, "get", "events", "--field-selector", "involvedObject.kind=Deployment").stdout
    assert "ScalingReplicaSet" in out and "replicaset/" not in out


@pytest.mark.compat("kubectl get all")
@pytest.mark.compat("kubectl delete --all")
def test_get_all_and_delete_all(cluster, kubectl, ns) -> None:
    kubectl("-n", ns, "create", "deployment", "w", "--image=busybox", "--replicas=1")
    kubectl("-n", ns, "expose", "deployment", "w", "--port=80")
    kubectl("-n", ns, "rollout", "status", "deployment/w", "--timeout=60s", timeout=70)
    out = kubectl("-n", ns, "get", "all", "-o", "name").stdout.split()
    kinds = sorted({name.split("/")[0] for name in out})
    assert kinds == ["deployment.apps", "pod", "replicaset.apps", "service"], out
    for i in range(3):
        kubectl("-n", ns, "create", "configmap", f"c{i}")
    out = kubectl("-n", ns, "delete", "configmaps", "--all").stdout
    assert out.count("deleted") == 4  # and kube-root-ca.crt, which the root CA publisher puts back
    assert set(kubectl("-n", ns, "get", "configmaps", "-o", "name").stdout.split()) <= {
        "configmap/kube-root-ca.crt"}
