"""Streaming subresources that need the node agent's side (websocket/SPDY streams).

Strict xfails: when one starts working the suite fails until docs/kubectl-compat.md
(and the test) say so.
"""

from __future__ import annotations

import pytest

from tests.compat.conftest import needs

NEEDS = "pods/exec and pods/portforward streaming through the node agent (not implemented)"


@pytest.fixture
def running_pod(cluster, kubectl, ns) -> str:
    kubectl("-n", ns, "run", "target", "--image=busybox", "--", "sleep", "3600")
    kubectl("-n", ns, "wait", "--for=condition=Ready", "pod/target", "--timeout=30s", timeout=40)
    return "target"


@needs("scheduler", "nodeagent")
@pytest.mark.compat("kubectl exec")
@pytest.mark.xfail(strict=True, reason=NEEDS)
def test_exec(kubectl, ns, running_pod) -> None:
    out = kubectl("-n", ns, "exec", running_pod, "--", "echo", "hello", timeout=20)
    assert out.stdout.strip() == "hello"


@needs("scheduler", "nodeagent")
@pytest.mark.compat("kubectl port-forward")
@pytest.mark.xfail(strict=True, reason=NEEDS)
def test_port_forward(cluster, ns, running_pod) -> None:
    import socket
    import subprocess

    proc = subprocess.Popen(
        [cluster.kubectl_path, "--kubeconfig", str(cluster.kubeconfig), "-n", ns, "port-forward",
         f"pod/{running_pod}", ":8080"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("Forwarding from 127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
        local_port = int(line.split(":")[1].split()[0])
        # kubectl opens the stream on the first connection; without streaming it exits then.
        with socket.create_connection(("127.0.0.1", local_port), timeout=5) as conn:
            conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                pass
        assert proc.poll() is None, f"kubectl port-forward exited: {proc.stderr.read()}"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.compat("kubectl proxy")
def test_kubectl_proxy(cluster, kubectl, ns) -> None:
    """kubectl proxy is client-side: it works; the pods/proxy subresource behind it does not."""
    import socket
    import subprocess
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kubectl("-n", ns, "create", "configmap", "via-proxy", "--from-literal=a=1")
    proc = subprocess.Popen(
        [cluster.kubectl_path, "--kubeconfig", str(cluster.kubeconfig), "proxy", f"--port={port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith(f"Starting to serve on 127.0.0.1:{port}")
        deadline = time.monotonic() + 10
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/v1/namespaces/{ns}/configmaps/via-proxy", timeout=5)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert r.status_code == 200 and r.json()["data"] == {"a": "1"}
    finally:
        proc.kill()
        proc.wait()
