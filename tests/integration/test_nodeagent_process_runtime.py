"""The process runtime with real processes, namespaces, cgroups and a node bridge (as root).

Part 1 drives ProcessRuntime directly.  Part 2 (further down) runs the real
`kubelite-nodeagent --runtime process` against the session's etcd, NATS and
apiserver.  Every test removes what it created (processes, netns, veths, the
bridge, cgroups), also when it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubelite.client.logs import LogRequest, stream_logs
from kubelite_nodeagent import emptydir
from kubelite_nodeagent.runtime import statedir
from kubelite_nodeagent.runtime.base import (
    ContainerSpec,
    ContainerStartError,
    ContainerState,
    ImageError,
    LogOptions,
    Mount,
    PodSandbox,
    PodSandboxConfig,
    Resources,
    RuntimeConfig,
)
from kubelite_nodeagent.runtime.netns import (
    NETNS_DIR,
    NetworkError,
    bridge_mac,
    bridge_name,
    gateway_ip,
    overlapping,
)
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
    """A random /24 of 10.244.0.0/16 that no interface here uses (the runtime refuses overlaps)."""
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
    in_use = [(parts[1], parts[3]) for parts in map(str.split, out.splitlines()) if len(parts) > 3]
    while True:
        cidr = f"10.244.{100 + uuid.uuid4().int % 150}.0/24"
        if not overlapping(cidr, in_use, own_dev=""):
            return cidr


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

        expected = ["pid=1 host=iso env=hi", "hello from a configmap", "read-only"]

        async def logged() -> str:
            # stdout and stderr are two pipes: the stderr line may land before or after the next
            # stdout line (the log keeps each stream's order, not the order across streams)
            text = await _logs(runtime, cid)
            lines = text.splitlines()
            assert lines[:3] == expected and len(lines) >= 5, text
            assert lines[3] == "to-stderr" or lines[4] == "to-stderr", text
            assert f"{sandbox.ip}/" in "\n".join(lines[3:5]), text
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


async def test_follow_streams_until_exit_and_limits_apply(
    runtime: ProcessRuntime, tmp_path: Path
) -> None:
    sandbox = await _sandbox(runtime)
    go = tmp_path / "go"  # the container prints its second line once the test saw the first
    script = f"echo first; until [ -e {go} ]; do sleep 0.05; done; echo second"
    cid = await _run(runtime, sandbox, _spec(sandbox, "talker", ["sh", "-c", script]))
    chunks: list[bytes] = []
    async with asyncio.timeout(20):
        async for chunk in runtime.read_logs(cid, LogOptions(follow=True)):
            chunks.append(chunk)
            go.touch()
    assert chunks == [b"first\n", b"second\n"]  # line by line, ending when the container exits
    info = await runtime.container_status(cid)
    assert info is not None and info.state == ContainerState.EXITED
    assert await _logs(runtime, cid, limit_bytes=3) == "fir"
    assert await _logs(runtime, cid, tail_lines=1) == "second\n"
    assert await _logs(runtime, cid, since_seconds=3600) == "first\nsecond\n"


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


async def test_the_bridge_keeps_its_mac_as_pods_come_and_go(runtime: ProcessRuntime) -> None:
    """A bridge left to itself takes its lowest port's MAC: pods' ARP entries for the gateway
    would go stale each time that pod went (seconds of lost replies)."""
    bridge = Path("/sys/class/net", bridge_name(runtime.config.node_name))
    pods = [await _sandbox(runtime, f"p{i}") for i in range(3)]
    mac = (bridge / "address").read_text().strip()
    assert mac == bridge_mac(runtime.config.node_name)
    assert (bridge / "addr_assign_type").read_text().strip() == "3"  # set, not derived from ports
    for pod in pods:
        await runtime.remove_sandbox(pod.pod_uid)
        assert (bridge / "address").read_text().strip() == mac


async def test_pods_bind_the_same_port_and_reach_each_other_by_ip(runtime: ProcessRuntime) -> None:
    server = [PY, "-c", (
        "import http.server, socket, socketserver  # not HTTPServer: it resolves its own name\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers()\n"
        "        self.wfile.write(socket.gethostname().encode())\n"
        "socketserver.TCPServer(('0.0.0.0', 8080), H).serve_forever()\n"
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

    # each server listens once its Python has started: on a loaded box, not at the same moment
    await eventually(lambda: answers(web_a, f"http://{b.ip}:8080/", "pod-b"), timeout=20,
                     message="pod-a cannot reach pod-b by its IP")  # fmt: skip
    await eventually(lambda: answers(web_b, f"http://{a.ip}:8080/", "pod-a"), timeout=20,
                     message="pod-b cannot reach pod-a by its IP")  # fmt: skip
    await answers(side_a, "http://127.0.0.1:8080/", "pod-a")  # containers of a pod share localhost
    for cid in (web_a, web_b):
        info = await runtime.container_status(cid)
        assert info is not None and info.state == ContainerState.RUNNING, "port conflict?"


async def test_accept_queue_counts_connections_no_process_accepted(runtime: ProcessRuntime) -> None:
    """What the agent waits on before SIGTERM (drain.wait_accepted): connections in the pod's
    listen backlog, which a server closing its listener would reset."""
    listener = [PY, "-c", "import socket, time\ns = socket.socket(); s.bind(('0.0.0.0', 8080)); s.listen(8)\n"
                "print('listening', flush=True); time.sleep(60)"]  # never accepts
    pod = await _sandbox(runtime, "pod-q")
    cid = await _run(runtime, pod, _spec(pod, "web", listener))
    await eventually(lambda: _logs(runtime, cid), timeout=10, message="the listener never started")
    assert await runtime.accept_queue(pod.pod_uid) == 0
    conns = [await runtime.connect_port(pod.pod_uid, 8080) for _ in range(2)]
    try:
        assert await runtime.accept_queue(pod.pod_uid) == 2
    finally:
        for _, writer in conns:
            writer.close()
    assert await runtime.accept_queue("no-such-pod") == 0


async def test_attach_gets_the_last_output_of_a_container_exiting_as_stdin_closes(runtime: ProcessRuntime) -> None:
    """kubectl run -i: the container answers and exits while the attacher still sends (stdin's
    EOF). The supervisor used to close the attach socket at once: the attacher's write failed
    and its stream dropped the answer it had not read yet (1 in ~10 `kubectl run -i` runs)."""
    pod = await _sandbox(runtime, "pod-attach")
    for attempt in range(5):
        cid = await _run(runtime, pod, _spec(pod, f"asker{attempt}", ["sh", "-c", 'read a; echo "got $a"; exit 4'],
                                             stdin=True, stdin_once=True))
        stream = await runtime.attach_stream(cid)
        await stream.write_stdin(b"x\n")
        # Hold the event loop (as a burst of bus messages does) while the container answers and
        # exits; the stdin EOF then comes after the exit, before the answer was read.
        time.sleep(0.3)  # noqa: ASYNC251 - blocking on purpose
        await stream.close_stdin()
        out = b""
        async with asyncio.timeout(10):
            while chunk := await stream.read_stdout():
                out += chunk
        await stream.kill()
        assert out == b"got x\n", f"attempt {attempt}: the attacher saw {out!r}"
        info = await _exited(runtime, cid)
        assert info.exit_code == 4


def _parent_pid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rfind(")") + 2 :].split()[1])


async def test_supervisors_come_from_the_zygote_which_reaps_them(runtime: ProcessRuntime) -> None:
    sandbox = await _sandbox(runtime)
    first = await _run(runtime, sandbox, _spec(sandbox, "first", ["sleep", "120"]))
    zygote = runtime._launcher._proc
    assert zygote is not None and zygote.returncode is None, "no zygote forked the supervisor"
    supervisor = runtime._record(first).supervisor_pid
    assert _parent_pid(supervisor) == zygote.pid
    assert os.getsid(supervisor) != os.getsid(0)  # a session of its own: no terminal signals

    short = await _run(runtime, sandbox, _spec(sandbox, "short", ["true"]))
    await _exited(runtime, short)
    ended = runtime._record(short).supervisor_pid
    # reaped, not a zombie: an init that reaps nothing (as in some containers) would keep it
    await eventually(lambda: not Path(f"/proc/{ended}").exists(), timeout=10,
                     message=f"the ended supervisor {ended} was not reaped")

    zygote.kill()  # machine chaos: the next start must get a new zygote
    await zygote.wait()
    second = await _run(runtime, sandbox, _spec(sandbox, "second", ["sleep", "120"]))
    assert runtime._launcher._proc is not None and runtime._launcher._proc.pid != zygote.pid
    states = {i.id: i.state for i in await runtime.list_containers()}
    assert states[first] == states[second] == ContainerState.RUNNING  # the first outlived its zygote


async def test_decommission_removes_a_half_made_pod_namespace(runtime: ProcessRuntime) -> None:
    """A namespace the agent made but never recorded an address for (killed in between) goes
    with the node, through rtnetlink like every other pod namespace."""
    orphan = f"{bridge_name(runtime.config.node_name)}-{uuid.uuid4()}"
    subprocess.run(["ip", "netns", "add", orphan], check=True)  # noqa: ASYNC221 - test setup
    try:
        await runtime.destroy_everything()
        assert not (NETNS_DIR / orphan).exists(), f"{orphan} was left behind"
    finally:
        subprocess.run(["ip", "netns", "del", orphan], capture_output=True, check=False)  # noqa: ASYNC221


async def test_concurrent_starts_each_get_their_own_supervisor(runtime: ProcessRuntime) -> None:
    """Starts are pipelined to the zygote: every start must get the pid of the supervisor forked
    for its own container (the supervisor writes its pid in started.json), not a neighbour's."""
    sandbox = await _sandbox(runtime, "many")
    cids = [await runtime.create_container(sandbox, _spec(sandbox, f"c{i}", ["sleep", "60"])) for i in range(20)]
    await asyncio.gather(*(runtime.start_container(cid) for cid in cids))
    pids = set()
    for cid in cids:
        started = read_struct(runtime.layout.container_dir(cid) / "started.json", Started)
        assert started is not None and not started.error, f"{cid}: {started}"
        assert runtime._record(cid).supervisor_pid == started.supervisor_pid, f"{cid} got another's supervisor"
        pids.add(started.supervisor_pid)
    assert len(pids) == len(cids)


async def test_records_live_on_a_tmpfs_and_logs_on_disk(runtime: ProcessRuntime, tmp_path: Path) -> None:
    """Records on the tmpfs; the log and the pod's directory (a host-image container's working
    directory when it names none), both made as the container starts, on the node's disk."""
    uid = str(uuid.uuid4())
    pod_dir = tmp_path / "pods" / uid
    sandbox = await runtime.create_sandbox(
        PodSandboxConfig(pod_uid=uid, namespace="default", name="where", hostname="where", pod_dir=str(pod_dir))
    )
    assert statedir.fstype(runtime.layout.base) == "tmpfs"
    assert (tmp_path / "process").resolve() == runtime.layout.base.resolve()
    cid = await _run(runtime, sandbox, _spec(sandbox, "talk", ["sh", "-c", "echo said; pwd"]))
    await _exited(runtime, cid)
    log_file = Path(runtime.log_path(cid) or "")
    assert log_file.parent == tmp_path / "logs" / f"default_where_{sandbox.pod_uid}", log_file
    assert statedir.fstype(log_file) != "tmpfs" and "said" in await _logs(runtime, cid)
    assert (await _logs(runtime, cid)).splitlines() == ["said", str(pod_dir)]
    assert pod_dir.is_dir() and statedir.fstype(pod_dir) != "tmpfs"
    await runtime.remove_container(cid)
    assert not log_file.exists(), "a removed container's log was kept"  # noqa: ASYNC240
    await runtime.remove_sandbox(sandbox.pod_uid)
    assert not log_file.parent.exists(), "a removed pod's log directory was kept"


async def test_logs_of_pods_without_records_are_forgotten_at_start(tmp_path: Path) -> None:
    """After a reboot the tmpfs holds no records; the logs on disk of those containers go too."""
    orphan = tmp_path / "logs" / f"default_gone_{uuid.uuid4()}"
    orphan.mkdir(parents=True)
    (orphan / "c.0.abcdef.log").write_text("old\n")
    node = f"rt-{uuid.uuid4().hex[:8]}"
    rt = ProcessRuntime(RuntimeConfig(node_name=node, root_dir=str(tmp_path), pod_cidr=_cidr(), node_ip="127.0.0.1"))
    await rt.start()
    try:
        sandbox = await _sandbox(rt, "alive")
        cid = await _run(rt, sandbox, _spec(sandbox, "talk", ["sh", "-c", "echo here"]))
        await _exited(rt, cid)
        assert not orphan.exists(), "logs of a pod without records were kept"
        await rt.close()
        rt = ProcessRuntime(RuntimeConfig(node_name=node, root_dir=str(tmp_path), pod_cidr=rt.config.pod_cidr,
                                          node_ip="127.0.0.1"))
        await rt.start()  # a restarted agent keeps the logs of the pods it still has
        assert "here" in await _logs(rt, cid)
    finally:
        await rt.destroy_everything()
        await rt.close()
        assert _leftovers(node) == []


async def test_close_ends_even_when_an_exit_arrives_with_it(runtime: ProcessRuntime) -> None:
    """close() cancels the exit watcher; an exit seen at the same moment must not swallow the
    cancel (Python 3.11's wait_for did: close() then waited forever, as a test once did in CI)."""
    for turns in range(6):  # the cancel lands at each step of the watcher's wake-up
        runtime._exit_seen.set()
        for _ in range(turns):
            await asyncio.sleep(0)
        closing = asyncio.create_task(runtime.close())
        done, _ = await asyncio.wait({closing}, timeout=5)
        if not done:
            closing.cancel()
            pytest.fail(f"close() hung: the exit watcher lost its cancel ({turns} turns after the exit)")
        closing.result()
        await runtime.start()


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


async def test_a_second_node_with_an_overlapping_pod_cidr_is_refused(
    runtime: ProcessRuntime, tmp_path: Path
) -> None:
    clash = ProcessRuntime(
        RuntimeConfig(
            node_name=f"rt-clash-{uuid.uuid4().hex[:6]}",
            root_dir=str(tmp_path / "clash"),
            pod_cidr=runtime.config.pod_cidr,
            node_ip="127.0.0.1",
        )
    )
    with pytest.raises(
        NetworkError, match=f"overlaps {gateway_ip(runtime.config.pod_cidr)}/24 on kl-"
    ):
        await clash.start()
    assert _leftovers(clash.config.node_name) == []


@pytest.mark.skipif(shutil.which("busybox") is None, reason="needs a static busybox")
async def test_image_naming_a_directory_is_the_containers_root_filesystem(
    runtime: ProcessRuntime, tmp_path: Path
) -> None:
    rootfs = tmp_path / "rootfs"
    for d in ("bin", "dev", "etc", "proc", "tmp"):
        (rootfs / d).mkdir(parents=True)
    shutil.copy(shutil.which("busybox") or "", rootfs / "bin" / "busybox")
    for applet in ("sh", "ls", "cat", "hostname", "sleep"):
        (rootfs / "bin" / applet).symlink_to("busybox")
    (rootfs / "etc" / "marker").write_text("inside the rootfs")
    data = tmp_path / "data"
    data.mkdir()
    (data / "file").write_text("from a volume")

    info = await runtime.ensure_image(str(rootfs), "Never")
    assert info.id == f"rootfs://{rootfs}"
    sandbox = await _sandbox(runtime, "chrooted")
    spec = _spec(
        sandbox,
        "c",
        ["sh", "-c", "cat /etc/marker; echo; cat /data/file; echo; ls /; ls /work 2>&1 | head -c 0; "
                     "[ -e /work ] || echo no-host-fs; sleep 60"],
        mounts=[Mount(str(data), "/data")],
    )  # fmt: skip
    spec.image = str(rootfs)
    cid = await _run(runtime, sandbox, spec)

    async def logged() -> str:
        text = await _logs(runtime, cid)
        assert text.startswith("inside the rootfs\nfrom a volume\n") and "no-host-fs" in text, text
        return text

    text = await eventually(logged, message="chrooted container output missing")
    assert set(text.split("\n")[2:-2]) == {"bin", "data", "dev", "etc", "proc", "tmp"}

    with pytest.raises(ImageError) as missing:
        await runtime.ensure_image(str(tmp_path / "nope"), "Never")
    assert missing.value.reason == "ErrImageNeverPull"


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
                         argv=["sh", "-c", "trap 'exit 0' TERM; echo $FOO pid=$$; while :; do sleep 0.1; done",
                               sys.argv[2]],
                         env={"FOO": "bar"}, resources=Resources(memory_bytes=1 << 30))
    cid = await rt.create_container(sb, spec)
    await rt.start_container(cid)
    deadline = time.monotonic() + 10
    text = ""
    while "pid=" not in text and time.monotonic() < deadline:
        text = b"".join([c async for c in rt.read_logs(cid, LogOptions())]).decode()
        await asyncio.sleep(0.05)
    running = (await rt.container_status(cid)).state
    ex = await rt.exec(cid, ["sh", "-c", "echo $FOO; pwd"], 10)
    await rt.stop_container(cid, 5)
    info = await rt.container_status(cid)
    await rt.remove_container(cid)
    await rt.remove_sandbox("u1")
    await rt.close()
    print(json.dumps({"sandbox": msgspec.to_builtins(sb), "log": text, "running": running,
                      "exit": [info.state, info.exit_code],
                      "exec": [ex.exit_code, ex.output.decode()]}))

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
    marker = f"nonroot-{uuid.uuid4().hex[:8]}"  # $0 of the container's shell
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    # The venv's interpreter lives under /root here, which the unprivileged user cannot
    # exec from a child; the system interpreter with the venv's packages can.
    system_python = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    if not os.access(system_python, os.X_OK):
        system_python = PY
    site_dir = sysconfig.get_paths()["purelib"]
    prelude = f"import site; site.addsitedir({site_dir!r})\n"
    proc = await asyncio.create_subprocess_exec(
        *drop, system_python, "-c", prelude + NON_ROOT_SCRIPT, str(root), marker,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd="/tmp",
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        for pid in _processes_with(marker):  # only if the script failed half-way
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 0, err.decode()
    result = json.loads(out.decode().splitlines()[-1])
    sandbox = result["sandbox"]
    assert sandbox["host_network"] is True and sandbox["ip"] == "127.0.0.1"
    assert "not running as root" in sandbox["message"], sandbox
    assert "limits not enforced" in sandbox["message"], sandbox
    assert result["log"].startswith("bar pid=") and "pid=1\n" not in result["log"]
    assert result["running"] == "running"
    code, output = result["exec"]
    assert code == 0 and output.startswith("bar\n") and output.rstrip().endswith("/pods/u1"), output
    assert result["exit"] == ["exited", 0]  # the trap ran: SIGTERM reached the process group


# ---- part 2: the real node agent with --runtime process ----------------------------------


class AgentProcess:
    """A `kubelite-nodeagent --runtime process` subprocess for one node."""

    def __init__(self, node: str, root_dir: Path, pod_cidr: str, nats_url: str, log_path: Path, pki_dir: str):
        self.node, self.root_dir, self.pod_cidr = node, root_dir, pod_cidr
        self.nats_url, self.log_path, self.pki_dir = nats_url, log_path, pki_dir
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = Path(sys.executable).with_name("kubelite-nodeagent")
        argv = [
            str(exe), "--nats", self.nats_url, "--pki-dir", self.pki_dir, "--node-name", self.node,
            "--runtime", "process",
            "--root-dir", str(self.root_dir), "--pod-cidr", self.pod_cidr,
            "--node-status-update-frequency", "2", "--resync-period", "5", "--metrics-resolution", "1s",
            "--restart-backoff-base", "1", "--restart-backoff-max", "4",
            "--log-level", "debug",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL, as a crash: the containers keep running."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)

    def log_tail(self) -> str:
        try:
            return "".join(self.log_path.read_text().splitlines(keepends=True)[-40:])
        except OSError:
            return ""

    async def destroy(self) -> None:
        """Kill the agent and remove every container, netns, veth, the bridge and cgroups."""
        self.kill()
        config = RuntimeConfig(
            node_name=self.node, root_dir=str(self.root_dir), pod_cidr=self.pod_cidr, node_ip=""
        )
        rt = ProcessRuntime(config)
        await rt.destroy_everything()
        emptydir.unmount_pods(str(self.root_dir / "pods"))  # what a killed agent leaves mounted


@contextlib.asynccontextmanager
async def _running_agents(
    count: int, nats_url: str, api: httpx.AsyncClient, tmp_path: Path, register_nodes: Any
) -> AsyncIterator[list[AgentProcess]]:
    """`count` node agents on this machine, each its own node, root dir and pod CIDR."""
    cidrs: set[str] = set()
    while len(cidrs) < count:
        cidrs.add(_cidr())
    names = [f"pn-{uuid.uuid4().hex[:8]}" for _ in range(count)]
    pki_dir = register_nodes(*names)
    agents = [
        AgentProcess(names[i], tmp_path / f"agent{i}", cidr, nats_url, tmp_path / f"agent{i}.log", pki_dir)
        for i, cidr in enumerate(sorted(cidrs))
    ]  # fmt: skip
    try:
        for proc in agents:
            proc.start()
        for proc in agents:
            await _wait_node_ready(api, proc)
        yield agents
    finally:
        for proc in agents:
            await proc.destroy()
            await api.delete(f"/api/v1/nodes/{proc.node}")
        for proc in agents:
            assert _leftovers(proc.node) == [], f"left behind: {_leftovers(proc.node)}"


@pytest.fixture
async def agent(
    nats_url: str, apiserver: object, api: httpx.AsyncClient, tmp_path: Path, register_nodes: Any
) -> AsyncIterator[AgentProcess]:
    async with _running_agents(1, nats_url, api, tmp_path, register_nodes) as agents:
        yield agents[0]


@pytest.fixture
async def two_agents(
    nats_url: str, apiserver: object, api: httpx.AsyncClient, tmp_path: Path, register_nodes: Any
) -> AsyncIterator[list[AgentProcess]]:
    async with _running_agents(2, nats_url, api, tmp_path, register_nodes) as agents:
        yield agents


async def _wait_node_ready(api: httpx.AsyncClient, agent: AgentProcess) -> None:
    async def ready() -> bool:
        assert agent.popen is not None and agent.popen.poll() is None, (
            f"agent exited:\n{agent.log_tail()}"
        )
        r = await api.get(f"/api/v1/nodes/{agent.node}")
        if r.status_code != 200:
            return False
        conditions = (r.json().get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    await eventually(ready, timeout=30, message=f"node {agent.node} never became Ready")


def _pod(name: str, node: str, containers: list[dict], **spec: object) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"nodeName": node, "containers": containers, **spec},
    }


async def _create(api: httpx.AsyncClient, namespace: str, plural: str, body: dict) -> dict:
    group = "/api/v1"
    r = await api.post(f"{group}/namespaces/{namespace}/{plural}", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def _get_pod(api: httpx.AsyncClient, namespace: str, name: str) -> dict | None:
    r = await api.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return r.json()


async def _wait_pod(
    api: httpx.AsyncClient,
    namespace: str,
    name: str,
    predicate: Callable[[dict], bool],
    agent: AgentProcess,
    what: str,
    timeout: float = 30,  # noqa: ASYNC109
) -> dict:
    last: list[dict] = []

    async def check() -> dict | None:
        pod = await _get_pod(api, namespace, name)
        if pod is not None:
            last[:] = [pod.get("status", {})]
            if predicate(pod):
                return pod
        return None

    try:
        return await eventually(check, timeout=timeout, interval=0.2, message=what)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\nlast status: {last}\nagent log:\n{agent.log_tail()}"
        ) from None


def _running(pod: dict) -> bool:
    return pod.get("status", {}).get("phase") == "Running" and bool(pod["status"].get("podIP"))


def _container_status(pod: dict, name: str) -> dict:
    for cs in pod.get("status", {}).get("containerStatuses") or []:
        if cs["name"] == name:
            return cs
    return {}


async def _pod_logs(nc: object, agent: AgentProcess, namespace: str, pod: str, **kw: object) -> str:
    request = LogRequest(namespace=namespace, pod=pod, **kw)  # type: ignore[arg-type]
    chunks = [c async for c in stream_logs(nc, agent.node, request)]
    return b"".join(chunks).decode()


def _processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains `marker`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


# Serves its hostname on :8080 (socketserver, not HTTPServer: that resolves its own name first).
HOSTNAME_SERVER = (
    "import http.server, socket, socketserver\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200); self.end_headers()\n"
    "        self.wfile.write(socket.gethostname().encode())\n"
    "socketserver.TCPServer(('0.0.0.0', 8080), H).serve_forever()\n"
)
# Prints what each URL argument answers (retrying ~10 s), then stays up.
FETCH_ALL = (
    "import sys, time, urllib.request\n"
    "for url in sys.argv[1:]:\n"
    "    for _ in range(50):\n"
    "        try:\n"
    "            print(urllib.request.urlopen(url, timeout=2).read().decode()); break\n"
    "        except OSError as exc: error = exc; time.sleep(0.2)\n"
    "    else: print('unreachable', url, error)\n"
    "time.sleep(3600)\n"
)


async def test_agent_runs_pod_with_env_configmap_secret_and_logs(
    agent: AgentProcess, api: httpx.AsyncClient, namespace: str, nats_client: object
) -> None:
    await _create(api, namespace, "configmaps", {
        "metadata": {"name": "settings"}, "data": {"greeting": "hello-from-cm", "MODE": "fast"},
    })  # fmt: skip
    await _create(api, namespace, "secrets", {
        "metadata": {"name": "creds"}, "stringData": {"password": "s3cr3t"},
    })  # fmt: skip
    # ($$$$: Kubernetes expands $(VAR) in commands and turns $$ into $)
    script = (
        "echo env=$GREETING/$MODE/$POD_NAME; cat /etc/settings/greeting; echo; "
        "cat /etc/creds/password; echo; echo host=$(hostname) pid=$$$$; sleep 3600"
    )
    await _create(api, namespace, "pods", _pod("web", agent.node, [{
        "name": "main", "image": "host", "command": ["sh", "-c", script],
        "env": [
            {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": ""}],
        "volumeMounts": [
            {"name": "settings", "mountPath": "/etc/settings"},
            {"name": "creds", "mountPath": "/etc/creds", "readOnly": True},
        ],
    }], volumes=[
        {"name": "settings", "configMap": {"name": "settings"}},
        {"name": "creds", "secret": {"secretName": "creds"}},
    ]))  # fmt: skip
    pod = await _wait_pod(api, namespace, "web", _running, agent, "pod never Running")
    ip = pod["status"]["podIP"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(agent.pod_cidr), ip

    expected = "env=hello-from-cm/fast/web\nhello-from-cm\ns3cr3t\nhost=web pid=1\n"

    async def logged() -> bool:
        text = await _pod_logs(nats_client, agent, namespace, "web")
        assert text == expected, text
        return True

    await eventually(logged, timeout=15, message="the pod's log never showed its output")
    stamped = await _pod_logs(nats_client, agent, namespace, "web", tailLines=1, timestamps=True)
    assert stamped.endswith(" host=web pid=1\n") and stamped.count("\n") == 1, stamped


async def test_agent_backs_off_a_crashing_container(
    agent: AgentProcess, api: httpx.AsyncClient, namespace: str, nats_client: object
) -> None:
    await _create(api, namespace, "pods", _pod("crash", agent.node, [{
        "name": "c", "image": "host", "args": ["sh", "-c", "echo attempt; exit 3"],
    }]))  # fmt: skip

    def crash_looping(pod: dict) -> bool:
        cs = _container_status(pod, "c")
        waiting = cs.get("state", {}).get("waiting") or {}
        return cs.get("restartCount", 0) >= 2 and waiting.get("reason") == "CrashLoopBackOff"

    pod = await _wait_pod(
        api, namespace, "crash", crash_looping, agent, "no CrashLoopBackOff", timeout=60
    )
    last = _container_status(pod, "c")["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (3, "Error")
    assert await _pod_logs(nats_client, agent, namespace, "crash", previous=True) == "attempt\n"


async def test_agent_deletion_sends_sigterm_and_waits_for_the_grace_period(
    agent: AgentProcess, api: httpx.AsyncClient, namespace: str, tmp_path: Path
) -> None:
    marker = f"stubborn-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "signals"
    out.mkdir()
    script = f"trap 'echo got TERM >> /out/signals' TERM; while :; do sleep 0.2; done # {marker}"
    grace = 4
    await _create(api, namespace, "pods", _pod("stubborn", agent.node, [{
        "name": "c", "image": "host", "command": ["sh", "-c", script],
        "volumeMounts": [{"name": "out", "mountPath": "/out"}],
    }], terminationGracePeriodSeconds=grace,
        volumes=[{"name": "out", "hostPath": {"path": str(out), "type": "Directory"}}],
    ))  # fmt: skip
    await _wait_pod(api, namespace, "stubborn", _running, agent, "pod never Running")
    assert len(_processes_with(marker)) == 1

    started = time.monotonic()
    r = await api.delete(f"/api/v1/namespaces/{namespace}/pods/stubborn")
    assert r.status_code == 200, r.text

    async def gone() -> bool:
        return await _get_pod(api, namespace, "stubborn") is None

    await eventually(gone, timeout=grace + 20, message="pod not removed after its grace period")
    elapsed = time.monotonic() - started
    assert elapsed >= grace - 0.5, f"removed after {elapsed:.1f}s, before the {grace}s grace period"
    assert (out / "signals").read_text() == "got TERM\n"
    assert _processes_with(marker) == [], "the container survived its deletion"


async def test_agent_two_pods_bind_one_port_and_reach_each_other(
    agent: AgentProcess, api: httpx.AsyncClient, namespace: str, nats_client: object
) -> None:
    server = HOSTNAME_SERVER
    for name in ("srv-a", "srv-b"):
        await _create(api, namespace, "pods", _pod(name, agent.node, [{
            "name": "web", "image": "host", "command": [PY, "-c", server],
            "ports": [{"containerPort": 8080}],
        }]))  # fmt: skip
    ips = {}
    for name in ("srv-a", "srv-b"):
        pod = await _wait_pod(api, namespace, name, _running, agent, f"{name} never Running")
        ips[name] = pod["status"]["podIP"]
    assert ips["srv-a"] != ips["srv-b"]
    fetch = FETCH_ALL
    urls = [f"http://{ips['srv-a']}:8080/", f"http://{ips['srv-b']}:8080/"]
    await _create(api, namespace, "pods", _pod("client", agent.node, [{
        "name": "c", "image": "host", "command": [PY, "-u", "-c", fetch, *urls],
    }]))  # fmt: skip
    await _wait_pod(api, namespace, "client", _running, agent, "client never Running")

    async def fetched() -> bool:
        text = await _pod_logs(nats_client, agent, namespace, "client")
        assert text == "srv-a\nsrv-b\n", text
        return True

    await eventually(fetched, timeout=30, message="client pod could not reach both servers")
    for name in ("srv-a", "srv-b"):  # both still serving: no port conflict killed one
        pod = await _get_pod(api, namespace, name)
        assert pod is not None and _container_status(pod, "web")["restartCount"] == 0


async def test_agent_reports_oomkilled(
    agent: AgentProcess, api: httpx.AsyncClient, namespace: str
) -> None:
    hog = "x = []\nwhile True: x.append(bytearray(1 << 20))"
    await _create(api, namespace, "pods", _pod("hog", agent.node, [{
        "name": "hog", "image": "host", "command": [PY, "-c", hog],
        "resources": {"limits": {"memory": "48Mi"}},
    }], restartPolicy="Never"))  # fmt: skip

    def terminated(pod: dict) -> bool:
        return bool(_container_status(pod, "hog").get("state", {}).get("terminated"))

    pod = await _wait_pod(api, namespace, "hog", terminated, agent, "hog never ended", timeout=60)
    state = _container_status(pod, "hog")["state"]["terminated"]
    assert (state["reason"], state["exitCode"]) == ("OOMKilled", 137)
    assert pod["status"]["phase"] == "Failed"


async def test_agent_killed_and_restarted_adopts_running_pods(
    agent: AgentProcess, api: httpx.AsyncClient, namespace: str, tmp_path: Path
) -> None:
    marker = f"adopt-{uuid.uuid4().hex[:8]}"
    await _create(api, namespace, "pods", _pod("keeper", agent.node, [{
        "name": "c", "image": "host", "command": ["sh", "-c", f"while :; do sleep 1; done # {marker}"],
    }]))  # fmt: skip
    # "finisher" exits (code 5) while the agent is down, when the test creates /signal/go.
    signal_dir = tmp_path / "signal"
    signal_dir.mkdir()
    finisher = f"finish-{uuid.uuid4().hex[:8]}"
    await _create(api, namespace, "pods", _pod("finisher", agent.node, [{
        "name": "c", "image": "host",
        "command": ["sh", "-c", f"until [ -e /signal/go ]; do sleep 0.1; done; exit 5 # {finisher}"],
        "volumeMounts": [{"name": "signal", "mountPath": "/signal"}],
    }], restartPolicy="Never",
        volumes=[{"name": "signal", "hostPath": {"path": str(signal_dir)}}],
    ))  # fmt: skip
    pod = await _wait_pod(api, namespace, "keeper", _running, agent, "pod never Running")
    await _wait_pod(api, namespace, "finisher", _running, agent, "finisher never Running")
    before = _container_status(pod, "c")
    ip_before = pod["status"]["podIP"]
    pids = _processes_with(marker)
    assert len(pids) == 1

    agent.kill()
    (signal_dir / "go").touch()
    await eventually(lambda: not _processes_with(finisher), message="finisher did not exit")
    agent.start()
    await _wait_node_ready(api, agent)
    # A pod created after the restart running proves the new agent has synced its pods.
    await _create(api, namespace, "pods", _pod("after", agent.node, [{
        "name": "c", "image": "host", "command": ["sleep", "3600"],
    }]))  # fmt: skip
    await _wait_pod(api, namespace, "after", _running, agent, "new agent runs no pods")

    pod = await _wait_pod(api, namespace, "keeper", _running, agent, "adopted pod not Running")
    after = _container_status(pod, "c")
    assert after["restartCount"] == 0, after
    assert after["state"]["running"]["startedAt"] == before["state"]["running"]["startedAt"]
    assert _processes_with(marker) == pids, "the container was started again (a twin)"
    assert pod["status"]["podIP"] == ip_before
    finished = await _wait_pod(
        api, namespace, "finisher", lambda p: p["status"].get("phase") == "Failed", agent,
        "the exit that happened while the agent was down was not reported",
    )  # fmt: skip
    terminated = _container_status(finished, "c")["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (5, "Error")
    assert _container_status(finished, "c")["restartCount"] == 0


async def test_agent_pods_on_two_nodes_of_one_machine_reach_each_other(
    two_agents: list[AgentProcess], api: httpx.AsyncClient, namespace: str, nats_client: object
) -> None:
    """Two node agents on one machine: own bridges and CIDRs, pods routed between them."""
    first, second = two_agents
    ips = {}
    for name, node in (("srv-1", first), ("srv-2", second)):
        await _create(api, namespace, "pods", _pod(name, node.node, [{
            "name": "web", "image": "host", "command": [PY, "-c", HOSTNAME_SERVER],
        }]))  # fmt: skip
    for name, node in (("srv-1", first), ("srv-2", second)):
        pod = await _wait_pod(api, namespace, name, _running, node, f"{name} never Running")
        ips[name] = pod["status"]["podIP"]
        assert ipaddress.ip_address(ips[name]) in ipaddress.ip_network(node.pod_cidr)
    urls = [f"http://{ips['srv-1']}:8080/", f"http://{ips['srv-2']}:8080/"]
    await _create(api, namespace, "pods", _pod("client", first.node, [{
        "name": "c", "image": "host", "command": [PY, "-u", "-c", FETCH_ALL, *urls],
    }]))  # fmt: skip
    await _wait_pod(api, namespace, "client", _running, first, "client never Running")

    async def fetched() -> bool:
        text = await _pod_logs(nats_client, first, namespace, "client")
        assert text == "srv-1\nsrv-2\n", text
        return True

    await eventually(
        fetched, timeout=30, message="client could not reach the pod on the other node"
    )


async def test_agent_memory_emptydir_is_a_tmpfs_and_a_size_limit_evicts(
    agent: AgentProcess, api: httpx.AsyncClient, namespace: str, nats_client: object
) -> None:
    """emptyDir medium Memory is a tmpfs the size of its limit; a disk emptyDir written past its
    sizeLimit gets the pod evicted (Failed, reason Evicted), as the kubelet does."""
    show = "grep ' /cache ' /proc/mounts; sleep 3600"
    await _create(api, namespace, "pods", _pod("mem", agent.node, [{
        "name": "c", "image": "host", "command": ["sh", "-c", show],
        "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]}],
        volumes=[{"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "4Mi"}}]))  # fmt: skip
    await _wait_pod(api, namespace, "mem", _running, agent, "mem never Running")

    async def tmpfs() -> bool:
        text = await _pod_logs(nats_client, agent, namespace, "mem")
        assert text.startswith("tmpfs /cache tmpfs") and "size=4096k" in text, text
        return True

    await eventually(tmpfs, timeout=20, message="the Memory emptyDir is not a 4Mi tmpfs")

    fill = "dd if=/dev/zero of=/scratch/fill bs=1M count=3 2>/dev/null; sleep 3600"
    await _create(api, namespace, "pods", _pod("full", agent.node, [{
        "name": "c", "image": "host", "command": ["sh", "-c", fill],
        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}],
        volumes=[{"name": "scratch", "emptyDir": {"sizeLimit": "1Mi"}}]))  # fmt: skip
    pod = await _wait_pod(api, namespace, "full", lambda p: p.get("status", {}).get("phase") == "Failed", agent,
                          "a pod past its emptyDir sizeLimit was not evicted", timeout=40)
    assert pod["status"]["reason"] == "Evicted", pod["status"]
    assert pod["status"]["message"].startswith('Usage of EmptyDir volume "scratch" exceeds the limit "1Mi"')


async def test_agent_reports_resource_metrics_served_as_metrics_api(
    agent: AgentProcess, api: httpx.AsyncClient, namespace: str
) -> None:
    """A busy container's CPU and memory, measured from its cgroups, come back from
    metrics.k8s.io (what `kubectl top` reads): near one core for a busy loop under a 500m limit."""
    burn = "x = bytearray(32 << 20)\nwhile True:\n    pass\n"
    await _create(api, namespace, "pods", _pod("burner", agent.node, [{
        "name": "burn", "image": "host", "command": [PY, "-c", burn],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}}}]))  # fmt: skip
    await _wait_pod(api, namespace, "burner", _running, agent, "burner never Running")
    path = f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/burner"

    async def measured() -> dict | None:
        r = await api.get(path)
        if r.status_code != 200:
            return None
        usage = r.json()["containers"][0]["usage"]
        millicores = int(usage["cpu"].removesuffix("n")) / 1e6
        return r.json() if millicores > 300 else None

    pm = await eventually(measured, timeout=30, interval=0.5, message="no CPU use reported for the busy pod")
    usage = pm["containers"][0]["usage"]
    assert int(usage["cpu"].removesuffix("n")) / 1e6 < 650, f"over the 500m limit: {usage}"
    assert 32 * 1024 <= int(usage["memory"].removesuffix("Ki")) < 256 * 1024, usage
    nodes = (await api.get("/apis/metrics.k8s.io/v1beta1/nodes")).json()["items"]
    mine = next(n for n in nodes if n["metadata"]["name"] == agent.node)
    assert int(mine["usage"]["cpu"].removesuffix("n")) >= int(usage["cpu"].removesuffix("n"))
    groups = (await api.get("/apis")).json()["groups"]
    assert "metrics.k8s.io" in {g["name"] for g in groups}
