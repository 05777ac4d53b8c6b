"""The `process` runtime: containers are process trees in namespaces and cgroups, logs in files.

Each container attempt gets a supervisor process (process_supervisor.py, its own
session, forked by supervisor_zygote.py, which reaps it; it survives the agent) that launches the container init and records
its start and exit in files.  Everything the runtime knows lives in files in its state
directory (a tmpfs, linked from `<root_dir>/process`: statedir.py; process_records.py), so a
restarted agent adopts running containers and learns about exits that happened while it was down.

As root: the pod gets a network namespace on the node bridge (netns.py), each
container its own PID/mount/UTS/IPC namespaces and a cgroup with its limits
(cgroups.py).  Without root: containers are plain process groups on the host
network, without limits; the sandbox message says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from kubelite.tasks import cancel_and_wait, wait_event
from kubelite_nodeagent.runtime import netconnect, process_supervisor, statedir
from kubelite_nodeagent.runtime.base import (
    ERR_IMAGE_NEVER_PULL,
    ERR_IMAGE_PULL,
    ContainerEventHandler,
    ContainerInfo,
    ContainerSpec,
    ContainerStartError,
    ContainerState,
    ContainerStats,
    ExecResult,
    ExecStream,
    ImageError,
    ImageInfo,
    LogOptions,
    PodSandbox,
    PodSandboxConfig,
    RuntimeConfig,
    RuntimeError_,
)
from kubelite_nodeagent.runtime.cgroups import Cgroup, CgroupManager
from kubelite_nodeagent.runtime.filewatch import FileWatch
from kubelite_nodeagent.runtime.netns import NetworkError, PodNetwork
from kubelite_nodeagent.runtime.process_attach import ProcessAttach
from kubelite_nodeagent.runtime.process_exec import SubprocessExec
from kubelite_nodeagent.runtime.process_logs import read_log_file
from kubelite_nodeagent.runtime.process_records import (
    ContainerRecord,
    Exited,
    Layout,
    SandboxRecord,
    Started,
    container_info,
    is_same_process,
    new_container_id,
    proc_start_ticks,
    read_struct,
    write_struct,
)
from kubelite_nodeagent.runtime.supervisor_launcher import LaunchError, SupervisorLauncher

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 15.0  # supervisor spawn to exec, on a busy 2-core box
KILL_WAIT_SECONDS = 10.0
WATCH_INTERVAL_SECONDS = 0.2  # exit scan without inotify
RESCAN_SECONDS = 2.0  # with inotify: for what it cannot tell (a watch that could not be added)
LIVENESS_POLL_SECONDS = 0.1  # waiting for a file: how often to check its writer is still alive
EXEC_OUTPUT_LIMIT = 1 << 20


def rootfs_of(image: str) -> str:
    """An image naming an absolute directory is a root filesystem; anything else means the host."""
    return image if image.startswith("/") else ""


class ProcessRuntime:
    name = "process"
    version = "0.1.0"  # the Node's containerRuntimeVersion: process://0.1.0

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        self.layout = Layout(statedir.state_dir(config.root_dir, config.run_dir), logs=Path(config.root_dir) / "logs")
        self.network = PodNetwork(config.node_name, config.pod_cidr, self.layout.network)
        self.cgroups = CgroupManager(config.node_name)
        self.namespaces = os.geteuid() == 0  # unshare(CLONE_NEWPID...) needs CAP_SYS_ADMIN
        self._handler: ContainerEventHandler | None = None
        self._watched: dict[str, str] = {}  # container id -> pod uid, while not exited
        self.files = FileWatch()  # started.json and exit.json as they appear
        self._exit_seen = asyncio.Event()
        self._watch_task: asyncio.Task[None] | None = None
        self._launcher = SupervisorLauncher(log_path=self.layout.base / "supervisor-zygote.log")
        self._cgroups: dict[str, Cgroup] = {}  # container id -> its cgroup, for resource metrics

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        self.layout.pods.mkdir(parents=True, exist_ok=True)
        await self.network.start()
        if self.cgroups.missing:
            log.warning("cgroup limits partly unavailable: %s", self.cgroups.describe_missing())
        await asyncio.to_thread(self._forget_logs_of_unknown_pods)
        if self.files.start():
            self.files.listen("exit.json", lambda _directory: self._exit_seen.set())
        for cid in self.layout.container_ids():  # adopt: watch what is still going
            info = await self.container_status(cid)
            if info is not None and info.state != ContainerState.EXITED:
                self._watch(cid, info.pod_uid)
        self._watch_task = asyncio.create_task(self._watch_exits(), name="process-runtime-watch")

    async def close(self) -> None:
        if self._watch_task is not None:  # supervisors keep running; we just stop watching them
            await cancel_and_wait(self._watch_task)
        self._watch_task = None
        self.files.close()
        await self._launcher.close()

    def set_event_handler(self, handler: ContainerEventHandler) -> None:
        self._handler = handler

    def limitations(self) -> str:
        """What this node cannot enforce, for pod/node messages ("" when everything works)."""
        notes = []
        if not self.namespaces:
            notes.append("not root: containers run without PID/mount/UTS/IPC namespaces")
        if self.cgroups.missing:
            notes.append("resource limits not enforced: " + self.cgroups.describe_missing())
        return "; ".join(notes)

    def _watch(self, container_id: str, pod_uid: str) -> None:
        if container_id not in self._watched:
            self.files.hold(self.layout.container_dir(container_id))
        self._watched[container_id] = pod_uid

    def _unwatch(self, container_id: str) -> str | None:
        pod_uid = self._watched.pop(container_id, None)
        if pod_uid is not None:
            self.files.release(self.layout.container_dir(container_id))
        return pod_uid

    async def _watch_exits(self) -> None:
        """Tell the agent at once when a container exits (the supervisor writes exit.json)."""
        interval = RESCAN_SECONDS if self.files.active else WATCH_INTERVAL_SECONDS
        while True:
            await wait_event(self._exit_seen, interval)
            self._exit_seen.clear()
            for cid in list(self._watched):
                try:
                    exited = (self.layout.container_dir(cid) / "exit.json").exists()
                    gone = not self.layout.container_dir(cid).exists()
                except ValueError:
                    exited, gone = True, True
                if exited or gone:
                    pod_uid = self._unwatch(cid)
                    if self._handler is not None and exited and pod_uid is not None:
                        try:
                            self._handler(pod_uid)
                        except Exception:
                            log.exception("container event handler failed for pod %s", pod_uid)

    # ---- sandboxes -------------------------------------------------------------------

    async def create_sandbox(self, config: PodSandboxConfig) -> PodSandbox:
        path = self.layout.sandbox_file(config.pod_uid)
        record = read_struct(path, SandboxRecord)
        if record is not None and (record.host_network or Path(record.netns).exists()):  # noqa: ASYNC240
            return _sandbox(record)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = SandboxRecord(
            pod_uid=config.pod_uid,
            namespace=config.namespace,
            name=config.name,
            # a hostNetwork pod keeps the node's hostname, as in Kubernetes
            hostname="" if config.host_network else (config.hostname or config.name),
            pod_dir=config.pod_dir,
            created_at=time.time(),
        )
        if config.host_network or not self.network.enabled:
            record.host_network = True
            record.ip = self.config.node_ip
            if not config.host_network:
                record.message = self.network.reason
        else:
            try:
                net = await self.network.setup(config.pod_uid)
            except NetworkError as exc:
                raise RuntimeError_("CreatePodSandboxError", str(exc)) from exc
            record.ip, record.netns = net.ip, net.netns_path
        if limits := self.limitations():
            record.message = "; ".join(m for m in (record.message, limits) if m)
        write_struct(path, record)
        return _sandbox(record)

    async def remove_sandbox(self, pod_uid: str) -> None:
        # Kill stragglers first: a namespace with live processes outlives `ip netns del`, and
        # its address must not be handed out again while something still answers on it.
        await asyncio.to_thread(self.cgroups.remove_pod, pod_uid)
        await self.network.teardown(pod_uid)
        pod_dir = self.layout.pod_dir(pod_uid)
        self.layout.sandbox_file(pod_uid).unlink(missing_ok=True)
        containers = pod_dir / "containers"
        if not (containers.is_dir() and any(containers.iterdir())):
            shutil.rmtree(pod_dir, ignore_errors=True)
            for logs in self.layout.pod_log_dirs(pod_uid):
                shutil.rmtree(logs, ignore_errors=True)

    async def list_sandboxes(self) -> list[PodSandbox]:
        sandboxes = []
        if self.layout.pods.is_dir():
            for pod in sorted(self.layout.pods.iterdir()):
                record = read_struct(pod / "sandbox.json", SandboxRecord)
                if record is not None:
                    sandboxes.append(_sandbox(record))
        known = {s.pod_uid for s in sandboxes}
        for uid in self.network.pod_uids():  # an address without a record: half-created
            if uid not in known:
                sandboxes.append(
                    PodSandbox(id=uid, pod_uid=uid, ip=self.network.allocations()[uid])
                )
        return sandboxes

    # ---- images ----------------------------------------------------------------------

    async def ensure_image(self, image: str, pull_policy: str) -> ImageInfo:
        rootfs = rootfs_of(image)
        if not rootfs:
            return ImageInfo(id=f"host://{image}")  # runs on the host's filesystem
        if not Path(rootfs).is_dir():  # noqa: ASYNC240 - one stat
            reason = ERR_IMAGE_NEVER_PULL if pull_policy == "Never" else ERR_IMAGE_PULL
            raise ImageError(
                reason, f"root filesystem {rootfs} does not exist (the process runtime cannot pull)"
            )
        return ImageInfo(id=f"rootfs://{rootfs}")

    # ---- containers ------------------------------------------------------------------

    async def create_container(self, sandbox: PodSandbox, spec: ContainerSpec) -> str:
        if not spec.argv:
            raise ContainerStartError("CreateContainerError", "no command specified")
        cid = new_container_id(spec.pod_uid, spec.name, spec.attempt)
        cdir = self.layout.container_dir(cid)
        cdir.mkdir(parents=True)
        log_file = self.layout.log_file(spec, cid)  # its directory: made by the supervisor
        sandbox_record = read_struct(self.layout.sandbox_file(spec.pod_uid), SandboxRecord)
        rootfs = rootfs_of(spec.image)
        cgroup = self.cgroups.for_container(spec.pod_uid, cdir.name) if self.namespaces else None
        if cgroup is not None:
            try:
                await asyncio.to_thread(
                    cgroup.create,
                    memory_bytes=spec.resources.memory_bytes,
                    cpu_millis=spec.resources.cpu_millis,
                )
            except OSError as exc:
                await asyncio.to_thread(cgroup.remove)
                shutil.rmtree(cdir, ignore_errors=True)
                raise ContainerStartError("CreateContainerError", f"cgroup: {exc}") from exc
        record = ContainerRecord(
            id=cid,
            spec=spec,
            created_at=time.time(),
            log_path=str(log_file),
            rootfs=rootfs,
            namespaces=self.namespaces,
            cgroup=cgroup.to_record() if cgroup is not None else {},
        )
        pod_dir = (sandbox_record.pod_dir if sandbox_record else "") or str(cdir.parent.parent)
        netns = sandbox_record.netns if sandbox_record and self.namespaces else ""
        launch = {
            "argv": spec.argv,
            "env": spec.env,
            "cwd": spec.working_dir or ("/" if rootfs else pod_dir),
            # Made by the supervisor, not here: both are on the node's disk, where a new
            # directory cost the agent's one loop ~0.4 ms each in a burst of pod starts on this
            # ext4 without a journal (it skips every inode deleted in the last minute); the 50
            # supervisors of a burst make theirs side by side (docs/benchmarks.md).
            "make_dirs": [str(log_file.parent), *([pod_dir] if not spec.working_dir and not rootfs else [])],
            "rootfs": rootfs,
            "hostname": sandbox_record.hostname if sandbox_record else spec.pod_name,
            "netns": netns,
            "namespaces": self.namespaces,
            "mounts": [[m.host_path, m.container_path, m.read_only] for m in spec.mounts],
            "cgroup": record.cgroup,
            "log_path": record.log_path,
            "stdin": spec.stdin,
            "stdin_once": spec.stdin_once,
            "tty": spec.tty,
            "pid_target": self._pid_target(spec.target_container_id) if self.namespaces else 0,
        }
        (cdir / "launch.json").write_text(json.dumps(launch))
        write_struct(cdir / "record.json", record)
        return cid

    def _pid_target(self, container_id: str) -> int:
        """The host pid of a running container's init, whose PID namespace a debug container joins."""
        if not container_id:
            return 0
        started = read_struct(self.layout.container_dir(container_id) / "started.json", Started)
        if started is None or not is_same_process(started.pid, started.pid_start):
            return 0
        return started.pid

    async def start_container(self, container_id: str) -> None:
        record = self._record(container_id)
        if record is None:
            raise ContainerStartError("StartError", f"no such container {container_id}")
        cdir = self.layout.container_dir(container_id)
        try:
            pid = await self._launcher.spawn(cdir)
        except LaunchError as exc:
            raise ContainerStartError("StartError", str(exc)) from None
        record.supervisor_pid = pid
        record.supervisor_start = proc_start_ticks(pid) or 0
        write_struct(cdir / "record.json", record)
        self._watch(container_id, record.spec.pod_uid)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        started_path = cdir / "started.json"
        while (started := read_struct(started_path, Started)) is None:
            gone = not is_same_process(pid, record.supervisor_start)
            if gone or time.monotonic() > deadline:
                if not gone:  # too slow: make sure it cannot start the container later
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    if record.cgroup:
                        await asyncio.to_thread(Cgroup(record.cgroup).kill_all)
                if (started := read_struct(started_path, Started)) is not None:
                    break  # it wrote started.json as it ended
                detail = (cdir / "supervisor.log").read_text(errors="replace")[-2000:]
                raise ContainerStartError(
                    "StartError", f"container supervisor did not start the process: {detail}"
                )
            if started_path.exists():  # there but unreadable (torn by a crash): do not spin
                await asyncio.sleep(LIVENESS_POLL_SECONDS)
            else:
                await self.files.wait(started_path, LIVENESS_POLL_SECONDS)
        if started.error:
            raise ContainerStartError("StartError", started.error)

    async def stop_container(self, container_id: str, grace_seconds: float) -> None:
        record = self._record(container_id)
        if record is None:
            return
        cdir = self.layout.container_dir(container_id)
        started = read_struct(cdir / "started.json", Started)
        if started is None and record.supervisor_pid:
            # Being started right now: let it get to the point where it can be signalled.
            await self._wait_for(cdir / "started.json", START_TIMEOUT_SECONDS)
            started = read_struct(cdir / "started.json", Started)
        if started is None or self._ended(record, started, cdir):
            return
        self._signal(record, started, signal.SIGTERM)
        exit_file = cdir / "exit.json"
        if await self._wait_until(lambda: self._ended(record, started, cdir), max(0.0, grace_seconds), exit_file):
            return
        self._signal(record, started, signal.SIGKILL)
        if record.cgroup:
            await asyncio.to_thread(Cgroup(record.cgroup).kill_all)
        if not await self._wait_until(lambda: self._ended(record, started, cdir), KILL_WAIT_SECONDS, exit_file):
            raise RuntimeError_("KillContainerError", f"{container_id} did not exit after SIGKILL")

    @staticmethod
    def _ended(record: ContainerRecord, started: Started, cdir: Path) -> bool:
        """Its supervisor wrote exit.json, or neither it nor the container is alive (a killed
        supervisor writes nothing: status reports such a container as unknown)."""
        if (cdir / "exit.json").exists():
            return True
        return not (is_same_process(record.supervisor_pid, record.supervisor_start)
                    or is_same_process(started.pid, started.pid_start))

    async def _wait_until(self, done: Callable[[], bool], timeout: float, file: Path) -> bool:  # noqa: ASYNC109
        """Until `done()`, looked at when `file` appears and every LIVENESS_POLL_SECONDS (every
        50 ms without inotify); False after `timeout`."""
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self.files.active:
                await self.files.wait(file, min(left, LIVENESS_POLL_SECONDS))
            else:
                await asyncio.sleep(min(left, 0.05))
        return True

    def _signal(self, record: ContainerRecord, started: Started, sig: signal.Signals) -> None:
        if not is_same_process(started.pid, started.pid_start):
            return  # already gone (or the pid now belongs to someone else)
        with contextlib.suppress(ProcessLookupError):
            if record.namespaces:
                os.kill(started.pid, sig)  # the PID namespace init; SIGKILL ends the namespace
            else:
                os.killpg(started.pid, sig)  # the container's process group

    async def _wait_for(self, path: Path, timeout: float) -> bool:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while not await self.files.wait(path, min(LIVENESS_POLL_SECONDS, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                return False
        return True

    async def remove_container(self, container_id: str) -> None:
        record = self._record(container_id)
        if record is None:
            return
        info = await self.container_status(container_id)
        if info is not None and info.state == ContainerState.RUNNING:
            await self.stop_container(container_id, 0)
        if record.cgroup:
            await asyncio.to_thread(Cgroup(record.cgroup).remove)
        self._unwatch(container_id)
        shutil.rmtree(self.layout.container_dir(container_id), ignore_errors=True)
        Path(record.log_path).unlink(missing_ok=True)  # noqa: ASYNC240 - one unlink

    def _record(self, container_id: str) -> ContainerRecord | None:
        try:
            cdir = self.layout.container_dir(container_id)
        except ValueError:
            return None
        return read_struct(cdir / "record.json", ContainerRecord)

    async def container_status(self, container_id: str) -> ContainerInfo | None:
        record = self._record(container_id)
        if record is None:
            return None
        cdir = self.layout.container_dir(container_id)
        exited = read_struct(cdir / "exit.json", Exited)
        started = read_struct(cdir / "started.json", Started)
        init_alive = started is not None and is_same_process(started.pid, started.pid_start)
        supervisor_alive = is_same_process(record.supervisor_pid, record.supervisor_start)
        if exited is None and started is not None and not supervisor_alive:
            exited = read_struct(cdir / "exit.json", Exited)  # written as the supervisor ended
        return container_info(record, started, exited, init_alive, supervisor_alive)

    async def container_stats(self, container_id: str) -> ContainerStats | None:
        return (await asyncio.to_thread(self._read_stats, [container_id], False)).get(container_id)

    async def containers_stats(self, container_ids: list[str]) -> dict[str, ContainerStats]:
        """Every running container's usage in one trip to a thread (a resource metrics sample);
        the cgroups of containers not named any more are forgotten."""
        return await asyncio.to_thread(self._read_stats, container_ids, True)

    def _read_stats(self, container_ids: list[str], complete: bool) -> dict[str, ContainerStats]:
        out: dict[str, ContainerStats] = {}
        for cid in container_ids:
            cgroup = self._cgroups.get(cid)
            if cgroup is None:  # a container's cgroup never moves: its record is read once
                record = self._record(cid)
                if record is None or not record.cgroup:
                    continue
                cgroup = self._cgroups[cid] = Cgroup(record.cgroup)
            used = cgroup.usage()
            if used is not None:
                out[cid] = ContainerStats(cpu_ns=used[0], memory_bytes=used[1], at=time.time())
        if complete:
            for gone in set(self._cgroups) - set(container_ids):
                del self._cgroups[gone]
        return out

    async def list_containers(self) -> list[ContainerInfo]:
        infos = []
        for cid in self.layout.container_ids():
            info = await self.container_status(cid)
            if info is not None:
                infos.append(info)
        return infos

    def _exec_plan(self, container_id: str, argv: list[str], not_running: str,
                   ) -> tuple[ContainerRecord, list[str], dict[str, str], str | None]:
        """(record, argv to run, env, cwd) of a command inside a running container: nsenter into
        its namespaces, or in its working dir when it has none. RuntimeError_ when not running."""
        record = self._record(container_id)
        cdir = self.layout.container_dir(container_id) if record else None
        started = read_struct(cdir / "started.json", Started) if cdir else None
        if record is None or started is None or not is_same_process(started.pid, started.pid_start):
            raise RuntimeError_("ContainerNotRunning", not_running)
        env = dict(record.spec.env)
        env.setdefault("PATH", process_supervisor.DEFAULT_PATH)
        if record.namespaces:
            full = ["nsenter", "-t", str(started.pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w",
                    "--", *argv]  # fmt: skip
            return record, full, env, None
        launch = json.loads((cdir / "launch.json").read_text())  # type: ignore[operator]
        return record, argv, env, launch.get("cwd") or None  # the container's working dir

    async def exec(self, container_id: str, argv: list[str], timeout_seconds: float) -> ExecResult:
        record, full, env, cwd = self._exec_plan(
            container_id, argv, f"container {container_id} is not running")
        try:
            proc = await asyncio.create_subprocess_exec(
                *full,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,  # so a timeout can kill the whole group
            )
        except OSError as exc:
            return ExecResult(exit_code=126, output=str(exc).encode())
        if record.cgroup:  # charge the probe to the container, and die with it
            with contextlib.suppress(OSError):
                Cgroup(record.cgroup).add(proc.pid)
        try:
            async with asyncio.timeout(timeout_seconds):
                out, _ = await proc.communicate()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            return ExecResult(exit_code=-1, timed_out=True)
        code = proc.returncode if proc.returncode is not None else -1
        if code < 0:
            code = 128 - code  # killed by a signal
        return ExecResult(exit_code=code, output=out[:EXEC_OUTPUT_LIMIT])

    # ---- streaming: kubectl exec / port-forward ------------------------------------------

    async def exec_stream(self, container_id: str, argv: list[str], *, tty: bool, stdin: bool) -> ExecStream:
        """Like exec(), with streamed stdio (and a pty when tty) and no timeout."""
        record, full, env, cwd = self._exec_plan(
            container_id, argv, f'container not found ("{container_id}")')
        if tty:
            env.setdefault("TERM", "xterm")

        def into_cgroup(pid: int) -> None:
            if record.cgroup:
                with contextlib.suppress(OSError):
                    Cgroup(record.cgroup).add(pid)

        try:
            return await SubprocessExec.start(full, env, cwd, tty=tty, stdin=stdin, on_started=into_cgroup)
        except OSError as exc:
            raise RuntimeError_("StartError", f"exec {argv[:1]}: {exc}") from exc

    async def attach_stream(self, container_id: str) -> ExecStream:
        """kubectl attach: the running container's own stdio, through its supervisor."""
        not_running = f'container not found ("{container_id}")'
        if self._record(container_id) is None:
            raise RuntimeError_("ContainerNotRunning", not_running)
        try:
            return await ProcessAttach.connect(self.layout.container_dir(container_id))
        except OSError as exc:  # no supervisor listens: the container has ended
            raise RuntimeError_("ContainerNotRunning", not_running) from exc

    async def connect_port(self, pod_uid: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """127.0.0.1:port in the pod's network namespace (the host's on the host network)."""
        record = read_struct(self.layout.sandbox_file(pod_uid), SandboxRecord)
        if record is None:
            raise RuntimeError_("NotFound", f"no sandbox for pod {pod_uid}")
        return await netconnect.connect("127.0.0.1", port, "" if record.host_network else record.netns)

    async def accept_queue(self, pod_uid: str) -> int:
        record = read_struct(self.layout.sandbox_file(pod_uid), SandboxRecord)
        if record is None or record.host_network or not record.netns:
            return 0
        return await netconnect.accept_queue(record.netns)

    # ---- logs ------------------------------------------------------------------------

    def log_path(self, container_id: str) -> str | None:
        record = self._record(container_id)
        return record.log_path if record is not None else None

    def read_logs(self, container_id: str, options: LogOptions) -> AsyncIterator[bytes]:
        record = self._record(container_id)
        if record is None:
            raise RuntimeError_("NotFound", f"container {container_id} not found")
        cdir = self.layout.container_dir(container_id)

        def exited() -> bool:
            if (cdir / "exit.json").exists():
                return True
            return not is_same_process(record.supervisor_pid, record.supervisor_start)

        return read_log_file(Path(record.log_path), options, exited)

    # ---- tests and decommissioning ------------------------------------------------------

    async def destroy_everything(self) -> None:
        """Kill every container and remove all pod networks, cgroups, the bridge and files."""
        for cid in self.layout.container_ids():
            with contextlib.suppress(Exception):
                await self.stop_container(cid, 0)
            with contextlib.suppress(Exception):
                await self.remove_container(cid)
        if self.layout.pods.is_dir():
            for pod in list(self.layout.pods.iterdir()):
                await self.remove_sandbox(pod.name)
        await self.network.teardown_node()
        await asyncio.to_thread(self.cgroups.remove_node)
        await asyncio.to_thread(statedir.remove, self.config.root_dir)

    def _forget_logs_of_unknown_pods(self) -> None:
        """Remove the logs of pods this runtime has no record of: the records were on a tmpfs and
        the machine rebooted (its containers ended with it), or the records were removed by hand."""
        if not self.layout.logs.is_dir():
            return
        for logs in self.layout.logs.iterdir():
            uid = logs.name.rpartition("_")[2]
            if not self.layout.pod_dir(uid).is_dir():
                shutil.rmtree(logs, ignore_errors=True)


def _sandbox(record: SandboxRecord) -> PodSandbox:
    return PodSandbox(
        id=record.pod_uid,
        pod_uid=record.pod_uid,
        namespace=record.namespace,
        name=record.name,
        ip=record.ip,
        host_network=record.host_network,
        message=record.message,
    )
