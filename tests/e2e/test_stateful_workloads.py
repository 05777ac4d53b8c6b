"""StatefulSet, storage and DaemonSet on a real local cluster (process runtime, two nodes):
the Kubernetes tutorial's `web` StatefulSet behind the headless Service `nginx` (a Python HTTP
server in place of nginx), its claims provisioned by the default local-path class, data that
survives the pod, names that resolve through cluster DNS; and a DaemonSet with one pod per
node, driven by the real kubectl."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

from tests.conftest import kubectl_binary
from tests.e2e.conftest import Cluster

WEB = """
apiVersion: v1
kind: Service
metadata:
  name: nginx
  labels: {app: nginx}
spec:
  ports:
  - port: 80
    name: web
  clusterIP: None
  selector: {app: nginx}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: "nginx"
  replicas: 2
  selector:
    matchLabels: {app: nginx}
  template:
    metadata:
      labels: {app: nginx}
    spec:
      terminationGracePeriodSeconds: 2  # python is PID 1 in its pod: SIGTERM alone would not stop it
      containers:
      - name: nginx
        image: local
        imagePullPolicy: IfNotPresent
        command: ["python3", "-m", "http.server", "80", "--directory", "/usr/share/nginx/html"]
        ports:
        - containerPort: 80
          name: web
        readinessProbe:
          tcpSocket: {port: 80}
          periodSeconds: 1
        volumeMounts:
        - name: www
          mountPath: /usr/share/nginx/html
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes: ["ReadWriteOnce"]
      resources:
        requests:
          storage: 1Gi
"""

DAEMON = """
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: node-agent
spec:
  selector:
    matchLabels: {name: node-agent}
  template:
    metadata:
      labels: {name: node-agent}
    spec:
      terminationGracePeriodSeconds: 1  # sleep as PID 1 ignores SIGTERM
      tolerations:
      - key: node-role.kubernetes.io/control-plane
        operator: Exists
        effect: NoSchedule
      containers:
      - name: agent
        image: local
        imagePullPolicy: IfNotPresent
        command: ["sleep", "3600"]
"""


def _until(what: str, fn: Callable[[], Any], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (AssertionError, KeyError, json.JSONDecodeError) as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"{what} (after {timeout}s; last: {last!r})")


def _ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions") or [])


def _exec(cluster: Cluster, pod: str, *cmd: str) -> str:
    res = subprocess.run([kubectl_binary(), "--kubeconfig", str(cluster.kubeconfig), "exec", pod, "--", *cmd],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"kubectl exec {pod} {cmd}: {res.stderr}"
    return res.stdout


def test_web_statefulset_keeps_its_data_and_names(cluster: Cluster) -> None:
    cluster.apply(WEB)

    def both_ready() -> dict[str, dict[str, Any]] | None:
        pods = {p["metadata"]["name"]: p for p in cluster.get_json("pods", "-l", "app=nginx")["items"]}
        return pods if sorted(pods) == ["web-0", "web-1"] and all(map(_ready, pods.values())) else None

    pods = _until("web-0 and web-1 never became Ready", both_ready, timeout=120)
    claims = {c["metadata"]["name"]: c for c in cluster.get_json("pvc")["items"]}
    assert sorted(claims) == ["www-web-0", "www-web-1"]
    assert all(c["status"]["phase"] == "Bound" and c["spec"]["storageClassName"] == "local-path"
               for c in claims.values()), claims
    volumes = {v["spec"]["claimRef"]["name"]: v for v in cluster.get_json("pv")["items"]}
    node0 = pods["web-0"]["spec"]["nodeName"]
    pinned = volumes["www-web-0"]["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]
    assert pinned["matchExpressions"][0]["values"] == [node0]

    _exec(cluster, "web-0", "sh", "-c", "echo web-0 data > /usr/share/nginx/html/index.html")
    # the headless Service names each pod: web-1 reads web-0's page by its stable DNS name
    page = _exec(cluster, "web-1", "python3", "-c",
                 "import urllib.request as u; print(u.urlopen('http://web-0.nginx.default.svc.cluster.local/',"
                 " timeout=5).read().decode())")
    assert "web-0 data" in page

    old_uid = pods["web-0"]["metadata"]["uid"]
    cluster.kubelite("delete", "pod", "web-0")

    def back() -> dict[str, Any] | None:
        pod = next((p for p in cluster.get_json("pods", "-l", "app=nginx")["items"]
                    if p["metadata"]["name"] == "web-0"), None)
        return pod if pod and pod["metadata"]["uid"] != old_uid and _ready(pod) else None

    pod = _until("web-0 did not come back", back)
    assert pod["spec"]["nodeName"] == node0, "web-0 must return to the node that holds its volume"
    assert _exec(cluster, "web-0", "cat", "/usr/share/nginx/html/index.html").strip() == "web-0 data"

    # deleting the set and the claims releases the volumes; local-path deletes them and their data
    path = volumes["www-web-1"]["spec"]["local"]["path"]
    cluster.kubelite("delete", "statefulset", "web")
    _until("the set's pods stayed", lambda: not cluster.get_json("pods", "-l", "app=nginx")["items"])
    cluster.kubelite("delete", "pvc", "www-web-0", "www-web-1")
    _until("the volumes were not reclaimed", lambda: not cluster.get_json("pv")["items"], timeout=60)
    assert not os.path.exists(path), f"{path} was left behind"


def test_a_daemonset_runs_one_pod_per_node_and_rolls(cluster: Cluster) -> None:
    cluster.apply(DAEMON)
    nodes = {n["metadata"]["name"] for n in cluster.get_json("nodes")["items"]}

    def one_each() -> bool:
        pods = [p for p in cluster.get_json("pods", "-l", "name=node-agent")["items"]
                if p["status"].get("phase") == "Running"]
        return sorted(p["spec"]["nodeName"] for p in pods) == sorted(nodes)

    _until("no daemon pod on every node", one_each)
    kubectl = [kubectl_binary(), "--kubeconfig", str(cluster.kubeconfig)]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*kubectl, *args], capture_output=True, text=True, timeout=120)

    status = run("rollout", "status", "ds/node-agent", "--timeout=60s")
    assert status.returncode == 0 and "successfully rolled out" in status.stdout, status.stderr
    set_env = run("set", "env", "ds/node-agent", "MODE=v2")
    assert set_env.returncode == 0, set_env.stderr
    status = run("rollout", "status", "ds/node-agent", "--timeout=90s")
    assert status.returncode == 0 and "successfully rolled out" in status.stdout, status.stderr
    history = run("rollout", "history", "ds/node-agent")
    assert history.returncode == 0 and "1 " in history.stdout and "2 " in history.stdout, history.stdout
    undo = run("rollout", "undo", "ds/node-agent")
    assert undo.returncode == 0 and "rolled back" in undo.stdout, undo.stderr
    status = run("rollout", "status", "ds/node-agent", "--timeout=90s")
    assert status.returncode == 0, status.stderr
    pods = cluster.get_json("pods", "-l", "name=node-agent")["items"]
    assert all(not p["spec"]["containers"][0].get("env") for p in pods if not p["metadata"].get("deletionTimestamp"))
    table = run("get", "ds", "node-agent")
    assert table.returncode == 0 and "NODE SELECTOR" in table.stdout, table.stdout
