"""The fake runtime: containers go through created → running → exited without running anything.

App containers and sidecars run until stopped (or `exit_container()`); init
containers complete with exit code 0 as soon as they start. A container whose env has
`KUBELITE_FAKE_EXIT_AFTER=<seconds>` exits on its own that long after starting, with
`KUBELITE_FAKE_EXIT_CODE` (default 0): batch workloads at scale (bench/job_bench.py).
A container with `KUBELITE_FAKE_CPU_MILLIS` / `KUBELITE_FAKE_MEMORY_BYTES` reports that
steady use in its stats (resource metrics and autoscaling at scale).

Everything is in memory and O(1) per call so one process can host hundreds of
fake nodes.  Pod IPs come from the node's pod CIDR as with a real runtime.
Tests drive exits with `exit_container()` and exec results with `exec_results`.

Like a real container engine, the fake "engine" outlives the agent: its state is
kept per (root dir, node) in this process, so an agent stopped and started again
in one process finds its containers and must adopt them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import time
from collections.abc import AsyncIterator

from kubelite_nodeagent.runtime.base import (
    ERR_IMAGE_NEVER_PULL,
    INVALID_IMAGE_NAME,
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
    created_info,
)

# Exit code of a process ended by SIGTERM (128 + 15), as a shell reports it.
SIGTERM_EXIT_CODE = 143
EXIT_AFTER, EXIT_CODE = "KUBELITE_FAKE_EXIT_AFTER", "KUBELITE_FAKE_EXIT_CODE"
CPU_MILLIS, MEMORY_BYTES = "KUBELITE_FAKE_CPU_MILLIS", "KUBELITE_FAKE_MEMORY_BYTES"


class _EngineState:
    def __init__(self) -> None:
        self.sandboxes: dict[str, PodSandbox] = {}  # by pod uid
        self.containers: dict[str, ContainerInfo] = {}
        self.ids = itertools.count(1)


_ENGINES: dict[tuple[str, str], _EngineState] = {}


class FakeRuntime:
    name = "fake"

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        engine = _ENGINES.setdefault((config.root_dir, config.node_name), _EngineState())
        self.sandboxes = engine.sandboxes
        self.containers = engine.containers
        self._ids = engine.ids
        self.images: set[str] = set()  # images "present" (for pull policy Never)
        self.missing_images: set[str] = set()  # images that Never-pull treats as absent
        self.exec_results: dict[tuple[str, str], int] = {}  # (pod uid, container name) -> exit code
        self._handler: ContainerEventHandler | None = None
        self._run_to_completion: set[str] = set()  # created init containers (not sidecars)
        self._timed_exits: dict[str, tuple[float, int]] = {}  # container -> (seconds, exit code)
        self._use: dict[str, tuple[int, int]] = {}  # container -> (millicores, memory bytes)
        net = ipaddress.ip_network(config.pod_cidr, strict=False)
        self._hosts = net.hosts()
        self._free_ips: list[str] = []
        next(self._hosts, None)  # .1 is the node's gateway address on a real bridge
        used = {sb.ip for sb in self.sandboxes.values()}
        self._hosts = (str(ip) for ip in self._hosts if str(ip) not in used)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def set_event_handler(self, handler: ContainerEventHandler) -> None:
        self._handler = handler

    # Sandboxes ----------------------------------------------------------
    async def create_sandbox(self, config: PodSandboxConfig) -> PodSandbox:
        existing = self.sandboxes.get(config.pod_uid)
        if existing is not None:
            return existing
        if config.host_network:
            ip, host = self.config.node_ip, True
        else:
            ip = self._free_ips.pop() if self._free_ips else next(self._hosts, "")
            host = False
        sandbox = PodSandbox(
            id=f"fake-sandbox-{config.pod_uid}",
            pod_uid=config.pod_uid,
            namespace=config.namespace,
            name=config.name,
            ip=ip,
            host_network=host,
        )
        self.sandboxes[config.pod_uid] = sandbox
        return sandbox

    async def remove_sandbox(self, pod_uid: str) -> None:
        sandbox = self.sandboxes.pop(pod_uid, None)
        if sandbox is not None and not sandbox.host_network and sandbox.ip:
            self._free_ips.append(sandbox.ip)

    async def list_sandboxes(self) -> list[PodSandbox]:
        return list(self.sandboxes.values())

    # Images -------------------------------------------------------------
    async def ensure_image(self, image: str, pull_policy: str) -> ImageInfo:
        if not image or any(c.isspace() for c in image) or image != image.strip():
            raise ImageError(
                INVALID_IMAGE_NAME,
                f'Failed to apply default image tag "{image}": invalid reference format',
            )
        if pull_policy == "Never" and image in self.missing_images:
            raise ImageError(
                ERR_IMAGE_NEVER_PULL,
                f'Container image "{image}" is not present with pull policy of Never',
            )
        self.images.add(image)
        return ImageInfo(id=f"fake://{image}")

    # Containers ---------------------------------------------------------
    async def create_container(self, sandbox: PodSandbox, spec: ContainerSpec) -> str:
        if not spec.argv and not spec.image:
            raise ContainerStartError("CreateContainerError", "no command specified")
        cid = f"fake-{next(self._ids)}"
        if spec.init and not spec.sidecar:
            self._run_to_completion.add(cid)
        try:
            self._use[cid] = (int(spec.env.get(CPU_MILLIS, "0")), int(spec.env.get(MEMORY_BYTES, "0")))
        except ValueError:
            raise ContainerStartError("CreateContainerError", f"{CPU_MILLIS}/{MEMORY_BYTES} must be integers") from None
        if EXIT_AFTER in spec.env:
            try:
                self._timed_exits[cid] = (float(spec.env[EXIT_AFTER]), int(spec.env.get(EXIT_CODE, "0")))
            except ValueError:
                raise ContainerStartError("CreateContainerError",
                                          f"{EXIT_AFTER}/{EXIT_CODE} must be numbers") from None
        self.containers[cid] = created_info(cid, spec, time.time())
        return cid

    async def start_container(self, container_id: str) -> None:
        info = self._get(container_id)
        info.state = ContainerState.RUNNING
        info.started_at = time.time()
        if container_id in self._run_to_completion:  # an init container "runs to completion" at once
            self._run_to_completion.discard(container_id)
            self._exit(info, 0, "Completed", notify=True)
        elif (timed := self._timed_exits.pop(container_id, None)) is not None:
            seconds, code = timed
            asyncio.get_running_loop().call_later(seconds, self._timed_exit, container_id, code)

    async def stop_container(self, container_id: str, grace_seconds: float) -> None:
        info = self.containers.get(container_id)
        if info is not None and info.state in (ContainerState.RUNNING, ContainerState.CREATED):
            self._exit(info, SIGTERM_EXIT_CODE, "Error", notify=False)

    async def remove_container(self, container_id: str) -> None:
        self.containers.pop(container_id, None)

    async def container_status(self, container_id: str) -> ContainerInfo | None:
        return self.containers.get(container_id)

    async def list_containers(self) -> list[ContainerInfo]:
        return list(self.containers.values())

    async def container_stats(self, container_id: str) -> ContainerStats | None:
        """A steady use from the container's env: millicores over its run so far, fixed memory."""
        info = self.containers.get(container_id)
        if info is None or info.state != ContainerState.RUNNING:
            return None
        millis, memory = self._use.get(container_id, (0, 0))
        now = time.time()
        return ContainerStats(cpu_ns=int(millis * 1_000_000 * (now - info.started_at)), memory_bytes=memory, at=now)

    async def exec(self, container_id: str, argv: list[str], timeout_seconds: float) -> ExecResult:
        info = self._get(container_id)
        if info.state != ContainerState.RUNNING:
            return ExecResult(exit_code=126, output=b"container is not running")
        return ExecResult(exit_code=self.exec_results.get((info.pod_uid, info.name), 0))

    # Streaming: nothing runs, so there is nothing to attach to.
    async def exec_stream(self, container_id: str, argv: list[str], *, tty: bool, stdin: bool) -> ExecStream:
        raise RuntimeError_("NotSupported", "the fake runtime runs no processes: exec is not supported")

    async def attach_stream(self, container_id: str) -> ExecStream:
        raise RuntimeError_("NotSupported", "the fake runtime runs no processes: attach is not supported")

    async def connect_port(self, pod_uid: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        raise RuntimeError_("NotSupported", "the fake runtime runs no processes: port-forward is not supported")

    async def accept_queue(self, pod_uid: str) -> int:
        return 0

    def log_path(self, container_id: str) -> str | None:
        return None

    async def read_logs(self, container_id: str, options: LogOptions) -> AsyncIterator[bytes]:
        self._get(container_id)
        return
        yield b""  # an async generator that yields nothing

    # Test controls ------------------------------------------------------
    def exit_container(self, container_id: str, exit_code: int, reason: str = "") -> None:
        """Make a running container exit (as if its process ended) and notify the agent."""
        info = self._get(container_id)
        self._exit(
            info, exit_code, reason or ("Completed" if exit_code == 0 else "Error"), notify=True
        )

    def _timed_exit(self, container_id: str, code: int) -> None:
        info = self.containers.get(container_id)
        if info is not None and info.state == ContainerState.RUNNING:
            self._exit(info, code, "Completed" if code == 0 else "Error", notify=True)

    def _exit(self, info: ContainerInfo, exit_code: int, reason: str, *, notify: bool) -> None:
        info.state = ContainerState.EXITED
        info.exit_code = exit_code
        info.reason = reason
        info.finished_at = time.time()
        if notify and self._handler is not None:
            self._handler(info.pod_uid)

    def _get(self, container_id: str) -> ContainerInfo:
        info = self.containers.get(container_id)
        if info is None:
            raise ContainerStartError("NotFound", f"no container {container_id}")
        return info
