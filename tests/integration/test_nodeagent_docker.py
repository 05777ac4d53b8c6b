"""The docker runtime against a real Docker daemon, with the local `kubelite/busybox:latest` image.

Part 1 drives DockerRuntime directly.  Part 2 (further down) runs the real
`kubelite-nodeagent --runtime docker` against the session's etcd, NATS and
apiserver.  Everything skips with a reason when no daemon answers or the image
is missing (scripts/install-docker.sh and scripts/build-busybox-image.sh make
both).  Every test removes the containers and networks it created (all carry
its node's label), also when it fails.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import signal
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiodocker
import httpx
import nats.aio.client
import pytest

from kubelite.client.logs import LogRequest, stream_logs
from kubelite_nodeagent.runtime.base import (
    ERR_IMAGE_NEVER_PULL,
    ERR_IMAGE_PULL,
    INVALID_IMAGE_NAME,
    LABEL_CONTAINER_NAME,
    LABEL_POD_UID,
    LABEL_RESTART_ATTEMPT,
    ContainerSpec,
    ContainerStartError,
    ContainerState,
    ImageError,
    ImageInfo,
    LogOptions,
    Mount,
    PodSandbox,
    PodSandboxConfig,
    Resources,
    RuntimeConfig,
)
from kubelite_nodeagent.runtime.docker import DockerRuntime
from kubelite_nodeagent.runtime.docker_iptables import rule_comment
from kubelite_nodeagent.runtime.docker_model import (
    LABEL_NODE,
    LogDemuxer,
    container_info,
    network_name,
    parse_time,
    valid_image_reference,
)
from tests.conftest import eventually
from tests.docker_support import IMAGE, needs_docker
from tests.docker_support import remove_node_objects as _remove_node_objects
from tests.integration.conftest import APIServerProcess


def _cidr(*, unlike: str = "") -> str:
    # a random /24 in 10.251.0.0/16 so parallel or leftover runs do not collide (and not `unlike`)
    while (cidr := f"10.251.{uuid.uuid4().int % 250}.0/24") == unlike:
        pass
    return cidr


def _iptables_rules_of(node: str) -> list[str]:
    out = subprocess.run(
        ["iptables", "-w", "5", "-S", "DOCKER-USER"], capture_output=True, text=True
    )
    return [line for line in out.stdout.splitlines() if rule_comment(network_name(node)) in line]


async def _count_containers(node: str, *labels: str) -> int:
    async with aiodocker.Docker() as docker:
        filters = json.dumps({"label": [f"{LABEL_NODE}={node}", *labels]})
        return len(await docker.containers.list(all=True, filters=filters))


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[DockerRuntime]:
    node = f"dk-{uuid.uuid4().hex[:8]}"
    rt = DockerRuntime(
        RuntimeConfig(node_name=node, root_dir=str(tmp_path), pod_cidr=_cidr(), node_ip="127.0.0.1")
    )
    try:
        await rt.start()
        yield rt
    finally:
        await rt.close()
        await _remove_node_objects(node)
        assert _iptables_rules_of(node) == [], "iptables rules left behind"


@pytest.fixture
async def busybox(runtime: DockerRuntime) -> ImageInfo:
    return await runtime.ensure_image(IMAGE, "Never")


async def _sandbox(rt: DockerRuntime, name: str = "pod") -> PodSandbox:
    return await rt.create_sandbox(
        PodSandboxConfig(pod_uid=str(uuid.uuid4()), namespace="default", name=name, hostname=name)
    )


def _spec(sandbox: PodSandbox, name: str, argv: list[str], **kw: object) -> ContainerSpec:
    attempt = kw.pop("attempt", 0)
    return ContainerSpec(
        pod_uid=sandbox.pod_uid, namespace="default", pod_name=sandbox.name, name=name,
        attempt=attempt, image=IMAGE, argv=argv, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


async def _run(rt: DockerRuntime, sandbox: PodSandbox, spec: ContainerSpec) -> str:
    cid = await rt.create_container(sandbox, spec)
    await rt.start_container(cid)
    return cid


async def _logs(rt: DockerRuntime, cid: str, **options: object) -> str:
    chunks = [c async for c in rt.read_logs(cid, LogOptions(**options))]  # type: ignore[arg-type]
    return b"".join(chunks).decode()


async def _exited(rt: DockerRuntime, cid: str, timeout: float = 15.0):  # noqa: ASYNC109
    async def done():
        info = await rt.container_status(cid)
        return info if info is not None and info.state == ContainerState.EXITED else None

    return await eventually(done, timeout=timeout, message=f"container {cid[:12]} did not exit")


# Part 0: the pure translations (no daemon needed) ----------------------------------------


@pytest.mark.parametrize(
    ("image", "valid"),
    [
        ("busybox", True),
        ("kubelite/busybox:latest", True),
        ("registry.local:5000/team/app:v1.2-rc_3", True),
        ("nginx@sha256:" + "a" * 64, True),
        ("Busybox", False),
        ("busy box", False),
        ("busybox:", False),
        ("", False),
        (" busybox", False),
    ],
)
def test_image_references(image: str, valid: bool) -> None:
    assert valid_image_reference(image) is valid


def test_docker_times_and_states_translate() -> None:
    assert parse_time("0001-01-01T00:00:00Z") == 0.0
    assert parse_time("2024-05-01T10:00:00.123456789Z") == pytest.approx(1714557600.123456789)
    assert parse_time("2024-05-01T12:00:00+02:00") == 1714557600.0
    labels = {LABEL_POD_UID: "u1", LABEL_CONTAINER_NAME: "main", LABEL_RESTART_ATTEMPT: "3"}
    oom = container_info({
        "Id": "c1", "Created": "2024-05-01T10:00:00Z", "Image": "sha256:abc",
        "Config": {"Labels": labels, "Image": IMAGE},
        "State": {"Status": "exited", "ExitCode": 137, "OOMKilled": True,
                  "StartedAt": "2024-05-01T10:00:01Z", "FinishedAt": "2024-05-01T10:00:02Z"},
    })  # fmt: skip
    assert (oom.state, oom.exit_code, oom.reason, oom.attempt, oom.name) == (
        ContainerState.EXITED, 137, "OOMKilled", 3, "main",
    )  # fmt: skip
    assert oom.finished_at - oom.started_at == 1.0 and oom.image_id == "docker://sha256:abc"
    failed = container_info({"Id": "c2", "Config": {"Labels": labels}, "Created": "2024-05-01T10:00:00Z",
                             "State": {"Status": "created", "Error": "exec: no such file"}})  # fmt: skip
    assert (failed.state, failed.exit_code, failed.reason) == (
        ContainerState.EXITED,
        128,
        "StartError",
    )


def test_log_demuxer_reassembles_frames_split_anywhere() -> None:
    frames = b"".join(
        struct.pack(">BxxxL", stream, len(payload)) + payload
        for stream, payload in [(1, b"out line\n"), (2, b"err\n"), (1, b""), (1, b"x" * 70000)]
    )
    demux = LogDemuxer()
    out: list[bytes] = []
    for i in range(0, len(frames), 7):  # chunks that cut headers and payloads
        out += demux.feed(frames[i : i + 7])
    assert out == [b"out line\n", b"err\n", b"x" * 70000]


# Part 1: DockerRuntime ----------------------------------------------------------------------


@needs_docker
async def test_image_pull_policies(runtime: DockerRuntime) -> None:
    info = await runtime.ensure_image(IMAGE, "Never")
    assert info.id.startswith("docker://sha256:") and info.cmd == ["/bin/sh"]
    assert (await runtime.ensure_image(IMAGE, "IfNotPresent")).id == info.id

    missing = f"kubelite/no-such-image-{uuid.uuid4().hex[:8]}:1"
    with pytest.raises(ImageError) as never:
        await runtime.ensure_image(missing, "Never")
    assert never.value.reason == ERR_IMAGE_NEVER_PULL
    assert (
        never.value.message
        == f'Container image "{missing}" is not present with pull policy of Never'
    )

    # no registry is reachable here (or the image does not exist there): the pull fails, quickly
    for policy in ("IfNotPresent", "Always"):
        started = time.monotonic()
        with pytest.raises(ImageError) as pull:
            await runtime.ensure_image(missing, policy)
        assert pull.value.reason == ERR_IMAGE_PULL, pull.value
        assert pull.value.message.startswith(f'Failed to pull image "{missing}": '), (
            pull.value.message
        )
        assert time.monotonic() - started < 30, "a failed pull should not hang"

    with pytest.raises(ImageError) as bad:
        await runtime.ensure_image("Not A/Valid Image", "IfNotPresent")
    assert bad.value.reason == INVALID_IMAGE_NAME


@needs_docker
async def test_pod_containers_share_localhost_with_env_mounts_limits_and_logs(
    runtime: DockerRuntime, busybox: ImageInfo, tmp_path: Path
) -> None:
    sandbox = await _sandbox(runtime, "web")
    network = await runtime.docker.networks.get(runtime.network)
    assert sandbox.ip and not sandbox.host_network
    assert ipaddress.ip_address(sandbox.ip) in ipaddress.ip_network(runtime.config.pod_cidr)
    assert (await network.show())["IPAM"]["Config"][0]["Subnet"] == runtime.config.pod_cidr
    # idempotent by pod uid: no second sandbox
    again = await runtime.create_sandbox(
        PodSandboxConfig(pod_uid=sandbox.pod_uid, namespace="default", name="web", hostname="web")
    )
    assert again.id == sandbox.id
    assert await _count_containers(runtime.config.node_name) == 1

    config = tmp_path / "config"
    config.mkdir()
    (config / "greeting").write_text("hello from a configmap")
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("served by the web container")
    script = (
        "echo host=$(hostname) env=$GREETING; cat /etc/config/greeting; echo; "
        "touch /etc/config/x 2>/dev/null || echo read-only; echo to-stderr >&2; "
        "exec httpd -f -p 8080 -h /www"
    )
    web = await _run(runtime, sandbox, _spec(
        sandbox, "web", ["sh", "-c", script], env={"GREETING": "hi"},
        mounts=[Mount(str(config), "/etc/config", read_only=True), Mount(str(tmp_path / "www"), "/www")],
        resources=Resources(memory_bytes=64 << 20, cpu_millis=250),
    ))  # fmt: skip
    side = await _run(runtime, sandbox, _spec(sandbox, "side", ["sleep", "60"], attempt=2))

    expected = "host=web env=hi\nhello from a configmap\nread-only\nto-stderr\n"

    async def logged() -> bool:
        text = await _logs(runtime, web)
        # stdout and stderr are copied by separate goroutines: only each stream's order is kept
        assert sorted(text.splitlines()) == sorted(expected.splitlines()), text
        return True

    await eventually(logged, message="container output not in its logs")
    stamped = await _logs(runtime, web, timestamps=True, tail_lines=1)
    assert stamped.count("\n") == 1 and stamped.split(" ", 1)[0].endswith("Z"), stamped
    full = await _logs(runtime, web)  # the json log file's order, stable from now on
    assert await _logs(runtime, web, limit_bytes=4) == full[:4]

    async def fetched() -> bool:
        result = await runtime.exec(side, ["wget", "-qO-", "http://127.0.0.1:8080/index.html"], 10)
        assert (result.exit_code, result.output) == (0, b"served by the web container"), result
        return True

    await eventually(
        fetched, message="the side container cannot reach the web container on localhost"
    )
    result = await runtime.exec(web, ["sh", "-c", "echo $GREETING; exit 3"], 10)
    assert (result.exit_code, result.output, result.timed_out) == (3, b"hi\n", False)
    slow = await runtime.exec(web, ["sleep", "10"], 0.5)
    assert slow.timed_out

    info = await runtime.container_status(side)
    assert info is not None and info.state == ContainerState.RUNNING and info.started_at > 0
    assert (info.pod_uid, info.name, info.attempt) == (sandbox.pod_uid, "side", 2)
    assert info.labels[LABEL_NODE] == runtime.config.node_name
    inspect = await runtime.docker.containers.container(web).show()
    assert inspect["HostConfig"]["Memory"] == 64 << 20
    assert inspect["HostConfig"]["NanoCpus"] == 250_000_000
    assert inspect["HostConfig"]["NetworkMode"] == f"container:{sandbox.id}"
    for cid in (web, side):
        await runtime.stop_container(cid, 0)


@needs_docker
async def test_pods_of_two_nodes_reach_each_other_by_ip(
    runtime: DockerRuntime, busybox: ImageInfo, tmp_path: Path
) -> None:
    other = DockerRuntime(
        RuntimeConfig(node_name=f"dk-{uuid.uuid4().hex[:8]}", root_dir=str(tmp_path),
                      pod_cidr=_cidr(unlike=runtime.config.pod_cidr), node_ip="127.0.0.1")
    )  # fmt: skip
    await other.start()
    try:
        assert _iptables_rules_of(other.config.node_name), "no DOCKER-USER accept rules"
        a, b = await _sandbox(runtime, "pod-a"), await _sandbox(other, "pod-b")
        await _run(runtime, a, _spec(a, "web", ["httpd", "-f", "-p", "8080", "-h", "/etc"]))
        client = await _run(other, b, _spec(b, "client", ["sleep", "60"]))

        async def reached() -> bool:
            result = await other.exec(client, ["wget", "-qO-", f"http://{a.ip}:8080/hostname"], 10)
            assert (result.exit_code, result.output) == (0, b"pod-a\n"), result
            return True

        await eventually(
            reached, timeout=15, message="a pod of another node's network is unreachable"
        )
    finally:
        await other.close()
        await _remove_node_objects(other.config.node_name)
        assert _iptables_rules_of(other.config.node_name) == []


@needs_docker
async def test_exit_codes_start_errors_oom_and_exit_events(
    runtime: DockerRuntime, busybox: ImageInfo
) -> None:
    events: list[str] = []
    runtime.set_event_handler(events.append)
    sandbox = await _sandbox(runtime)
    cid = await _run(runtime, sandbox, _spec(sandbox, "fail", ["sh", "-c", "echo bye; exit 3"]))
    info = await _exited(runtime, cid)
    assert (info.exit_code, info.reason) == (3, "Error")
    assert info.finished_at >= info.started_at > 0
    await eventually(lambda: sandbox.pod_uid in events, message="no die event for the pod")
    assert await _logs(runtime, cid) == "bye\n"
    ok = await _run(runtime, sandbox, _spec(sandbox, "ok", ["true"]))
    assert ((await _exited(runtime, ok)).exit_code, (await _exited(runtime, ok)).reason) == (
        0,
        "Completed",
    )

    bad = await runtime.create_container(sandbox, _spec(sandbox, "bad", ["/no/such/binary"]))
    with pytest.raises(ContainerStartError) as start:
        await runtime.start_container(bad)
    assert start.value.reason == "StartError" and "/no/such/binary" in start.value.message
    info = await _exited(runtime, bad)
    assert (info.exit_code, info.reason) == (128, "StartError")

    hog = await _run(runtime, sandbox, _spec(
        sandbox, "hog", ["sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived"],
        resources=Resources(memory_bytes=16 << 20),
    ))  # fmt: skip
    info = await _exited(runtime, hog, timeout=30)
    assert (info.exit_code, info.reason) == (137, "OOMKilled")


@needs_docker
async def test_follow_streams_logs_until_the_container_exits(
    runtime: DockerRuntime, busybox: ImageInfo
) -> None:
    sandbox = await _sandbox(runtime)
    script = "echo first; sleep 1.5; echo second; sleep 0.5"
    cid = await _run(runtime, sandbox, _spec(sandbox, "ticker", ["sh", "-c", script]))
    seen: list[tuple[float, bytes]] = []
    started = time.monotonic()
    async with asyncio.timeout(20):
        async for chunk in runtime.read_logs(cid, LogOptions(follow=True)):
            seen.append((time.monotonic() - started, chunk))
    assert b"".join(c for _, c in seen) == b"first\nsecond\n"
    assert seen[0][0] < 1.2, f"the first line came only after {seen[0][0]:.1f}s: not streamed"
    info = await runtime.container_status(cid)
    assert info is not None and info.state == ContainerState.EXITED, "follow ended before the exit"


@needs_docker
async def test_stop_sends_sigterm_then_sigkill_after_grace(
    runtime: DockerRuntime, busybox: ImageInfo
) -> None:
    sandbox = await _sandbox(runtime)
    polite = await _run(runtime, sandbox, _spec(
        sandbox, "polite", ["sh", "-c", "trap 'echo got TERM; exit 0' TERM; echo ready; while :; do sleep 0.1; done"]
    ))  # fmt: skip
    stubborn = await _run(runtime, sandbox, _spec(
        sandbox, "stubborn", ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"]
    ))  # fmt: skip
    for cid in (polite, stubborn):
        await eventually(lambda cid=cid: _logs(runtime, cid), message="container not ready")

    started = time.monotonic()
    await runtime.stop_container(polite, 10)
    assert time.monotonic() - started < 5, "a container that exits on SIGTERM waited for the grace"
    info = await runtime.container_status(polite)
    assert info is not None and (info.state, info.exit_code) == (ContainerState.EXITED, 0)
    assert "got TERM" in await _logs(runtime, polite)

    started = time.monotonic()
    await runtime.stop_container(stubborn, 2)
    elapsed = time.monotonic() - started
    assert 1.5 <= elapsed < 8, f"SIGKILL should come after the 2 s grace, came after {elapsed:.1f}s"
    info = await runtime.container_status(stubborn)
    assert info is not None and (info.exit_code, info.reason) == (137, "Error")

    await runtime.remove_container(stubborn)
    await runtime.remove_container(stubborn)  # absent: no-op
    assert await runtime.container_status(stubborn) is None
    await runtime.remove_sandbox(sandbox.pod_uid)
    assert await runtime.list_sandboxes() == []


@needs_docker
async def test_new_runtime_instance_adopts_containers_without_twins(
    runtime: DockerRuntime, busybox: ImageInfo
) -> None:
    sandbox = await _sandbox(runtime)
    long = await _run(runtime, sandbox, _spec(sandbox, "long", ["sleep", "120"]))
    short = await _run(runtime, sandbox, _spec(sandbox, "short", ["sh", "-c", "sleep 1; exit 4"]))
    await runtime.close()  # "the agent goes away"; the containers keep running
    await asyncio.sleep(1.5)

    again = DockerRuntime(runtime.config)
    await again.start()  # the node's network exists already: reused, not an error
    try:
        states = {i.id: i for i in await again.list_containers()}
        assert set(states) == {long, short}
        assert states[long].state == ContainerState.RUNNING
        assert (await _exited(again, short)).exit_code == 4
        assert {(s.id, s.ip) for s in await again.list_sandboxes()} == {(sandbox.id, sandbox.ip)}
        same = await again.create_sandbox(
            PodSandboxConfig(
                pod_uid=sandbox.pod_uid, namespace="default", name=sandbox.name, hostname="pod"
            )
        )
        assert same.id == sandbox.id
        # creating an attempt that already exists unstarted (agent died between create and start)
        pending = await again.create_container(sandbox, _spec(sandbox, "pending", ["true"]))
        assert await again.create_container(sandbox, _spec(sandbox, "pending", ["true"])) == pending
        node = runtime.config.node_name
        assert (
            await _count_containers(node, f"{LABEL_POD_UID}={sandbox.pod_uid}") == 4
        )  # sandbox + 3
        assert (
            await _count_containers(
                node, f"{LABEL_CONTAINER_NAME}=long", f"{LABEL_RESTART_ATTEMPT}=0"
            )
            == 1
        )
        await again.stop_container(long, 0)
        assert (await _exited(again, long)).exit_code == 137
    finally:
        await again.close()


# Part 2: the node agent with --runtime docker ----------------------------------------------


def _agent_problem() -> str | None:
    exe = Path(sys.executable).with_name("kubelite-nodeagent")
    try:
        out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"kubelite-nodeagent not runnable: {exc}"
    if out.returncode != 0 or "--runtime" not in out.stdout:
        return (
            f"kubelite-nodeagent does not run pods yet: {(out.stdout + out.stderr).strip()[:200]}"
        )
    return None


class Agent:
    """A `kubelite-nodeagent --runtime docker` subprocess for one node."""

    def __init__(self, nats_url: str, node: str, root_dir: Path, pod_cidr: str, pki_dir: str) -> None:
        self.nats_url, self.node, self.root_dir, self.pod_cidr = nats_url, node, root_dir, pod_cidr
        self.pki_dir = pki_dir
        self.log_path = root_dir.parent / f"{node}-agent.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = Path(sys.executable).with_name("kubelite-nodeagent")
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                [str(exe), "--nats", self.nats_url, "--pki-dir", self.pki_dir, "--node-name", self.node,
                 "--runtime", "docker",
                 "--root-dir", str(self.root_dir), "--pod-cidr", self.pod_cidr,
                 "--restart-backoff-base", "1", "--restart-backoff-max", "4",
                 "--resync-period", "5s", "--log-level", "debug"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def log_tail(self) -> str:
        try:
            return "".join(self.log_path.read_text().splitlines(keepends=True)[-40:])
        except OSError:
            return ""


@pytest.fixture(scope="module")
def agent_problem() -> str | None:
    return _agent_problem()


@pytest.fixture
async def agent(
    agent_problem: str | None, apiserver: APIServerProcess, nats_url: str, tmp_path: Path, register_nodes: Any
) -> AsyncIterator[Agent]:
    if agent_problem is not None:
        pytest.skip(agent_problem)
    node = f"dka-{uuid.uuid4().hex[:8]}"
    running = Agent(nats_url, node, tmp_path / "root", _cidr(), register_nodes(node))
    running.start()
    try:
        async with httpx.AsyncClient(base_url=apiserver.url, timeout=20, verify=apiserver.tls) as client:

            async def registered() -> bool:
                assert running.popen is not None and running.popen.poll() is None, (
                    running.log_tail()
                )
                return (await client.get(f"/api/v1/nodes/{node}")).status_code == 200

            await eventually(registered, timeout=30, message=f"node {node} did not register")
        yield running
    except BaseException:
        print(f"--- agent log tail ---\n{running.log_tail()}")
        raise
    finally:
        running.stop()
        await _remove_node_objects(node)
        async with httpx.AsyncClient(base_url=apiserver.url, timeout=20, verify=apiserver.tls) as client:
            await client.delete(f"/api/v1/nodes/{node}")


def _pod(name: str, node: str, containers: list[dict], **spec: object) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 5, "containers": containers, **spec},
    }  # fmt: skip


def _container(name: str, script: str, **extra: object) -> dict:
    return {
        "name": name,
        "image": IMAGE,
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", script],
        **extra,
    }


async def _create(api: httpx.AsyncClient, namespace: str, body: dict) -> dict:
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def _get(api: httpx.AsyncClient, namespace: str, name: str) -> dict | None:
    r = await api.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return r.json()


async def _status_of(api: httpx.AsyncClient, namespace: str, name: str, container: str) -> dict:
    pod = await _get(api, namespace, name)
    assert pod is not None, f"pod {name} is gone"
    for s in pod.get("status", {}).get("containerStatuses") or []:
        if s["name"] == container:
            return s
    return {}


async def _running_pod(
    api: httpx.AsyncClient, namespace: str, name: str, within: float = 30
) -> dict:
    async def running() -> dict | None:
        pod = await _get(api, namespace, name)
        assert pod is not None
        status = pod.get("status", {})
        return pod if status.get("phase") == "Running" and status.get("podIP") else None

    return await eventually(running, timeout=within, message=f"pod {name} not Running with an IP")


async def _pod_logs(
    nc: nats.aio.client.Client, node: str, namespace: str, pod: str, **options: object
) -> str:
    request = LogRequest(namespace=namespace, pod=pod, **options)  # type: ignore[arg-type]
    return b"".join([c async for c in stream_logs(nc, node, request)]).decode()


@needs_docker
async def test_agent_runs_a_pod_with_env_configmap_and_logs(
    agent: Agent, api: httpx.AsyncClient, namespace: str, nats_client: nats.aio.client.Client
) -> None:
    r = await api.post(
        f"/api/v1/namespaces/{namespace}/configmaps",
        json={"metadata": {"name": "settings"}, "data": {"greeting": "hello from a configmap"}},
    )
    assert r.status_code == 201, r.text
    script = (
        "echo env=$GREETING pod=$POD_NAME; cat /etc/settings/greeting; echo; "
        "wget -qO- http://127.0.0.1:8080/ >/dev/null 2>&1; exec sleep 300"
    )
    await _create(api, namespace, _pod("web", agent.node, [
        _container("main", script, env=[
            {"name": "GREETING", "value": "hi"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ], volumeMounts=[{"name": "settings", "mountPath": "/etc/settings"}]),
        _container("side", "echo side up; exec sleep 300"),
    ], volumes=[{"name": "settings", "configMap": {"name": "settings"}}]))  # fmt: skip
    pod = await _running_pod(api, namespace, "web")
    assert ipaddress.ip_address(pod["status"]["podIP"]) in ipaddress.ip_network(agent.pod_cidr)
    for s in pod["status"]["containerStatuses"]:
        assert s["containerID"].startswith("docker://") and "running" in s["state"], s

    async def logged() -> str:
        text = await _pod_logs(nats_client, agent.node, namespace, "web", container="main")
        assert text == "env=hi pod=web\nhello from a configmap\n", text
        return text

    await eventually(logged, timeout=15, message="the pod's logs do not show its env and configmap")
    assert (
        await _pod_logs(nats_client, agent.node, namespace, "web", container="side") == "side up\n"
    )
    uid = pod["metadata"]["uid"]
    assert await _count_containers(agent.node, f"{LABEL_POD_UID}={uid}") == 3  # sandbox + 2


@needs_docker
async def test_agent_backs_off_a_crashing_container_and_reports_never_pull(
    agent: Agent, api: httpx.AsyncClient, namespace: str, nats_client: nats.aio.client.Client
) -> None:
    await _create(
        api, namespace, _pod("crash", agent.node, [_container("main", "echo crashing; exit 2")])
    )
    missing = f"kubelite/no-such-image-{uuid.uuid4().hex[:8]}:1"
    await _create(api, namespace, _pod("missing", agent.node, [
        {"name": "main", "image": missing, "imagePullPolicy": "Never"},
    ]))  # fmt: skip

    async def backing_off() -> dict:
        s = await _status_of(api, namespace, "crash", "main")
        assert s.get("restartCount", 0) >= 2, s
        return s

    status = await eventually(
        backing_off, timeout=40, message="restartCount of a crashing container did not grow"
    )
    assert status["lastState"]["terminated"]["exitCode"] == 2, status

    async def crash_loop() -> bool:
        s = await _status_of(api, namespace, "crash", "main")
        assert (s.get("state") or {}).get("waiting", {}).get("reason") == "CrashLoopBackOff", s
        return True

    await eventually(crash_loop, timeout=20, message="no CrashLoopBackOff between restarts")
    previous = await _pod_logs(nats_client, agent.node, namespace, "crash", previous=True)
    assert previous == "crashing\n", previous

    async def never_pull() -> dict:
        s = await _status_of(api, namespace, "missing", "main")
        waiting = (s.get("state") or {}).get("waiting") or {}
        assert waiting.get("reason") == ERR_IMAGE_NEVER_PULL, s
        return waiting

    waiting = await eventually(never_pull, timeout=20, message="a missing image with policy Never")
    assert (
        waiting["message"]
        == f'Container image "{missing}" is not present with pull policy of Never'
    )


@needs_docker
async def test_agent_stops_containers_within_the_grace_period_on_delete(
    agent: Agent, api: httpx.AsyncClient, namespace: str
) -> None:
    await _create(api, namespace, _pod("doomed", agent.node, [
        _container("polite", "trap 'exit 0' TERM; while :; do sleep 0.2; done"),
        _container("stubborn", "trap '' TERM; while :; do sleep 0.2; done"),
    ], terminationGracePeriodSeconds=3))  # fmt: skip
    pod = await _running_pod(api, namespace, "doomed")
    uid = pod["metadata"]["uid"]
    started = time.monotonic()
    r = await api.delete(f"/api/v1/namespaces/{namespace}/pods/doomed")
    assert r.status_code == 200, r.text

    async def gone() -> bool:
        return await _get(api, namespace, "doomed") is None

    await eventually(gone, timeout=20, message="the deleted pod was not confirmed gone")
    elapsed = time.monotonic() - started
    # the stubborn container gets SIGKILL after the 3 s grace, not later
    assert elapsed < 3 + 8, f"deletion took {elapsed:.1f}s with a 3 s grace period"
    assert elapsed >= 2.5, f"the grace period was not honoured: pod gone after {elapsed:.1f}s"

    async def removed() -> bool:
        left = await _count_containers(agent.node, f"{LABEL_POD_UID}={uid}")
        assert left == 0, f"{left} containers of the deleted pod left"
        return True

    await eventually(removed, timeout=10, message="containers of the deleted pod are left")


@needs_docker
async def test_agent_killed_and_restarted_adopts_its_containers(
    agent: Agent, api: httpx.AsyncClient, namespace: str
) -> None:
    await _create(
        api, namespace, _pod("steady", agent.node, [_container("main", "exec sleep 300")])
    )
    pod = await _running_pod(api, namespace, "steady")
    uid = pod["metadata"]["uid"]
    before = await _status_of(api, namespace, "steady", "main")
    assert await _count_containers(agent.node, f"{LABEL_POD_UID}={uid}") == 2

    agent.kill()
    agent.start()

    # a pod created after the restart runs: the new agent is up and has synced its pods
    await _create(api, namespace, _pod("later", agent.node, [_container("main", "exec sleep 300")]))
    await _running_pod(api, namespace, "later")
    # twins would appear at the first sync or a resync (every 5 s): watch through one
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        assert agent.popen is not None and agent.popen.poll() is None, agent.log_tail()
        assert await _count_containers(agent.node, f"{LABEL_POD_UID}={uid}") == 2, "twin containers"
        await asyncio.sleep(0.5)
    after = await _status_of(api, namespace, "steady", "main")
    assert after["containerID"] == before["containerID"] and after.get("restartCount", 0) == 0, (
        after
    )
    assert "running" in after["state"], after
