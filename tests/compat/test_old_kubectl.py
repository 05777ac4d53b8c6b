"""The kubectl Debian 12 packages (1.20): client-side validation and `apply` read /openapi/v2 as
gnostic protobuf, `explain` reads it too (scripts/install-docker.sh unpacks it to
/opt/kubelite/kubectl-1.20)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
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


@pytest.mark.compat("kubectl 1.20 (Debian 12): diff, rollout status / history / undo")
def test_kubectl_1_20_diff_and_rollout(old_kubectl, ns) -> None:
    assert old_kubectl("-n", ns, "apply", "-f", "-", stdin=DEPLOY).returncode == 0
    same = old_kubectl("-n", ns, "diff", "-f", "-", stdin=DEPLOY)
    assert same.returncode == 0 and same.stdout == "", same  # a server-side dry run: nothing differs
    changed = old_kubectl("-n", ns, "diff", "-f", "-", stdin=DEPLOY.replace("image: nginx", "image: nginx:2"))
    assert changed.returncode == 1 and "+      - image: nginx:2" in changed.stdout, changed
    status = old_kubectl("-n", ns, "rollout", "status", "deploy/old-client", "--timeout=60s")
    assert status.returncode == 0 and "successfully rolled out" in status.stdout, status
    assert old_kubectl("-n", ns, "set", "image", "deploy/old-client", "c=nginx:2").returncode == 0
    assert old_kubectl("-n", ns, "rollout", "status", "deploy/old-client", "--timeout=60s").returncode == 0
    history = old_kubectl("-n", ns, "rollout", "history", "deploy/old-client")
    assert history.returncode == 0 and [line.split()[0] for line in history.stdout.splitlines()[2:] if line] == \
        ["1", "2"], history.stdout
    undo = old_kubectl("-n", ns, "rollout", "undo", "deploy/old-client")
    assert undo.returncode == 0 and "rolled back" in undo.stdout, undo
    image = old_kubectl("-n", ns, "get", "deploy", "old-client", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
    assert image.stdout == "nginx", image


@pytest.fixture(params=["1.20", "current with SPDY"])
def spdy_kubectl(request, cluster):
    """A kubectl that upgrades to SPDY/3.1 for exec, cp and port-forward: Debian's 1.20, and
    today's with its websocket transports turned off (as kubectl ≤1.29 did for exec)."""
    if request.param == "1.20":
        if not OLD.is_file():
            if os.environ.get("CI"):
                pytest.fail(f"{OLD} is missing: scripts/install-docker.sh unpacks Debian's kubernetes-client there")
            pytest.skip(f"no kubectl 1.20 at {OLD} (scripts/install-docker.sh)")
        binary, env = str(OLD), {}
    else:
        binary = cluster.kubectl_path
        env = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false", "KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"}
    return binary, {**os.environ, **env}


def _run(kubectl, cluster, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    binary, env = kubectl
    return subprocess.run([binary, "--kubeconfig", str(cluster.kubeconfig), *args], input=stdin,
                          capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.compat("kubectl exec / cp / port-forward over SPDY/3.1 (kubectl 1.20, and today's with websockets off)")
def test_spdy_exec_cp_port_forward(spdy_kubectl, cluster, ns, running_pod, tmp_path: Path) -> None:
    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return _run(spdy_kubectl, cluster, "-n", ns, *args, stdin=stdin)

    out = run("exec", running_pod, "--", "echo", "hello")
    assert (out.returncode, out.stdout) == (0, "hello\n"), out.stderr
    failed = run("exec", running_pod, "--", "sh", "-c", "exit 3")
    assert failed.returncode == 3 and "command terminated with exit code 3" in failed.stderr, failed.stderr
    piped = run("exec", "-i", running_pod, "--", "sh", "-c", "tr a-z A-Z; echo err >&2", stdin="shout\n")
    assert (piped.returncode, piped.stdout, piped.stderr) == (0, "SHOUT\n", "err\n"), piped

    # kubectl cp is tar over exec: stdin one way, stdout the other; 300 kB crosses several windows
    blob = tmp_path / "blob"
    blob.write_bytes(os.urandom(300_000))
    remote = f"/tmp/blob-{os.urandom(4).hex()}"
    up = run("cp", str(blob), f"{running_pod}:{remote}")
    assert up.returncode == 0, up.stderr
    down = run("cp", f"{running_pod}:{remote}", str(tmp_path / "back"))
    assert down.returncode == 0, down.stderr
    assert (tmp_path / "back").read_bytes() == blob.read_bytes()

    binary, env = spdy_kubectl
    proc = subprocess.Popen([binary, "--kubeconfig", str(cluster.kubeconfig), "-n", ns, "port-forward",
                             f"pod/{running_pod}", ":8080"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("Forwarding from 127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
        local_port = int(line.split(":")[1].split()[0])
        for _ in range(3):  # a connection each: a stream pair each
            r = httpx.get(f"http://127.0.0.1:{local_port}/", timeout=10)
            assert r.status_code == 200 and "Directory listing" in r.text
    finally:
        proc.kill()
        proc.wait()


def test_spdy_upgrade_refusals(cluster, ns, running_pod) -> None:
    """Before any upgrade: a protocol kubelite does not speak is 403 with Kubernetes' words; a
    request without an upgrade is 400 "Upgrade request required"."""
    base = f"{cluster.apiserver_url}/api/v1/namespaces/{ns}/pods/{running_pod}/exec?command=true&stdout=true"
    with httpx.Client(verify=cluster.tls) as client:
        r = client.post(base, headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
                                       "X-Stream-Protocol-Version": "v1.channel.k8s.io"})
        assert r.status_code == 403, r.text
        assert r.json()["message"] == ("unable to upgrade: unable to negotiate protocol: client supports "
                                       "[v1.channel.k8s.io], server accepts [v4.channel.k8s.io]")
        plain = client.post(base)
        assert plain.status_code == 400 and plain.json()["message"] == "Upgrade request required", plain.text


@pytest.mark.compat("kubectl run -i / attach over SPDY/3.1 (kubectl 1.20, and today's with websockets off)")
def test_spdy_attach(spdy_kubectl, cluster, ns, process_node) -> None:
    import json

    overrides = json.dumps({"spec": {"nodeName": process_node, "terminationGracePeriodSeconds": 1,
                                     "tolerations": [{"key": "kubelite.io/compat-logs", "operator": "Exists"}]}})
    run = _run(spdy_kubectl, cluster, "-n", ns, "run", "asker", "-i", "--rm", "--restart=Never", "--image=busybox",
               f"--overrides={overrides}", "--", "sh", "-c", 'read answer; echo "you said $answer"; exit 4',
               stdin="spdy\n")
    assert "you said spdy" in run.stdout and run.returncode == 4, run
