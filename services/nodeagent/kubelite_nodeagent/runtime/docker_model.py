"""Pure translations between the runtime interface and the Docker Engine API's JSON.

No I/O here: `docker.py` sends what these functions build and feeds them what
Docker answers.  Field names are the Engine API's (v1.41, Docker 20.10+).
"""

from __future__ import annotations

import re
import struct
from datetime import datetime
from typing import Any

from kubelite_nodeagent.runtime.base import (
    LABEL_CONTAINER_NAME,
    LABEL_INIT,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    LABEL_RESTART_ATTEMPT,
    ContainerInfo,
    ContainerSpec,
    ContainerState,
    ImageInfo,
    PodSandbox,
    PodSandboxConfig,
    container_labels,
)

# Labels only the docker runtime adds: which node agent owns a container (several agents may
# share one daemon, as in tests and `kubelite up --nodes 2`), and which container is a sandbox.
LABEL_NODE = "io.kubelite.node"
LABEL_SANDBOX = "io.kubelite.sandbox"

# The pause process: PID 1 ignores SIGTERM unless it traps it, so trap it to stop at once.
SANDBOX_COMMAND = [
    "/bin/sh",
    "-c",
    "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done",
]

# Kubernetes' exit code for a container whose start failed (runc could not exec the command).
START_ERROR_EXIT_CODE = 128

# Per-container log rotation so a chatty container cannot fill the (vfs) disk.
LOG_CONFIG = {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "2"}}

# Docker's reference grammar, simplified: [host[:port]/]path[:tag][@digest], path lowercase.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?"
_REFERENCE = re.compile(
    rf"^{_HOST}{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::[\w][\w.-]{{0,127}})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{{32,}})?$"
)
_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")


def valid_image_reference(image: str) -> bool:
    return len(image) <= 255 and _REFERENCE.match(image) is not None


def network_name(node: str) -> str:
    return "kubelite-" + _NAME_UNSAFE.sub("-", node)


def _name_prefix(node: str, namespace: str, pod: str, pod_uid: str) -> str:
    return _NAME_UNSAFE.sub("-", f"kubelite_{node}_{namespace}_{pod}_{pod_uid[:8]}")


def sandbox_name(node: str, config: PodSandboxConfig) -> str:
    return _name_prefix(node, config.namespace, config.name, config.pod_uid) + "_sandbox"


def container_name(node: str, spec: ContainerSpec) -> str:
    prefix = _name_prefix(node, spec.namespace, spec.pod_name, spec.pod_uid)
    return f"{prefix}_{_NAME_UNSAFE.sub('-', spec.name)}_{spec.attempt}"


def network_config(node: str, pod_cidr: str, gateway: str) -> dict[str, Any]:
    return {
        "Name": network_name(node),
        "Driver": "bridge",
        "CheckDuplicate": True,
        "IPAM": {"Driver": "default", "Config": [{"Subnet": pod_cidr, "Gateway": gateway}]},
        "Labels": {LABEL_NODE: node},
    }


def network_subnets(network: dict[str, Any]) -> list[str]:
    return [c.get("Subnet", "") for c in ((network.get("IPAM") or {}).get("Config") or [])]


def sandbox_config(node: str, config: PodSandboxConfig, image: str, network: str) -> dict[str, Any]:
    labels = {
        **config.labels,
        LABEL_POD_UID: config.pod_uid,
        LABEL_POD_NAMESPACE: config.namespace,
        LABEL_POD_NAME: config.name,
        LABEL_NODE: node,
        LABEL_SANDBOX: "true",
    }
    host_config: dict[str, Any] = {
        "NetworkMode": "host" if config.host_network else network,
        "IpcMode": "shareable",  # app containers join it with IpcMode container:<sandbox>
        "LogConfig": LOG_CONFIG,
        "RestartPolicy": {"Name": "no"},
    }
    body: dict[str, Any] = {
        "Image": image,
        "Entrypoint": SANDBOX_COMMAND[:1],
        "Cmd": SANDBOX_COMMAND[1:],
        "Labels": labels,
        "HostConfig": host_config,
        "StopSignal": "SIGTERM",
    }
    if not config.host_network:
        body["Hostname"] = config.hostname[:63]
    return body


def container_config(node: str, sandbox_id: str, spec: ContainerSpec) -> dict[str, Any]:
    """The create body for an app/init container joined to the sandbox's network and IPC."""
    labels = {
        **spec.labels,
        **container_labels(
            spec.pod_uid, spec.namespace, spec.pod_name, spec.name, spec.attempt, spec.init
        ),
        LABEL_NODE: node,
    }
    host_config: dict[str, Any] = {
        "NetworkMode": f"container:{sandbox_id}",
        "IpcMode": f"container:{sandbox_id}",
        "Binds": [_bind(m.host_path, m.container_path, m.read_only) for m in spec.mounts],
        "LogConfig": LOG_CONFIG,
        "RestartPolicy": {"Name": "no"},  # the agent restarts, with Kubernetes' back-off
    }
    if spec.resources.memory_bytes is not None:
        host_config["Memory"] = spec.resources.memory_bytes
        host_config["MemorySwap"] = spec.resources.memory_bytes  # no swap beyond the limit
    if spec.resources.cpu_millis is not None:
        host_config["NanoCpus"] = spec.resources.cpu_millis * 1_000_000
    if spec.target_container_id:  # kubectl debug --target: see (and signal) that container's processes
        host_config["PidMode"] = f"container:{spec.target_container_id}"
    # argv is the full command line the agent resolved (command/args over ENTRYPOINT/CMD);
    # an explicit Entrypoint also stops Docker from appending the image's CMD.
    return {
        "Image": spec.image,
        "Entrypoint": spec.argv[:1],
        "Cmd": spec.argv[1:],
        "Env": [f"{k}={v}" for k, v in spec.env.items()],
        "WorkingDir": spec.working_dir,
        "Labels": labels,
        "Tty": spec.tty,
        "OpenStdin": spec.stdin,
        "StdinOnce": spec.stdin_once,
        "AttachStdin": False,
        "HostConfig": host_config,
    }


def _bind(host: str, container: str, read_only: bool) -> str:
    return f"{host}:{container}:{'ro' if read_only else 'rw'}"


def image_info(inspect: dict[str, Any]) -> ImageInfo:
    config = inspect.get("Config") or {}
    env: dict[str, str] = {}
    for item in config.get("Env") or []:
        key, _, value = item.partition("=")
        env[key] = value
    return ImageInfo(
        id="docker://" + inspect.get("Id", ""),
        entrypoint=list(config.get("Entrypoint") or []),
        cmd=list(config.get("Cmd") or []),
        working_dir=config.get("WorkingDir") or "",
        env=env,
    )


def parse_time(value: str | None) -> float:
    """Docker's RFC 3339 times (nanosecond precision, "0001-01-01T00:00:00Z" = never) as unix seconds."""
    if not value or value.startswith("0001-01-01"):
        return 0.0
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", value)
    if m is None:
        return 0.0
    base, frac, zone = m.groups()
    seconds = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone)).timestamp()
    return seconds + (float("0." + frac) if frac else 0.0)


def container_info(inspect: dict[str, Any]) -> ContainerInfo:
    labels: dict[str, str] = dict((inspect.get("Config") or {}).get("Labels") or {})
    state: dict[str, Any] = inspect.get("State") or {}
    status = state.get("Status", "")
    exit_code: int | None = None
    reason = message = ""
    started = parse_time(state.get("StartedAt"))
    finished = parse_time(state.get("FinishedAt"))
    if status in ("running", "paused", "restarting"):
        cstate = ContainerState.RUNNING
    elif status == "created" and state.get("Error"):
        # start failed (e.g. executable not found): Docker leaves it "created" with an error
        cstate, exit_code, reason, message = (
            ContainerState.EXITED,
            START_ERROR_EXIT_CODE,
            "StartError",
            state["Error"],
        )
        finished = finished or parse_time(inspect.get("Created"))
    elif status == "created":
        cstate = ContainerState.CREATED
    elif status in ("exited", "dead") or (status == "removing" and finished):
        cstate = ContainerState.EXITED
        exit_code = int(state.get("ExitCode", 0))
        if state.get("OOMKilled"):
            reason = "OOMKilled"
        else:
            reason = "Completed" if exit_code == 0 else "Error"
        message = state.get("Error") or ""
    else:
        cstate = ContainerState.UNKNOWN
    try:
        attempt = int(labels.get(LABEL_RESTART_ATTEMPT, "0"))
    except ValueError:
        attempt = 0
    return ContainerInfo(
        id=inspect.get("Id", ""),
        pod_uid=labels.get(LABEL_POD_UID, ""),
        namespace=labels.get(LABEL_POD_NAMESPACE, ""),
        pod_name=labels.get(LABEL_POD_NAME, ""),
        name=labels.get(LABEL_CONTAINER_NAME, ""),
        attempt=attempt,
        state=cstate,
        image=(inspect.get("Config") or {}).get("Image", ""),
        image_id="docker://" + inspect.get("Image", "") if inspect.get("Image") else "",
        exit_code=exit_code,
        reason=reason,
        message=message,
        created_at=parse_time(inspect.get("Created")),
        started_at=started,
        # a process that exits at once can get a FinishedAt a hair before Docker's StartedAt
        finished_at=max(finished, started) if cstate == ContainerState.EXITED else 0.0,
        init=labels.get(LABEL_INIT) == "true",
        labels=labels,
    )


def sandbox_info(inspect: dict[str, Any], network: str, node_ip: str) -> PodSandbox:
    labels: dict[str, str] = (inspect.get("Config") or {}).get("Labels") or {}
    host = (inspect.get("HostConfig") or {}).get("NetworkMode") == "host"
    networks = (inspect.get("NetworkSettings") or {}).get("Networks") or {}
    ip = node_ip if host else (networks.get(network) or {}).get("IPAddress", "")
    return PodSandbox(
        id=inspect.get("Id", ""),
        pod_uid=labels.get(LABEL_POD_UID, ""),
        namespace=labels.get(LABEL_POD_NAMESPACE, ""),
        name=labels.get(LABEL_POD_NAME, ""),
        ip=ip,
        host_network=host,
    )


class LogDemuxer:
    """Splits Docker's multiplexed stream (8-byte header: stream, 0, 0, 0, big-endian length)
    into payloads; fed arbitrary chunks, returns the complete frames' payloads."""

    HEADER = struct.Struct(">BxxxL")

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        self._buf += chunk
        out: list[bytes] = []
        while len(self._buf) >= self.HEADER.size:
            _, length = self.HEADER.unpack_from(self._buf)
            end = self.HEADER.size + length
            if len(self._buf) < end:
                break
            if length:
                out.append(bytes(self._buf[self.HEADER.size : end]))
            del self._buf[:end]
        return out


def docker_usage(stats: dict[str, Any]) -> tuple[int, int] | None:
    """(CPU ns, memory working set) from one Docker stats sample, as the kubelet's cadvisor reads
    cgroups: usage minus the inactive file cache (cgroup v1 `total_inactive_file`, v2
    `inactive_file`). None for a container that is not running (no CPU figures)."""
    cpu = ((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")
    memory = stats.get("memory_stats") or {}
    if not cpu or "usage" not in memory:
        return None
    detail = memory.get("stats") or {}
    inactive = detail.get("total_inactive_file", detail.get("inactive_file", 0))
    return int(cpu), max(0, int(memory["usage"]) - int(inactive))
