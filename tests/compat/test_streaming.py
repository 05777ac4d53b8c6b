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


def _overrides(node: str) -> str:
    """`kubectl run --overrides`: onto the process-runtime node, with a short grace period."""
    import json

    return json.dumps({"spec": {"nodeName": node, "terminationGracePeriodSeconds": 1,
                                "tolerations": [{"key": "kubelite.io/compat-logs", "operator": "Exists"}]}})


@pytest.mark.compat("kubectl run -i --rm (attach, stdinOnce, the container's exit code)")
def test_run_interactive(cluster, kubectl, ns, process_node) -> None:
    run = kubectl("-n", ns, "run", "asker", "-i", "--rm", "--restart=Never", "--image=busybox",
                  f"--overrides={_overrides(process_node)}", "--", "sh", "-c",
                  'read answer; echo "you said $answer"; echo to-stderr >&2; exit 3',
                  input="forty-two\n", check=False, timeout=90)
    assert run.returncode == 3, run
    assert "you said forty-two" in run.stdout and "to-stderr" in run.stderr, run
    assert 'pod "asker" deleted' in run.stdout
    wait_for(lambda: kubectl("-n", ns, "get", "pod", "asker", check=False).returncode != 0, 30,
             "--rm left the pod behind")


@pytest.mark.compat("kubectl run -it / attach with a tty (resize, TERM)")
def test_run_with_a_tty(cluster, kubectl, ns, process_node) -> None:
    """Through `script`, so kubectl has a terminal of 91x33 whose size it sends."""
    import shlex
    import subprocess

    argv = [cluster.kubectl_path, "--kubeconfig", str(cluster.kubeconfig), "-n", ns, "run", "shell", "-it",
            "--rm", "--restart=Never", "--image=busybox", f"--overrides={_overrides(process_node)}", "--", "sh"]
    command = "stty cols 91 rows 33; " + shlex.join(argv)

    proc = subprocess.Popen(["script", "-qec", command, "/dev/null"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        import time

        time.sleep(0.5)  # script must have set up the terminal before input arrives
        out, _ = proc.communicate(b'stty size; echo "term=$TERM"; exit 5\n', timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.decode(errors="replace").replace("\r", "")
    assert proc.returncode == 5, text
    assert "\n33 91\n" in text and "term=xterm" in text, text


@pytest.mark.compat("kubectl attach (a container without stdin: its output until it ends)")
def test_attach_without_stdin(cluster, kubectl, ns, process_node) -> None:
    import json

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ticker"},
           "spec": {**json.loads(_overrides(process_node))["spec"], "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox", "command": [
                        "sh", "-c", "sleep 1; for i in 1 2 3; do echo tick $i; sleep 0.3; done"]}]}}
    kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(pod))
    kubectl("-n", ns, "wait", "--for=condition=Ready", "pod/ticker", "--timeout=30s", timeout=40)
    attached = kubectl("-n", ns, "attach", "-i", "ticker", input="ignored\n", check=False, timeout=60)
    assert attached.returncode == 0, attached
    assert "tick 3" in attached.stdout, attached  # it ended with the container: no hang


@pytest.mark.compat("kubectl debug -it POD --image --target (ephemeral containers)")
def test_debug_with_an_ephemeral_container(cluster, kubectl, ns, running_pod) -> None:
    """The debug container joins the target's PID namespace (its PID 1 is the target's process),
    attaches with a tty, and shows up in ephemeralContainerStatuses."""
    import json
    import shlex
    import subprocess

    argv = [cluster.kubectl_path, "--kubeconfig", str(cluster.kubeconfig), "-n", ns, "debug", "-it", running_pod,
            "--image=busybox", "--target=web", "-c", "dbg", "--", "sh"]
    proc = subprocess.Popen(["script", "-qec", shlex.join(argv), "/dev/null"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(b'echo "pid1=$(tr "\\0" " " < /proc/1/cmdline)"; exit 0\n', timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.decode(errors="replace").replace("\r", "")
    assert proc.returncode == 0, text
    assert "pid1=" in text and "http.server 8080" in text.split("pid1=")[-1], text

    def terminated() -> dict | None:
        pod = json.loads(kubectl("-n", ns, "get", "pod", running_pod, "-o", "json").stdout)
        statuses = pod["status"].get("ephemeralContainerStatuses") or []
        return statuses[0] if statuses and "terminated" in statuses[0]["state"] else None

    status = wait_for(terminated, 30, "the debug container's status never said terminated")
    assert (status["name"], status["state"]["terminated"]["exitCode"]) == ("dbg", 0), status
    # it is never restarted, and may not be removed
    removed = kubectl("-n", ns, "patch", "pod", running_pod, "--subresource=ephemeralcontainers", "--type=json",
                      "-p", '[{"op": "remove", "path": "/spec/ephemeralContainers/0"}]', check=False)
    assert removed.returncode != 0 and "may not be removed" in removed.stderr, removed.stderr
