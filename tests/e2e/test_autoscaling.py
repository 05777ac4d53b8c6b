"""Autoscaling on a real local cluster (process runtime, two nodes): the Kubernetes HPA
walkthrough's CPU-bound Deployment (requests 100m, a busy loop in place of php-apache's load)
under a 50 % target goes from 1 replica to its maximum on CPU measured from the containers'
cgroups, and back to 1 once the load stops (scale-down stabilization shortened to 0 s)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import kubectl_binary
from tests.e2e.conftest import Cluster, start_cluster, stop_cluster

DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: php-apache}
spec:
  replicas: 1
  selector: {matchLabels: {run: php-apache}}
  template:
    metadata: {labels: {run: php-apache}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: php-apache
        image: local
        imagePullPolicy: IfNotPresent
        # burns CPU while /load/on exists (the test removes it to stop the load)
        command: ["sh", "-c", "while true; do if [ -e /load/on ]; then :; else sleep 1; fi; done"]
        resources: {requests: {cpu: 100m}, limits: {cpu: 200m}}
        volumeMounts: [{name: load, mountPath: /load}]
      volumes: [{name: load, hostPath: {path: LOAD_DIR, type: DirectoryOrCreate}}]
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if os.geteuid() != 0:
        pytest.skip("end-to-end networking and cgroups need root")
    c = start_cluster(tmp_path_factory.mktemp("hpa-cluster"),
                      extra=("--metrics-resolution", "2s", "--horizontal-pod-autoscaler-sync-period", "2s"))
    try:
        yield c
    finally:
        stop_cluster(c)


def _until(what: str, fn: Callable[[], Any], timeout: float) -> Any:
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(1)
    raise AssertionError(f"{what} (after {timeout}s; last: {last!r})")


def test_cpu_bound_deployment_scales_out_and_back(cluster: Cluster, tmp_path: Path) -> None:
    load = tmp_path / "load"
    load.mkdir()
    (load / "on").touch()
    cluster.apply(DEPLOY.replace("LOAD_DIR", str(load)))
    kubectl = [kubectl_binary(), "--kubeconfig", str(cluster.kubeconfig)]
    out = subprocess.run([*kubectl, "autoscale", "deployment", "php-apache", "--cpu=50%", "--min=1", "--max=4"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    patch = {"spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}}}}
    subprocess.run([*kubectl, "patch", "hpa", "php-apache", "--type=merge", "-p", json.dumps(patch)],
                   check=True, capture_output=True, timeout=60)

    def replicas() -> int:
        return cluster.get_json("deployment", "php-apache")["spec"]["replicas"]

    _until("the busy deployment never reached 4 replicas", lambda: replicas() == 4, timeout=120)
    top = subprocess.run([*kubectl, "top", "pods"], capture_output=True, text=True, timeout=60)
    assert top.returncode == 0 and "php-apache" in top.stdout, top.stderr
    (load / "on").unlink()  # every pod shares the directory: the load stops everywhere
    _until("the idle deployment never came back to 1 replica", lambda: replicas() == 1, timeout=120)
    hpa = cluster.get_json("hpa", "php-apache")
    assert hpa["status"]["desiredReplicas"] == 1, hpa["status"]
