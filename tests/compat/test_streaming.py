"""Streaming: kubectl exec and port-forward (apiserver -> NATS -> node agent) on a pod of
the process-runtime node, and kubectl proxy."""

from __future__ import annotations

import pytest

from tests.compat.conftest import wait_for


@pytest.mark.compat("kubectl exec")
def test_exec(kubectl, ns, running_pod) -> None:
    out = kubectl("-n", ns, "exec", running_pod, "--", "echo", "hello", timeout=20)
    assert out.stdout.strip() == "hello"
    r = kubectl("-n", ns, "exec", running_pod, "--", "sh", "-c", "exit 3", check=False, timeout=20)
    assert r.returncode == 3


def test_kubelite_exec(cluster, ns, running_pod) -> None:
    """The kubelite CLI's own exec speaks the same websocket protocol: output, stdin, exit code."""
    def kubelite(*args: str, stdin: str | None = None):
        return cluster.kubelite("-n", ns, *args, input=stdin)

    out = kubelite("exec", running_pod, "--", "echo", "hello")
    assert (out.returncode, out.stdout) == (0, "hello\n"), out.stderr
    piped = kubelite("exec", "-i", f"pod/{running_pod}", "--", "sh", "-c", "tr a-z A-Z; echo err >&2",
                     stdin="shout\n")
    assert (piped.returncode, piped.stdout, piped.stderr) == (0, "SHOUT\n", "err\n"), piped
    assert kubelite("exec", running_pod, "--", "sh", "-c", "exit 3").returncode == 3
    missing = kubelite("exec", "nosuch", "--", "true")
    assert missing.returncode == 1 and missing.stderr.startswith('Error from server (NotFound): pods "nosuch"'), \
        missing.stderr
    assert "you must specify at least one command" in kubelite("exec", running_pod).stderr


@pytest.mark.compat("kubectl port-forward")
def test_port_forward(cluster, ns, running_pod) -> None:
    import subprocess

    import httpx

    proc = subprocess.Popen(
        [cluster.kubectl_path, "--kubeconfig", str(cluster.kubeconfig), "-n", ns, "port-forward",
         f"pod/{running_pod}", ":8080"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("Forwarding from 127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
        local_port = int(line.split(":")[1].split()[0])
        r = httpx.get(f"http://127.0.0.1:{local_port}/", timeout=10)
        assert r.status_code == 200 and "Directory listing" in r.text
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.compat("kubectl proxy")
@pytest.mark.compat("pods/NAME:PORT/proxy and services/NAME:PORT/proxy (kubectl proxy, kubectl get --raw)")
def test_proxy_subresources(cluster, kubectl, ns, running_pod) -> None:
    """HTTP through the apiserver to the pod, and to a Service's ready endpoint."""
    kubectl("-n", ns, "label", "pod", running_pod, "app=server")
    kubectl("-n", ns, "create", "service", "clusterip", "server", "--tcp=80:8080")
    listing = kubectl("-n", ns, "get", "--raw", f"/api/v1/namespaces/{ns}/pods/{running_pod}:8080/proxy/").stdout
    assert "Directory listing" in listing, listing[:300]

    def via_service() -> str | None:
        out = kubectl("get", "--raw", f"/api/v1/namespaces/{ns}/services/server:80/proxy/", check=False)
        return out.stdout if out.returncode == 0 and "Directory listing" in out.stdout else None

    wait_for(via_service, 20, "services/proxy never reached the pod")
    missing = kubectl("get", "--raw", f"/api/v1/namespaces/{ns}/pods/nosuch:8080/proxy/", check=False)
    assert missing.returncode != 0 and "not found" in missing.stderr, missing.stderr


def test_kubectl_proxy(cluster, kubectl, ns) -> None:
    """kubectl proxy is client-side: it forwards to the apiserver with the kubeconfig's credentials."""
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
