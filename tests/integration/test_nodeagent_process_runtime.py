"""The process runtime with real processes, namespaces, cgroups and a node bridge (as root).

Part 1 drives ProcessRuntime directly.  Part 2 (further down) runs the real
`kubelite-nodeagent --runtime process` against the session's etcd, NATS and
apiserver.  Every test removes what it created (processes, netns, veths, the
bridge, cgroups), also when it fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kubelite_nodeagent.runtime.base import (
    ContainerSpec,
    ContainerStartError,
    ContainerState,
    LogOptions,
    Mount,
    PodSandbox,
    PodSandboxConfig,
    Resources,
    RuntimeConfig,
)
from kubelite_nodeagent.runtime.netns import NETNS_DIR, bridge_name
from kubelite_nodeagent.runtime.process import ProcessRuntime
from kubelite_nodeagent.runtime.process_records import Started, read_struct
from tests.conftest import eventually

IS_ROOT = os.geteuid() == 0
root_only = pytest.mark.skipif(not IS_ROOT, reason="needs root (network namespaces, cgroups)")
pytestmark = [pytest.mark.root, root_only]

PY = sys.executable  # containers run on the host filesystem, so this interpreter is there


def _leftovers(node: str) -> list[str]:
    """Anything of `node` still on the machine: bridge, pod namespaces, cgroups."""
    found: list[str] = []
    bridge = bridge_name(node)
    if Path(f"/sys/class/net/{bridge}").exists():
        found.append(f"bridge {bridge}")
    if NETNS_DIR.is_dir():
        found += [f"netns {p.name}" for p in NETNS_DIR.iterdir() if p.name.startswith(bridge + "-")]
    for controller in ("memory", "cpu", "pids"):
        found += [
            f"cgroup {p}" for p in Path("/sys/fs/cgroup", controller).rglob(f"kubelite/{node}")
        ]
    return found


def _cidr() -> str:
    # a random /24 inside 10.244.0.0/16 so parallel or leftover runs do not collide
    return f"10.244.{100 + uuid.uuid4().int % 150}.0/24"


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    node = f"rt-{uuid.uuid4().hex[:8]}"
    rt = ProcessRuntime(
        RuntimeConfig(node_name=node, root_dir=str(tmp_path), pod_cidr=_cidr(), node_ip="127.0.0.1")
    )
    await rt.start()
    try:
        yield rt
    finally:
        await rt.destroy_everything()
        await rt.close()
        assert _leftovers(node) == [], f"left behind after the test: {_leftovers(node)}"


async def _sandbox(rt: ProcessRuntime, name: str = "pod") -> PodSandbox:
    uid = str(uuid.uuid4())
    return await rt.create_sandbox(
        PodSandboxConfig(pod_uid=uid, namespace="default", name=name, hostname=name)
    )


def _spec(sandbox: PodSandbox, name: str, argv: list[str], **kw: object) -> ContainerSpec:
    return ContainerSpec(
        pod_uid=sandbox.pod_uid,
        namespace="default",
        pod_name=sandbox.name,
        name=name,
        attempt=kw.pop("attempt", 0),  # type: ignore[arg-type]
        image="host",
        argv=argv,
        **kw,  # type: ignore[arg-type]
    )


async def _run(rt: ProcessRuntime, sandbox: PodSandbox, spec: ContainerSpec) -> str:
    cid = await rt.create_container(sandbox, spec)
    await rt.start_container(cid)
    return cid


async def _logs(rt: ProcessRuntime, cid: str, **options: object) -> str:
    chunks = [c async for c in rt.read_logs(cid, LogOptions(**options))]  # type: ignore[arg-type]
    return b"".join(chunks).decode()


async def _exited(rt: ProcessRuntime, cid: str, timeout: float = 15.0):  # noqa: ASYNC109
    async def done():
        info = await rt.container_status(cid)
        return info if info is not None and info.state == ContainerState.EXITED else None

    return await eventually(done, timeout=timeout, message=f"container {cid} did not exit")


async def test_container_runs_isolated_with_env_mounts_and_logs(
    runtime: ProcessRuntime, tmp_path: Path
) -> None:
    sandbox = await _sandbox(runtime, "iso")
    assert not sandbox.host_network and sandbox.ip.startswith("10.244.")
    config = tmp_path / "config"
    config.mkdir()
    (config / "greeting").write_text("hello from a configmap")
    mount_path = f"/tmp/kl-test-{uuid.uuid4().hex[:8]}/config"  # created if missing
    script = (
        f"echo pid=$$ host=$(hostname) env=$GREETING; cat {mount_path}/greeting; echo; "
        f"touch {mount_path}/x 2>/dev/null || echo read-only; "
        "echo to-stderr >&2; "
        "ip -4 -o addr show eth0 | tr -s ' ' | cut -d' ' -f4; sleep 60"
    )
    spec = _spec(
        sandbox,
        "main",
        ["sh", "-c", script],
        env={"GREETING": "hi"},
        mounts=[Mount(str(config), mount_path, read_only=True)],
    )
    cid = await _run(runtime, sandbox, spec)
    try:
        info = await runtime.container_status(cid)
        assert info is not None and info.state == ContainerState.RUNNING and info.started_at > 0

        expected = (
            f"pid=1 host=iso env=hi\nhello from a configmap\nread-only\nto-stderr\n{sandbox.ip}/"
        )

        async def logged() -> str:
            text = await _logs(runtime, cid)
            assert text.startswith(expected), text
            return text

        await eventually(logged, message="container output not in its log")
        stamped = await _logs(runtime, cid, timestamps=True, tail_lines=1)
        assert stamped.count("\n") == 1 and stamped.split(" ", 1)[0].endswith("Z"), stamped
        # the bind mount lived only in the container's mount namespace
        assert not any(Path(mount_path).iterdir()), "volume leaked to the host"  # noqa: ASYNC240
        result = await runtime.exec(cid, ["sh", "-c", "echo $GREETING; hostname"], 10)
        assert (result.exit_code, result.output) == (0, b"hi\niso\n")
    finally:
        await runtime.stop_container(cid, 0)
        shutil.rmtree(Path(mount_path).parent, ignore_errors=True)


async def test_exit_codes_start_errors_and_exit_events(runtime: ProcessRuntime) -> None:
    events: list[str] = []
    runtime.set_event_handler(events.append)
    sandbox = await _sandbox(runtime)
    cid = await _run(runtime, sandbox, _spec(sandbox, "fail", ["sh", "-c", "echo bye; exit 3"]))
    info = await _exited(runtime, cid)
    assert (info.exit_code, info.reason) == (3, "Error")
    assert info.finished_at >= info.started_at > 0
    await eventually(lambda: sandbox.pod_uid in events, message="no exit event for the pod")
    assert await _logs(runtime, cid) == "bye\n"

    bad = await runtime.create_container(sandbox, _spec(sandbox, "bad", ["/no/such/binary"]))
    with pytest.raises(ContainerStartError, match="executable file not found"):
        await runtime.start_container(bad)
    info = await _exited(runtime, bad)
    assert (info.exit_code, info.reason) == (128, "StartError")


async def test_stop_sends_sigterm_then_sigkill_after_grace(runtime: ProcessRuntime) -> None:
    sandbox = await _sandbox(runtime)
    polite = await _run(
        runtime,
        sandbox,
        _spec(sandbox, "polite", ["sh", "-c", "trap 'echo got TERM; exit 0' TERM; "
                                              "echo ready; while :; do sleep 0.1; done"]),
    )  # fmt: skip
    stubborn = await _run(
        runtime,
        sandbox,
        _spec(sandbox, "stubborn", ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"]),
    )  # fmt: skip
    for cid in (polite, stubborn):
        await eventually(lambda cid=cid: _logs(runtime, cid), message="container not ready")

    started = time.monotonic()
    await runtime.stop_container(polite, 10)
    assert time.monotonic() - started < 5, "a container that exits on SIGTERM waited for the grace"
    info = await runtime.container_status(polite)
    assert info is not None and (info.state, info.exit_code) == (ContainerState.EXITED, 0)
    assert "got TERM" in await _logs(runtime, polite)

    started = time.monotonic()
    await runtime.stop_container(stubborn, 1.5)
    elapsed = time.monotonic() - started
    assert 1.5 <= elapsed < 8, (
        f"SIGKILL should come after the 1.5 s grace, came after {elapsed:.1f}s"
    )
    info = await runtime.container_status(stubborn)
    assert info is not None and info.exit_code == 137 and info.reason == "Error"


async def test_memory_hog_is_oomkilled_and_cpu_quota_is_set(runtime: ProcessRuntime) -> None:
    sandbox = await _sandbox(runtime)
    hog = "x = []\nwhile True: x.append(bytearray(1 << 20))"
    cid = await _run(
        runtime,
        sandbox,
        _spec(sandbox, "hog", [PY, "-c", hog],
              resources=Resources(memory_bytes=48 << 20, cpu_millis=250)),
    )  # fmt: skip
    record = runtime._record(cid)
    assert record is not None
    if "cpu" in record.cgroup:
        quota = Path(record.cgroup["cpu"], "cpu.cfs_quota_us")
        assert quota.read_text().strip() == "25000"  # noqa: ASYNC240
    info = await _exited(runtime, cid, timeout=30)
    assert (info.exit_code, info.reason) == (137, "OOMKilled")


async def test_pods_bind_the_same_port_and_reach_each_other_by_ip(runtime: ProcessRuntime) -> None:
    server = [PY, "-c", (
        "import http.server, socket\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers()\n"
        "        self.wfile.write(socket.gethostname().encode())\n"
        "http.server.HTTPServer(('0.0.0.0', 8080), H).serve_forever()\n"
    )]  # fmt: skip
    fetch = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())"
    a, b = await _sandbox(runtime, "pod-a"), await _sandbox(runtime, "pod-b")
    assert a.ip != b.ip
    web_a = await _run(runtime, a, _spec(a, "web", server))
    web_b = await _run(runtime, b, _spec(b, "web", server))
    side_a = await _run(runtime, a, _spec(a, "side", ["sleep", "60"]))

    async def answers(cid: str, url: str, expected: str) -> bool:
        result = await runtime.exec(cid, [PY, "-c", fetch, url], 10)
        assert result.exit_code == 0 and result.output.decode().strip() == expected, result
        return True

    await eventually(lambda: answers(web_a, f"http://{b.ip}:8080/", "pod-b"), timeout=20,
                     message="pod-a cannot reach pod-b by its IP")  # fmt: skip
    await answers(web_b, f"http://{a.ip}:8080/", "pod-a")
    await answers(side_a, "http://127.0.0.1:8080/", "pod-a")  # containers of a pod share localhost
    for cid in (web_a, web_b):
        info = await runtime.container_status(cid)
        assert info is not None and info.state == ContainerState.RUNNING, "port conflict?"


async def test_new_runtime_instance_adopts_running_and_exited_containers(
    runtime: ProcessRuntime,
) -> None:
    sandbox = await _sandbox(runtime)
    long = await _run(runtime, sandbox, _spec(sandbox, "long", ["sleep", "120"]))
    short = await _run(runtime, sandbox, _spec(sandbox, "short", ["sh", "-c", "sleep 1; exit 4"]))
    doomed = await _run(runtime, sandbox, _spec(sandbox, "doomed", ["sleep", "120"]))
    await runtime.close()  # "the agent goes away"; the containers keep running

    # while it is away: one exits by itself, one loses its supervisor and init (machine chaos)
    record = runtime._record(doomed)
    started = read_struct(runtime.layout.container_dir(doomed) / "started.json", Started)
    assert record is not None and started is not None
    os.kill(record.supervisor_pid, signal.SIGKILL)
    os.kill(started.pid, signal.SIGKILL)
    await asyncio.sleep(1.5)

    again = ProcessRuntime(runtime.config)
    events: list[str] = []
    again.set_event_handler(events.append)
    await again.start()
    try:
        states = {i.id: i for i in await again.list_containers()}
        assert set(states) == {long, short, doomed}
        short_info = await _exited(again, short)  # exited while "down": code from exit.json
        assert short_info.exit_code == 4
        assert states[long].state == ContainerState.RUNNING
        doomed_info = await _exited(again, doomed)
        assert doomed_info.reason == "ContainerStatusUnknown"
        sandboxes = await again.list_sandboxes()
        assert [s.ip for s in sandboxes] == [sandbox.ip]
        # the adopted container is still controllable, and its exit is reported
        await again.stop_container(long, 0)
        info = await again.container_status(long)
        assert info is not None and info.state == ContainerState.EXITED
        await eventually(lambda: sandbox.pod_uid in events, message="no exit event after adoption")
        # the address stays taken across instances: a new pod gets another one
        other = await _sandbox(again)
        assert other.ip != sandbox.ip
    finally:
        await again.close()


NON_ROOT_SCRIPT = """
import asyncio, json, sys, time
from kubelite_nodeagent.runtime.base import *
from kubelite_nodeagent.runtime.process import ProcessRuntime

async def main(root):
    rt = ProcessRuntime(RuntimeConfig(node_name="nonroot", root_dir=root,
                                      pod_cidr="10.244.250.0/24", node_ip="127.0.0.1"))
    await rt.start()
    sb = await rt.create_sandbox(PodSandboxConfig(pod_uid="u1", namespace="d", name="p", hostname="p"))
    spec = ContainerSpec(pod_uid="u1", namespace="d", pod_name="p", name="c", attempt=0, image="host",
                         argv=["sh", "-c", "trap 'exit 0' TERM; echo $FOO pid=$$; while :; do sleep 0.1; done"],
                         env={"FOO": "bar"}, resources=Resources(memory_bytes=1 << 30))
    cid = await rt.create_container(sb, spec)
    await rt.start_container(cid)
    deadline = time.monotonic() + 10
    text = ""
    while "pid=" not in text and time.monotonic() < deadline:
        text = b"".join([c async for c in rt.read_logs(cid, LogOptions())]).decode()
        await asyncio.sleep(0.05)
    running = (await rt.container_status(cid)).state
    await rt.stop_container(cid, 5)
    info = await rt.container_status(cid)
    await rt.remove_container(cid)
    await rt.remove_sandbox("u1")
    await rt.close()
    print(json.dumps({"sandbox": msgspec.to_builtins(sb), "log": text, "running": running,
                      "exit": [info.state, info.exit_code]}))

import msgspec
asyncio.run(main(sys.argv[1]))
"""


@pytest.fixture
def nobody_dir() -> Iterator[Path]:
    """A state dir the unprivileged user can write (pytest's tmp dirs are root-only)."""
    root = Path(tempfile.mkdtemp(prefix="kl-nonroot-"))
    os.chown(root, 65534, 65534)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def test_without_root_pods_run_on_the_host_network_and_say_so(nobody_dir: Path) -> None:
    """The fallback: no namespaces or cgroups, host network, a message saying so."""
    root = nobody_dir
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    # The venv's interpreter lives under /root here, which the unprivileged user cannot
    # exec from a child; the system interpreter with the venv's packages can.
    system_python = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    if not os.access(system_python, os.X_OK):
        system_python = PY
    site_dir = sysconfig.get_paths()["purelib"]
    prelude = f"import site; site.addsitedir({site_dir!r})\n"
    proc = await asyncio.create_subprocess_exec(
        *drop, system_python, "-c", prelude + NON_ROOT_SCRIPT, str(root),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd="/tmp",
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    result = json.loads(out.decode().splitlines()[-1])
    sandbox = result["sandbox"]
    assert sandbox["host_network"] is True and sandbox["ip"] == "127.0.0.1"
    assert "not running as root" in sandbox["message"], sandbox
    assert "limits not enforced" in sandbox["message"], sandbox
    assert result["log"].startswith("bar pid=") and "pid=1\n" not in result["log"]
    assert result["running"] == "running"
    assert result["exit"] == ["exited", 0]  # the trap ran: SIGTERM reached the process group
