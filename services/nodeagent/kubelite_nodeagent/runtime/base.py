"""The container runtime interface the node agent drives (process, docker, fake).

The agent owns all Kubernetes semantics (env resolution, volumes on the host,
restart policy, probes, status); a runtime only runs what it is given.  Every
value crossing this boundary is already resolved: argv fragments with $(VAR)
expanded, env as a dict, mounts as host paths, limits as numbers.

Adoption: each container carries labels (LABEL_*) so a restarted agent finds
what it was running through `list_containers()` and `list_sandboxes()`.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Callable
from typing import Protocol, runtime_checkable

import msgspec

# Labels every runtime puts on each container (and sandbox, where it has one).
LABEL_POD_UID = "io.kubelite.pod.uid"
LABEL_POD_NAMESPACE = "io.kubelite.pod.namespace"
LABEL_POD_NAME = "io.kubelite.pod.name"
LABEL_CONTAINER_NAME = "io.kubelite.container.name"
LABEL_RESTART_ATTEMPT = "io.kubelite.container.attempt"
LABEL_INIT = "io.kubelite.container.init"  # "true" for an initContainer
LABEL_EPHEMERAL = "io.kubelite.container.ephemeral"  # "true" for an ephemeral container (kubectl debug)

# Image errors: the `reason` of an ImageError is one of these (Kubernetes' waiting reasons).
ERR_IMAGE_PULL = "ErrImagePull"
IMAGE_PULL_BACKOFF = "ImagePullBackOff"  # set by the agent on retries, not by runtimes
ERR_IMAGE_NEVER_PULL = "ErrImageNeverPull"
INVALID_IMAGE_NAME = "InvalidImageName"


class RuntimeConfig(msgspec.Struct, kw_only=True):
    """What a runtime is constructed with (`Runtime(config)`)."""

    node_name: str
    root_dir: str  # the agent's state dir; runtimes keep their files under root_dir/<runtime>
    pod_cidr: str  # e.g. "10.244.3.0/24": pod IPs come from here
    node_ip: str  # the node's InternalIP (pod IP when on the host network)
    run_dir: str = ""  # the agent's directory on a tmpfs (statedir.run_dir); "": found by the runtime


class RuntimeError_(Exception):  # trailing _: not the builtin RuntimeError
    """A runtime operation failed; `reason` becomes the container's waiting/terminated reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class ImageError(RuntimeError_):
    """ensure_image failed; reason is ERR_IMAGE_PULL / ERR_IMAGE_NEVER_PULL / INVALID_IMAGE_NAME."""


class ContainerStartError(RuntimeError_):
    """create/start failed (e.g. executable not found): reason 'StartError' or 'CreateContainerError'."""


class PortMapping(msgspec.Struct, frozen=True):
    """A container port published on the node (containers[].ports[].hostPort)."""

    container_port: int
    host_port: int
    protocol: str = "TCP"  # TCP | UDP | SCTP
    host_ip: str = ""  # "" = all node addresses


class PodSandboxConfig(msgspec.Struct, kw_only=True):
    pod_uid: str
    namespace: str
    name: str
    hostname: str  # pod hostname (spec.hostname or pod name)
    host_network: bool = False  # spec.hostNetwork
    pod_dir: str = ""  # agent's per-pod dir (volumes live below it); runtimes may keep files here
    labels: dict[str, str] = {}
    port_mappings: list[PortMapping] = []  # hostPorts of all containers of the pod


class PodSandbox(msgspec.Struct, kw_only=True):
    """The pod's shared network (and whatever else containers of one pod share)."""

    id: str
    pod_uid: str
    namespace: str = ""
    name: str = ""
    ip: str = ""  # status.podIP
    host_network: bool = False  # True when the pod runs on the host network
    message: str = ""  # human-readable note, e.g. "not root: pod runs on the host network"


class ImageInfo(msgspec.Struct, kw_only=True):
    """What the image contributes to the command line (docker: ENTRYPOINT/CMD; process: nothing)."""

    id: str = ""  # containerStatuses[].imageID
    entrypoint: list[str] = []
    cmd: list[str] = []
    working_dir: str = ""
    env: dict[str, str] = {}


class Mount(msgspec.Struct, frozen=True):
    host_path: str
    container_path: str
    read_only: bool = False


class Resources(msgspec.Struct, kw_only=True):
    """resources.limits converted: None means unlimited."""

    cpu_millis: int | None = None
    memory_bytes: int | None = None


class ContainerSpec(msgspec.Struct, kw_only=True):
    """A container ready to run: everything resolved by the agent."""

    pod_uid: str
    namespace: str
    pod_name: str
    name: str  # container name
    attempt: int  # restart attempt (0 for the first run); becomes restartCount
    image: str
    image_info: ImageInfo = msgspec.field(default_factory=ImageInfo)
    argv: list[str]  # full command line, see resolve_argv(); never empty after resolution
    env: dict[str, str] = {}
    working_dir: str = ""  # "" = image default (docker) / the pod dir (process)
    mounts: list[Mount] = []
    resources: Resources = msgspec.field(default_factory=Resources)
    labels: dict[str, str] = {}  # LABEL_* filled by the agent (see container_labels())
    tty: bool = False
    stdin: bool = False
    stdin_once: bool = False  # stdin closes when the first attach session ends
    target_container_id: str = ""  # an ephemeral container's targetContainerName: share its PID namespace
    init: bool = False
    sidecar: bool = False  # an init container with restartPolicy Always: runs alongside the app


class ContainerState(enum.StrEnum):
    CREATED = "created"  # created, not started yet
    RUNNING = "running"
    EXITED = "exited"
    UNKNOWN = "unknown"


class ContainerStats(msgspec.Struct, kw_only=True):
    """A container's resource use at one moment (the kubelet's CRI ContainerStats, cut down):
    cumulative CPU time and the memory working set (usage minus inactive file cache)."""

    cpu_ns: int  # CPU time used since the container started
    memory_bytes: int  # working set
    at: float  # unix seconds when read


class ContainerInfo(msgspec.Struct, kw_only=True):
    """What a runtime knows about one container it manages."""

    id: str
    pod_uid: str
    namespace: str
    pod_name: str
    name: str  # container name
    attempt: int
    state: ContainerState
    image: str = ""
    image_id: str = ""
    exit_code: int | None = None  # set when EXITED
    reason: str = ""  # when EXITED: "OOMKilled", "Error", "Completed" ("" lets the agent decide)
    message: str = ""
    created_at: float = 0.0  # unix seconds
    started_at: float = 0.0  # 0 = never started
    finished_at: float = 0.0  # 0 = not finished
    init: bool = False
    labels: dict[str, str] = {}


def created_info(container_id: str, spec: ContainerSpec, created_at: float) -> ContainerInfo:
    """The ContainerInfo of a container just created from `spec` (not started yet)."""
    return ContainerInfo(
        id=container_id, pod_uid=spec.pod_uid, namespace=spec.namespace, pod_name=spec.pod_name,
        name=spec.name, attempt=spec.attempt, state=ContainerState.CREATED, image=spec.image,
        image_id=spec.image_info.id, created_at=created_at, init=spec.init, labels=dict(spec.labels),
    )


class ExecResult(msgspec.Struct, kw_only=True):
    exit_code: int
    output: bytes = b""  # stdout+stderr, possibly truncated
    timed_out: bool = False


class LogOptions(msgspec.Struct, kw_only=True):
    tail_lines: int | None = None  # last N lines only
    follow: bool = False  # keep streaming until the container exits
    timestamps: bool = False  # prefix each line with RFC3339Nano time and a space
    since_seconds: int | None = None
    limit_bytes: int | None = None


class ExecStream(Protocol):
    """An interactive exec (kubectl exec) started by `Runtime.exec_stream`.

    With a tty, stderr is merged into stdout (read_stderr returns b"" at once).
    """

    async def read_stdout(self) -> bytes:
        """Next chunk of output; b"" at EOF."""

    async def read_stderr(self) -> bytes:
        """Next chunk of error output; b"" at EOF."""

    async def write_stdin(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None:
        """EOF on the process' stdin."""

    async def resize(self, width: int, height: int) -> None:
        """Resize the terminal (no-op without a tty)."""

    async def wait(self) -> int:
        """The exit code (128+signal when killed) once the process ended."""

    async def kill(self) -> None:
        """End the process (the client went away); idempotent."""


# Called by a runtime when a container of a pod changes state (exits, OOM), with the pod uid,
# so the agent re-checks that pod at once rather than at its next periodic sync.
ContainerEventHandler = Callable[[str], None]


@runtime_checkable
class Runtime(Protocol):
    """Async runtime interface. All methods may raise RuntimeError_ (or subclasses)."""

    name: str  # "process" | "docker" | "fake"

    async def start(self) -> None:
        """Connect / prepare (dirs, bridge, docker network); called once before anything else."""

    async def close(self) -> None:
        """Release connections and background tasks; leaves containers running (for adoption)."""

    def set_event_handler(self, handler: ContainerEventHandler) -> None:
        """Register the agent's callback for container state changes (see ContainerEventHandler)."""

    async def create_sandbox(self, config: PodSandboxConfig) -> PodSandbox:
        """Create (or return the existing, idempotently by pod uid) network sandbox of a pod."""

    async def remove_sandbox(self, pod_uid: str) -> None:
        """Tear down a pod's sandbox (network namespace, IP, docker pause/network); no-op if absent."""

    async def list_sandboxes(self) -> list[PodSandbox]:
        """All sandboxes this runtime manages on this node (for adoption and orphan removal)."""

    async def ensure_image(self, image: str, pull_policy: str) -> ImageInfo:
        """Make the image available per imagePullPolicy Always/IfNotPresent/Never; raise ImageError."""

    async def create_container(self, sandbox: PodSandbox, spec: ContainerSpec) -> str:
        """Create a container in the sandbox, return its id; raise ContainerStartError."""

    async def start_container(self, container_id: str) -> None:
        """Start a created container; raise ContainerStartError (it is then EXITED, code 128)."""

    async def stop_container(self, container_id: str, grace_seconds: float) -> None:
        """SIGTERM, wait up to grace_seconds, then SIGKILL; returns once it has exited."""

    async def remove_container(self, container_id: str) -> None:
        """Delete a stopped container and its logs; no-op if absent."""

    async def container_status(self, container_id: str) -> ContainerInfo | None:
        """Current state of one container, None if unknown."""

    async def list_containers(self) -> list[ContainerInfo]:
        """Every container this runtime manages on this node, running or exited."""

    async def container_stats(self, container_id: str) -> ContainerStats | None:
        """CPU and memory use of a running container; None when unknown or not measurable."""

    async def exec(self, container_id: str, argv: list[str], timeout_seconds: float) -> ExecResult:
        """Run argv inside the container (its namespaces/env); timed_out=True when over timeout_seconds."""

    def log_path(self, container_id: str) -> str | None:
        """Where this container's log file is, if the runtime keeps one (None for docker/fake)."""

    def read_logs(self, container_id: str, options: LogOptions) -> AsyncIterator[bytes]:
        """Stream the container's log output as chunks; ends at EOF or, with follow, at exit."""

    # ---- streaming (kubectl exec / port-forward) ----
    async def exec_stream(self, container_id: str, argv: list[str], *, tty: bool, stdin: bool) -> ExecStream:
        """Start argv inside a running container with streamed stdio; RuntimeError_ when it cannot."""

    async def attach_stream(self, container_id: str) -> ExecStream:
        """The running container's own stdio (kubectl attach): output from now on, input to its
        stdin when it has one (else dropped, as containerd does); kill() detaches."""

    async def connect_port(self, pod_uid: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to 127.0.0.1:port inside the pod's network namespace; OSError/RuntimeError_."""

    async def accept_queue(self, pod_uid: str) -> int:
        """Connections the pod's listening sockets completed that no process accepted yet
        (0 when unknown, or on the host network); OSError when the namespace cannot be read."""


def resolve_argv(command: list[str] | None, args: list[str] | None, image: ImageInfo) -> list[str]:
    """The command line as Kubernetes defines it.

    command set: command + args (the image's CMD is ignored); only args: image
    ENTRYPOINT + args; neither: ENTRYPOINT + CMD.  For images without an
    entrypoint (the process runtime) `args` alone is therefore the whole command.
    """
    if command:
        return [*command, *(args or [])]
    if args:
        return [*image.entrypoint, *args]
    return [*image.entrypoint, *image.cmd]


def container_labels(
    pod_uid: str, namespace: str, pod_name: str, container: str, attempt: int, init: bool = False,
    ephemeral: bool = False,
) -> dict[str, str]:
    """The labels every managed container carries (adoption after an agent restart)."""
    labels = {
        LABEL_POD_UID: pod_uid,
        LABEL_POD_NAMESPACE: namespace,
        LABEL_POD_NAME: pod_name,
        LABEL_CONTAINER_NAME: container,
        LABEL_RESTART_ATTEMPT: str(attempt),
    }
    if init:
        labels[LABEL_INIT] = "true"
    if ephemeral:
        labels[LABEL_EPHEMERAL] = "true"
    return labels
