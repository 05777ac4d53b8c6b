"""StatefulSets, DaemonSets, claims and disruption budgets through the real kubectl: apply,
the tables, scale, rollout status/history/undo, and drain honouring a budget."""

from __future__ import annotations

import pytest

from tests.compat.conftest import Cluster, wait_for

WEB = """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: web:v1}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Mi}}
"""

SITTERS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: sitters}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: sitters}}}}
  template:
    metadata: {{labels: {{app: sitters}}}}
    spec:
      nodeSelector: {{kubernetes.io/hostname: {node}}}
      terminationGracePeriodSeconds: 1
      tolerations: [{{key: kubelite.io/compat-logs, operator: Exists}}]
      containers:
      - name: main
        image: busybox
        command: ["sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait"]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: sitters}}
spec:
  minAvailable: 2
  selector: {{matchLabels: {{app: sitters}}}}
"""


def _ready(cluster: Cluster, ns: str, kind: str, name: str, field: str, want: int) -> bool:
    return cluster.json("-n", ns, "get", kind, name).get("status", {}).get(field) == want


@pytest.mark.compat("kubectl get statefulsets,pvc,pv,storageclasses,controllerrevisions")
@pytest.mark.compat("kubectl scale statefulset")
@pytest.mark.compat("kubectl rollout status|history|undo statefulset")
def test_statefulset_with_claims(cluster, kubectl, ns, tmp_path) -> None:
    f = tmp_path / "web.yaml"
    f.write_text(WEB)
    kubectl("-n", ns, "apply", "-f", str(f))
    status = kubectl("-n", ns, "rollout", "status", "sts/web", "--timeout=60s", timeout=70)
    # partition defaults to 0, so kubectl reports it as Kubernetes does
    assert "partitioned roll out complete: 2 new pods have been updated" in status.stdout, status.stdout
    out = kubectl("-n", ns, "get", "sts").stdout
    assert out.split()[:5] == ["NAME", "READY", "AGE", "web", "2/2"], out
    pvcs = kubectl("-n", ns, "get", "pvc").stdout
    assert pvcs.split()[:8] == ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS", "MODES", "STORAGECLASS",
                                "VOLUMEATTRIBUTESCLASS"], pvcs
    assert "data-web-0" in pvcs and "Bound" in pvcs and "local-path" in pvcs and "RWO" in pvcs, pvcs
    assert "local-path (default)" in kubectl("get", "storageclass").stdout
    assert f"{ns}/data-web-1" in kubectl("get", "pv").stdout

    kubectl("-n", ns, "set", "image", "sts/web", "c=web:v2")
    kubectl("-n", ns, "rollout", "status", "sts/web", "--timeout=60s", timeout=70)
    history = kubectl("-n", ns, "rollout", "history", "sts/web").stdout
    assert "REVISION" in history and "1 " in history and "2 " in history, history
    revisions = kubectl("-n", ns, "get", "controllerrevisions").stdout
    assert "statefulset.apps/web" in revisions, revisions
    undo = kubectl("-n", ns, "rollout", "undo", "sts/web")
    assert "rolled back" in undo.stdout, undo.stdout
    kubectl("-n", ns, "rollout", "status", "sts/web", "--timeout=60s", timeout=70)
    images = {p["spec"]["containers"][0]["image"] for p in cluster.json("-n", ns, "get", "pods")["items"]}
    assert images == {"web:v1"}, images

    kubectl("-n", ns, "scale", "sts/web", "--replicas=1")
    wait_for(lambda: _ready(cluster, ns, "sts", "web", "replicas", 1), 60, "scale to 1 never finished")
    assert len(cluster.json("-n", ns, "get", "pvc")["items"]) == 2, "claims are kept on scale-down"
    bad = kubectl("-n", ns, "create", "-f", "-", input=WEB.replace("  serviceName: web\n", "").replace("name: web}", "name: web2}"), check=False)
    assert bad.returncode != 0 and "spec.serviceName: Required value" in bad.stderr, bad.stderr


@pytest.mark.compat("kubectl drain (PodDisruptionBudget)")
@pytest.mark.compat("kubectl get poddisruptionbudgets")
def test_drain_honours_a_disruption_budget(cluster, kubectl, ns, process_node, tmp_path) -> None:
    node = process_node
    f = tmp_path / "sitters.yaml"
    f.write_text(SITTERS.format(node=node))
    kubectl("-n", ns, "apply", "-f", str(f))
    try:
        kubectl("-n", ns, "rollout", "status", "deploy/sitters", "--timeout=60s", timeout=70)
        wait_for(lambda: _ready(cluster, ns, "pdb", "sitters", "currentHealthy", 2), 30, "budget never saw 2 pods")
        table = kubectl("-n", ns, "get", "pdb").stdout
        assert table.split()[:9] == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED", "DISRUPTIONS",
                                     "AGE", "sitters"], table
        refused = kubectl("drain", node, "--pod-selector=app=sitters", "--timeout=8s", check=False, timeout=40)
        assert refused.returncode != 0
        assert "Cannot evict pod as it would violate the pod's disruption budget" in refused.stderr, refused.stderr
        assert len(cluster.json("-n", ns, "get", "pods", "-l", "app=sitters")["items"]) == 2, "a pod was evicted"
        kubectl("-n", ns, "patch", "pdb", "sitters", "--type=merge", "-p", '{"spec":{"minAvailable":0}}')
        out = kubectl("drain", node, "--pod-selector=app=sitters", "--timeout=60s", timeout=70).stdout
        assert f"node/{node} drained" in out, out
        assert "evicted" in out, out
    finally:
        kubectl("uncordon", node, check=False)
