"""The kubectl Debian 12 packages (1.20): client-side validation and `apply` read /openapi/v2 as
gnostic protobuf, `explain` reads it too (scripts/install-docker.sh unpacks it to
/opt/kubelite/kubectl-1.20)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

OLD = Path(os.environ.get("OLD_KUBECTL_DIR", "/opt/kubelite/kubectl-1.20")) / "usr/bin/kubectl"
DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: old-client}
spec:
  replicas: 1
  selector: {matchLabels: {app: old-client}}
  template:
    metadata: {labels: {app: old-client}}
    spec:
      containers: [{name: c, image: nginx}]
"""


@pytest.fixture
def old_kubectl(cluster):
    if not OLD.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{OLD} is missing: scripts/install-docker.sh unpacks Debian's kubernetes-client there")
        pytest.skip(f"no kubectl 1.20 at {OLD} (scripts/install-docker.sh)")

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(OLD), "--kubeconfig", str(cluster.kubeconfig), *args], input=stdin,
                              capture_output=True, text=True, timeout=60)

    return run


@pytest.mark.compat("kubectl 1.20 (Debian 12): apply with client-side validation, explain")
def test_kubectl_1_20_validates_and_applies(old_kubectl, ns) -> None:
    created = old_kubectl("-n", ns, "apply", "-f", "-", stdin=DEPLOY)
    assert created.returncode == 0 and "deployment.apps/old-client created" in created.stdout, created.stderr
    bad = old_kubectl("-n", ns, "apply", "-f", "-", stdin=DEPLOY.replace("replicas: 1", "replicaz: 1"))
    assert bad.returncode != 0 and 'unknown field "replicaz" in DeploymentSpec' in bad.stderr, bad.stderr
    changed = old_kubectl("-n", ns, "apply", "-f", "-", stdin=DEPLOY.replace("replicas: 1", "replicas: 2"))
    assert changed.returncode == 0 and "configured" in changed.stdout, changed.stderr  # a strategic merge patch
    explain = old_kubectl("explain", "deployment.spec.replicas")
    assert explain.returncode == 0 and "FIELD:    replicas <integer>" in explain.stdout, explain.stderr
    assert old_kubectl("-n", ns, "get", "deploy", "old-client").returncode == 0
