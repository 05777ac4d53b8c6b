"""A Job on a real local cluster (process runtime, root): the Kubernetes documentation's `pi`
example with a Python command in place of perl, run to completion; `kubelite logs` reads the
result; an Indexed Job's pods see their JOB_COMPLETION_INDEX."""

from __future__ import annotations

import json
import subprocess
import time

from tests.conftest import kubectl_binary
from tests.e2e.conftest import Cluster

PI = """
apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  backoffLimit: 4
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: pi
        image: local
        imagePullPolicy: IfNotPresent
        command: ["python3", "-c", "from decimal import Decimal as D, getcontext as g; g().prec=60; print(sum(D(1)/16**k*(D(4)/(8*k+1)-D(2)/(8*k+4)-D(1)/(8*k+5)-D(1)/(8*k+6)) for k in range(60)))"]
"""

INDEXED = """
apiVersion: batch/v1
kind: Job
metadata: {name: shards}
spec:
  completions: 3
  parallelism: 3
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: shard
        image: local
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "echo shard=$JOB_COMPLETION_INDEX host=$(hostname)"]
"""


def _wait_complete(cluster: Cluster, name: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    job: dict = {}
    while time.monotonic() < deadline:
        job = cluster.get_json("job", name)
        if any(c["type"] == "Complete" and c["status"] == "True" for c in job.get("status", {}).get("conditions") or []):
            return job
        time.sleep(0.5)
    pods = cluster.kubelite("get", "pods", "-o", "wide", check=False).stdout
    raise AssertionError(f"job {name} not Complete after {timeout}s: {json.dumps(job.get('status'))}\n{pods}")


def test_the_pi_job_runs_to_completion(cluster: Cluster) -> None:
    cluster.apply(PI)
    job = _wait_complete(cluster, "pi")
    assert job["status"]["succeeded"] == 1
    [pod] = [p for p in cluster.get_json("pods", "-l", "job-name=pi")["items"]]
    assert pod["status"]["phase"] == "Succeeded"
    out = cluster.kubelite("logs", pod["metadata"]["name"]).stdout
    assert out.startswith("3.14159265358979323846"), out
    table = cluster.kubelite("get", "jobs").stdout
    assert "Complete" in table and "1/1" in table, table
    # the real kubectl: wait on the condition, read the logs through the Job
    kubectl = [kubectl_binary(), "--kubeconfig", str(cluster.kubeconfig)]
    wait = subprocess.run([*kubectl, "wait", "--for=condition=complete", "job/pi", "--timeout=30s"],
                          capture_output=True, text=True, timeout=60)
    assert wait.returncode == 0 and "condition met" in wait.stdout, wait.stderr
    logs = subprocess.run([*kubectl, "logs", "job/pi"], capture_output=True, text=True, timeout=60)
    assert logs.stdout.startswith("3.14159"), logs.stderr


def test_an_indexed_job_hands_each_pod_its_index(cluster: Cluster) -> None:
    cluster.apply(INDEXED)
    job = _wait_complete(cluster, "shards")
    assert job["status"]["completedIndexes"] == "0-2"
    lines = set()
    for pod in cluster.get_json("pods", "-l", "job-name=shards")["items"]:
        lines.add(cluster.kubelite("logs", pod["metadata"]["name"]).stdout.strip())
    assert lines == {f"shard={i} host=shards-{i}" for i in range(3)}, lines
