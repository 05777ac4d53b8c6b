"""Records of the process runtime, and the container state they imply.

Layout under the runtime's state directory (statedir.py: on a tmpfs, `<root_dir>/process` links
to it):

    network/ipam.json                              pod uid -> IP (netns.py)
    pods/<pod uid>/sandbox.json                    SandboxRecord
    pods/<pod uid>/containers/<leaf>/record.json   ContainerRecord (written by the agent)
                                    /launch.json   what the supervisor runs
                                    /started.json  written by the supervisor once the init runs
                                    /exit.json     written by the supervisor when it has exited
                                    /supervisor.log the supervisor's own output

and on disk, under `<root_dir>/logs/` (they grow; a tmpfs is memory):

    <namespace>_<pod name>_<pod uid>/<leaf>.log    CRI-format log of one container attempt

A container id is `<pod uid>.<container name>.<attempt>.<random>` (pod uids and
container names hold no dots), so the id alone locates its directory.
"""

from __future__ import annotations

import functools
import os
import secrets
from pathlib import Path
from typing import TypeVar

import msgspec

from kubelite_nodeagent.runtime.base import (
    ContainerInfo,
    ContainerSpec,
    ContainerState,
    created_info,
)

SUPERVISOR_GRACE_EXIT_CODE = 137  # Kubernetes' code for a container that vanished
UNKNOWN_REASON = "ContainerStatusUnknown"

T = TypeVar("T")


class SandboxRecord(msgspec.Struct, kw_only=True):
    pod_uid: str
    namespace: str = ""
    name: str = ""
    hostname: str = ""
    ip: str = ""
    host_network: bool = False
    netns: str = ""  # path of the network namespace to join; "" = host network
    pod_dir: str = ""
    message: str = ""
    created_at: float = 0.0


class ContainerRecord(msgspec.Struct, kw_only=True):
    id: str
    spec: ContainerSpec
    created_at: float
    log_path: str
    rootfs: str = ""
    namespaces: bool = False  # own PID/mount/UTS/IPC namespaces (root only)
    cgroup: dict[str, str] = {}  # controller -> cgroup dir
    supervisor_pid: int = 0
    supervisor_start: int = 0  # /proc/<pid>/stat start ticks, to tell pid reuse apart


class Started(msgspec.Struct, kw_only=True):
    pid: int
    pid_start: int = 0
    supervisor_pid: int = 0
    started_at: float = 0.0
    error: str = ""


class Exited(msgspec.Struct, kw_only=True):
    exit_code: int
    signal: int = 0
    oom_killed: bool = False
    finished_at: float = 0.0
    error: str = ""


def new_container_id(pod_uid: str, name: str, attempt: int) -> str:
    return f"{pod_uid}.{name}.{attempt}.{secrets.token_hex(3)}"


def split_container_id(container_id: str) -> tuple[str, str]:
    """(pod uid, leaf dir name); ValueError when it is not one of ours."""
    pod_uid, sep, leaf = container_id.partition(".")
    if not sep or not pod_uid or "/" in container_id or leaf.count(".") != 2:
        raise ValueError(f"not a process-runtime container id: {container_id!r}")
    return pod_uid, leaf


PATH_CACHE = 4096  # paths remembered per kind: a node's pods and containers, many times over


class Layout:
    """Paths of the runtime's files."""

    def __init__(self, base: str | Path, *, logs: str | Path) -> None:
        self.base = Path(base)
        self.logs = Path(logs)
        self.pods = self.base / "pods"
        self.network = self.base / "network"
        # Remembered: each sync of each pod asks for these again, and building a Path costs
        # several microseconds (pathlib parses every part); in a burst of 50 pod starts path
        # building was a fifth of the node agent's CPU (bench/pod_startup_bench.py --burst).
        self.pod_dir = functools.lru_cache(maxsize=PATH_CACHE)(self._pod_dir)
        self.sandbox_file = functools.lru_cache(maxsize=PATH_CACHE)(self._sandbox_file)
        self.container_dir = functools.lru_cache(maxsize=PATH_CACHE)(self._container_dir)

    def _pod_dir(self, pod_uid: str) -> Path:
        return self.pods / pod_uid

    def _sandbox_file(self, pod_uid: str) -> Path:
        return self.pod_dir(pod_uid) / "sandbox.json"

    def _container_dir(self, container_id: str) -> Path:
        pod_uid, leaf = split_container_id(container_id)
        return self.pod_dir(pod_uid) / "containers" / leaf

    def log_file(self, spec: ContainerSpec, container_id: str) -> Path:
        """Where a container's log goes, named as kubelet names /var/log/pods' directories."""
        leaf = split_container_id(container_id)[1]
        return self.logs / f"{spec.namespace}_{spec.pod_name}_{spec.pod_uid}" / f"{leaf}.log"

    def pod_log_dirs(self, pod_uid: str) -> list[Path]:
        return list(self.logs.glob(f"*_{pod_uid}")) if self.logs.is_dir() else []

    def container_ids(self) -> list[str]:
        ids: list[str] = []
        if not self.pods.is_dir():
            return ids
        for pod in self.pods.iterdir():
            containers = pod / "containers"
            if containers.is_dir():
                ids.extend(f"{pod.name}.{c.name}" for c in containers.iterdir() if c.is_dir())
        return sorted(ids)


def write_struct(path: Path, value: msgspec.Struct) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(msgspec.json.encode(value))
    os.replace(tmp, path)  # atomic


def read_struct(path: Path, kind: type[T]) -> T | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=kind)
    except FileNotFoundError:
        return None
    except msgspec.DecodeError:
        return None  # half-written by an older crash; treated as absent


def proc_start_ticks(pid: int) -> int | None:
    """Start time of a live (or zombie) process in clock ticks; None if there is no such pid."""
    try:  # plain os calls: this runs several times per container start and status
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except (FileNotFoundError, ProcessLookupError):
        return None
    try:
        stat = os.read(fd, 4096).decode()
    except ProcessLookupError:  # it ended between the open and the read
        return None
    finally:
        os.close(fd)
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):  # exited, waiting to be reaped
        return None
    return int(fields[19])


def is_same_process(pid: int, start_ticks: int) -> bool:
    return pid > 0 and start_ticks > 0 and proc_start_ticks(pid) == start_ticks


def container_info(
    record: ContainerRecord,
    started: Started | None,
    exited: Exited | None,
    init_alive: bool,
    supervisor_alive: bool,
) -> ContainerInfo:
    """The container's state from its files and whether its processes still exist (pure)."""
    spec = record.spec
    info = created_info(record.id, spec, record.created_at)
    if started is not None and not started.error:
        info.started_at = started.started_at
    if exited is not None:
        info.state = ContainerState.EXITED
        info.exit_code = exited.exit_code
        info.finished_at = exited.finished_at
        if exited.error:
            info.reason, info.message = "StartError", exited.error
        elif exited.oom_killed:
            info.reason = "OOMKilled"
        else:
            info.reason = "Completed" if exited.exit_code == 0 else "Error"
        return info
    if started is not None and (init_alive or supervisor_alive):
        info.state = ContainerState.RUNNING
        return info
    if started is None and (supervisor_alive or record.supervisor_pid == 0):
        return info  # created, or starting right now
    # The supervisor is gone without recording an exit (killed, or the machine rebooted).
    info.state = ContainerState.EXITED
    info.exit_code = SUPERVISOR_GRACE_EXIT_CODE
    info.reason = UNKNOWN_REASON
    info.message = "The container could not be located when the node agent looked for it"
    return info
