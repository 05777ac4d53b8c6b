"""The docker runtime: the Runtime interface (base.py) on the Docker Engine API via aiodocker.

A pod is a small "pause" sandbox container (the local busybox image running a
wait loop) on the node's Docker bridge network `kubelite-<node>`, whose subnet
is the node's pod CIDR; app containers join the sandbox's network and IPC
namespaces, so containers of a pod reach each other on localhost and the pod IP
is the sandbox's.  Every container carries the LABEL_* labels plus LABEL_NODE,
so a restarted agent finds (adopts) what it runs with list_containers().

Env: KUBELITE_DOCKER_HOST (else DOCKER_HOST, else the local socket),
KUBELITE_DOCKER_SANDBOX_IMAGE (default kubelite/busybox:latest),
KUBELITE_DOCKER_PULL_TIMEOUT (seconds, default 120).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import math
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import aiodocker
import aiohttp
from aiodocker.exceptions import DockerError

from kubelite.tasks import cancel_and_wait
from kubelite_nodeagent.runtime import netconnect
from kubelite_nodeagent.runtime.base import (
    ERR_IMAGE_NEVER_PULL,
    ERR_IMAGE_PULL,
    INVALID_IMAGE_NAME,
    LABEL_CONTAINER_NAME,
    LABEL_POD_UID,
    ContainerEventHandler,
    ContainerInfo,
    ContainerSpec,
    ContainerStartError,
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
from kubelite_nodeagent.runtime.docker_exec import DockerAttach, DockerExec
from kubelite_nodeagent.runtime.docker_iptables import allow_pod_traffic, remove_pod_traffic_rules
from kubelite_nodeagent.runtime.docker_model import (
    LABEL_NODE,
    LABEL_SANDBOX,
    LogDemuxer,
    container_config,
    container_info,
    container_name,
    docker_usage,
    image_info,
    network_config,
    network_name,
    network_subnets,
    sandbox_config,
    sandbox_info,
    sandbox_name,
    valid_image_reference,
)

log = logging.getLogger(__name__)

DEFAULT_SANDBOX_IMAGE = "kubelite/busybox:latest"
MAX_EXEC_OUTPUT = 10 * 1024  # the kubelet keeps at most 10 KiB of probe output
NO_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_read=None, connect=30)


class DockerRuntime:
    name = "docker"

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        self.network = network_name(config.node_name)
        self.sandbox_image = os.environ.get("KUBELITE_DOCKER_SANDBOX_IMAGE", DEFAULT_SANDBOX_IMAGE)
        self.pull_timeout = float(os.environ.get("KUBELITE_DOCKER_PULL_TIMEOUT", "120"))
        self._url = (
            os.environ.get("KUBELITE_DOCKER_HOST") or None
        )  # None: aiodocker's DOCKER_HOST/socket
        self._docker: aiodocker.Docker | None = None
        self._handler: ContainerEventHandler | None = None
        self._events_task: asyncio.Task[None] | None = None

    # Lifecycle ----------------------------------------------------------
    async def start(self) -> None:
        self._docker = aiodocker.Docker(url=self._url)
        try:
            await self._docker.version()
        except (DockerError, aiohttp.ClientError, OSError) as exc:
            await self._docker.close()
            self._docker = None
            raise RuntimeError_("DockerUnavailable", f"no Docker daemon answers: {exc}") from exc
        await self._ensure_network()
        problem = await allow_pod_traffic(self.network, self.config.pod_cidr)
        if problem:
            log.warning("pods of other nodes cannot reach this node's pods: %s", problem)
        self._events_task = asyncio.create_task(self._watch_events(), name="docker-events")

    async def close(self) -> None:
        if self._events_task is not None:
            await cancel_and_wait(self._events_task)
            self._events_task = None
        if self._docker is not None:
            await self._docker.close()
            self._docker = None

    def set_event_handler(self, handler: ContainerEventHandler) -> None:
        self._handler = handler

    @property
    def docker(self) -> aiodocker.Docker:
        if self._docker is None:
            raise RuntimeError_("DockerUnavailable", "docker runtime not started")
        return self._docker

    async def _ensure_network(self) -> None:
        net = ipaddress.ip_network(self.config.pod_cidr, strict=False)
        try:
            existing = await self.docker.networks.get(self.network)
            info = await existing.show()
        except DockerError as exc:
            if exc.status != 404:
                raise RuntimeError_(
                    "NetworkError", f"inspecting network {self.network}: {exc.message}"
                ) from exc
        else:
            if str(net) not in network_subnets(info):
                raise RuntimeError_(
                    "NetworkError",
                    f"Docker network {self.network} has subnets {network_subnets(info)}, not the node's pod "
                    f"CIDR {net}; remove it (docker network rm {self.network}) or use the matching CIDR",
                )
            return
        gateway = str(next(net.hosts()))
        try:
            await self.docker.networks.create(
                network_config(self.config.node_name, str(net), gateway)
            )
        except DockerError as exc:
            if exc.status == 409:  # created concurrently (another agent of this node name)
                return
            raise RuntimeError_(
                "NetworkError", f"creating network {self.network} ({net}): {exc.message}"
            ) from exc

    async def destroy_network(self) -> None:
        """Remove the node's Docker network and its iptables rules (not part of Runtime: for
        tests and node decommissioning; pods must be gone first)."""
        await remove_pod_traffic_rules(self.network, self.config.pod_cidr)
        try:
            await (await self.docker.networks.get(self.network)).delete()
        except DockerError as exc:
            if exc.status != 404:
                raise RuntimeError_(
                    "NetworkError", f"removing {self.network}: {exc.message}"
                ) from exc

    async def _watch_events(self) -> None:
        """Tell the agent at once when a container of a pod dies or is OOM-killed."""
        filters = {
            "type": ["container"],
            "event": ["die", "oom"],
            "label": [f"{LABEL_NODE}={self.config.node_name}"],
        }
        params = {"filters": json.dumps(filters), "since": str(int(time.time()))}
        while True:
            try:
                async with self.docker._query("events", params=params, timeout=NO_TIMEOUT) as resp:
                    async for line in resp.content:
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        params["since"] = str(event.get("time", params["since"]))
                        uid = ((event.get("Actor") or {}).get("Attributes") or {}).get(
                            LABEL_POD_UID
                        )
                        if uid and self._handler is not None:
                            self._handler(uid)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the daemon restarted or the stream broke: resubscribe
                log.warning("docker event stream ended (%s); resubscribing", exc)
            await asyncio.sleep(1)

    # Sandboxes ----------------------------------------------------------
    async def _find(self, *labels: str, all_: bool = True) -> list[dict[str, Any]]:
        filters = {"label": [f"{LABEL_NODE}={self.config.node_name}", *labels]}
        containers = await self.docker.containers.list(all=all_, filters=json.dumps(filters))
        return [c._container for c in containers]

    async def _inspect(self, container_id: str) -> dict[str, Any] | None:
        try:
            return await self.docker.containers.container(container_id).show()
        except DockerError as exc:
            if exc.status == 404:
                return None
            raise RuntimeError_("DockerError", f"inspecting {container_id}: {exc.message}") from exc

    async def _sandbox_inspect(self, pod_uid: str) -> dict[str, Any] | None:
        found = await self._find(f"{LABEL_SANDBOX}=true", f"{LABEL_POD_UID}={pod_uid}")
        return await self._inspect(found[0]["Id"]) if found else None

    async def create_sandbox(self, config: PodSandboxConfig) -> PodSandbox:
        inspect = await self._sandbox_inspect(config.pod_uid)
        if inspect is not None and (inspect.get("State") or {}).get("Running"):
            return sandbox_info(inspect, self.network, self.config.node_ip)
        if inspect is not None:  # died (daemon restart, killed): a fresh one, as the kubelet does
            await self._force_remove(inspect["Id"])
        await self._require_local_image(self.sandbox_image, "sandbox image")
        body = sandbox_config(self.config.node_name, config, self.sandbox_image, self.network)
        name = sandbox_name(self.config.node_name, config)
        try:
            container = await self.docker.containers.create(body, name=name)
        except DockerError as exc:
            if exc.status == 409:  # a stale sandbox of that name (not labelled for this node?)
                raise RuntimeError_(
                    "CreatePodSandboxError", f"sandbox name {name} in use: {exc.message}"
                ) from exc
            raise RuntimeError_(
                "CreatePodSandboxError", f"creating sandbox: {exc.message}"
            ) from exc
        try:
            await container.start()
        except DockerError as exc:
            await self._force_remove(container.id)
            raise RuntimeError_(
                "CreatePodSandboxError", f"starting sandbox: {exc.message}"
            ) from exc
        inspect = await self._inspect(container.id)
        if inspect is None:
            raise RuntimeError_("CreatePodSandboxError", "sandbox vanished right after start")
        sandbox = sandbox_info(inspect, self.network, self.config.node_ip)
        if not sandbox.ip:
            await self._force_remove(container.id)
            raise RuntimeError_(
                "CreatePodSandboxError", f"sandbox got no IP on network {self.network}"
            )
        return sandbox

    async def remove_sandbox(self, pod_uid: str) -> None:
        for c in await self._find(f"{LABEL_SANDBOX}=true", f"{LABEL_POD_UID}={pod_uid}"):
            await self._force_remove(c["Id"])

    async def list_sandboxes(self) -> list[PodSandbox]:
        found = await self._find(f"{LABEL_SANDBOX}=true")
        inspects = await asyncio.gather(*(self._inspect(c["Id"]) for c in found))
        return [
            sandbox_info(i, self.network, self.config.node_ip) for i in inspects if i is not None
        ]

    # Images -------------------------------------------------------------
    async def _image_inspect(self, image: str) -> dict[str, Any] | None:
        try:
            return await self.docker.images.inspect(image)
        except DockerError as exc:
            if exc.status == 404:
                return None
            raise ImageError(ERR_IMAGE_PULL, f'inspecting image "{image}": {exc.message}') from exc

    async def _require_local_image(self, image: str, what: str) -> dict[str, Any]:
        inspect = await self._image_inspect(image)
        if inspect is None:
            raise RuntimeError_(
                "CreatePodSandboxError",
                f'{what} "{image}" is not present (build it with scripts/build-busybox-image.sh '
                "or set KUBELITE_DOCKER_SANDBOX_IMAGE)",
            )
        return inspect

    async def ensure_image(self, image: str, pull_policy: str) -> ImageInfo:
        if not valid_image_reference(image):
            raise ImageError(
                INVALID_IMAGE_NAME,
                f'Failed to apply default image tag "{image}": invalid reference format',
            )
        if pull_policy != "Always":
            inspect = await self._image_inspect(image)
            if inspect is not None:
                return image_info(inspect)
            if pull_policy == "Never":
                raise ImageError(
                    ERR_IMAGE_NEVER_PULL,
                    f'Container image "{image}" is not present with pull policy of Never',
                )
        await self._pull(image)
        inspect = await self._image_inspect(image)
        if inspect is None:
            raise ImageError(
                ERR_IMAGE_PULL, f'Failed to pull image "{image}": not present after the pull'
            )
        return image_info(inspect)

    async def _pull(self, image: str) -> None:
        try:
            async with asyncio.timeout(self.pull_timeout):
                await self.docker.images.pull(image)
        except TimeoutError as exc:
            raise ImageError(
                ERR_IMAGE_PULL,
                f'Failed to pull image "{image}": no answer within {self.pull_timeout:g}s',
            ) from exc
        except DockerError as exc:
            raise ImageError(
                ERR_IMAGE_PULL, f'Failed to pull image "{image}": {exc.message}'
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise ImageError(ERR_IMAGE_PULL, f'Failed to pull image "{image}": {exc}') from exc

    # Containers ---------------------------------------------------------
    async def create_container(self, sandbox: PodSandbox, spec: ContainerSpec) -> str:
        if not spec.argv:
            raise ContainerStartError("CreateContainerError", "no command specified")
        name = container_name(self.config.node_name, spec)
        try:
            container = await self.docker.containers.create(
                container_config(self.config.node_name, sandbox.id, spec), name=name
            )
        except DockerError as exc:
            if exc.status == 409:
                # created before the agent lost track of it (restart mid-create): reuse if unstarted
                inspect = await self._inspect(name)
                if inspect is not None and (inspect.get("State") or {}).get("Status") == "created":
                    return str(inspect["Id"])
            raise ContainerStartError("CreateContainerError", exc.message) from exc
        return container.id

    async def start_container(self, container_id: str) -> None:
        try:
            await self.docker.containers.container(container_id).start()
        except DockerError as exc:
            raise ContainerStartError("StartError", exc.message) from exc

    async def stop_container(self, container_id: str, grace_seconds: float) -> None:
        grace = max(0, math.ceil(grace_seconds))
        container = self.docker.containers.container(container_id)
        try:
            # Docker sends the image's StopSignal (SIGTERM), waits t seconds, then SIGKILLs
            await container.stop(t=grace, timeout=grace + 60)
        except DockerError as exc:
            if exc.status in (304, 404):  # already stopped / gone
                return
            raise RuntimeError_("StopError", f"stopping {container_id}: {exc.message}") from exc

    async def _force_remove(self, container_id: str) -> None:
        try:
            await self.docker.containers.container(container_id).delete(force=True, v=True)
        except DockerError as exc:
            if exc.status == 404 or (exc.status == 409 and "already in progress" in exc.message):
                return
            raise RuntimeError_("RemoveError", f"removing {container_id}: {exc.message}") from exc

    async def remove_container(self, container_id: str) -> None:
        await self._force_remove(container_id)

    async def container_status(self, container_id: str) -> ContainerInfo | None:
        inspect = await self._inspect(container_id)
        return container_info(inspect) if inspect is not None else None

    async def container_stats(self, container_id: str) -> ContainerStats | None:
        try:
            sample = await self.docker.containers.container(container_id).stats(stream=False)
        except DockerError:
            return None
        used = docker_usage(sample[0] if isinstance(sample, list) and sample else sample or {})
        return ContainerStats(cpu_ns=used[0], memory_bytes=used[1], at=time.time()) if used else None

    async def list_containers(self) -> list[ContainerInfo]:
        found = [
            c
            for c in await self._find(LABEL_CONTAINER_NAME)
            if (c.get("Labels") or {}).get(LABEL_SANDBOX) != "true"
        ]
        inspects = await asyncio.gather(*(self._inspect(c["Id"]) for c in found))
        return [container_info(i) for i in inspects if i is not None]

    # Exec and logs ------------------------------------------------------
    async def exec(self, container_id: str, argv: list[str], timeout_seconds: float) -> ExecResult:
        container = self.docker.containers.container(container_id)
        try:
            execution = await container.exec(argv, stdout=True, stderr=True)
        except DockerError as exc:
            if exc.status == 409:  # not running
                return ExecResult(exit_code=126, output=exc.message.encode())
            if exc.status == 404:
                return ExecResult(exit_code=126, output=b"container not found")
            raise RuntimeError_("ExecError", exc.message) from exc
        output = bytearray()
        try:
            async with asyncio.timeout(timeout_seconds):
                async with execution.start(detach=False) as stream:
                    while (msg := await stream.read_out()) is not None:
                        if len(output) < MAX_EXEC_OUTPUT:
                            output += msg.data[: MAX_EXEC_OUTPUT - len(output)]
                info = await _finished_exec(execution)
        except TimeoutError:
            return ExecResult(exit_code=-1, output=bytes(output), timed_out=True)
        except DockerError as exc:
            return ExecResult(exit_code=126, output=exc.message.encode())
        return ExecResult(exit_code=int(info.get("ExitCode") or 0), output=bytes(output))

    # Streaming: kubectl exec / port-forward ------------------------------
    async def exec_stream(self, container_id: str, argv: list[str], *, tty: bool, stdin: bool) -> ExecStream:
        container = self.docker.containers.container(container_id)
        try:
            return await DockerExec.start(container, argv, tty=tty, stdin=stdin)
        except DockerError as exc:
            if exc.status in (404, 409):
                raise RuntimeError_("ContainerNotRunning", f'container not found ("{container_id}")') from exc
            raise RuntimeError_("ExecError", exc.message) from exc

    async def attach_stream(self, container_id: str) -> ExecStream:
        container = self.docker.containers.container(container_id)
        try:
            return await DockerAttach.start_attach(container)
        except DockerError as exc:
            if exc.status in (404, 409):
                raise RuntimeError_("ContainerNotRunning", f'container not found ("{container_id}")') from exc
            raise RuntimeError_("AttachError", exc.message) from exc

    async def connect_port(self, pod_uid: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """127.0.0.1:port in the sandbox's namespace when we may join it (root), else its IP:port."""
        inspect = await self._sandbox_inspect(pod_uid)
        if inspect is None or not (inspect.get("State") or {}).get("Running"):
            raise RuntimeError_("NotFound", f"no running sandbox for pod {pod_uid}")
        pid = int((inspect.get("State") or {}).get("Pid") or 0)
        if pid and os.geteuid() == 0:
            return await netconnect.connect("127.0.0.1", port, f"/proc/{pid}/ns/net")
        ip = sandbox_info(inspect, self.network, self.config.node_ip).ip
        return await netconnect.connect(ip, port)

    async def accept_queue(self, pod_uid: str) -> int:
        inspect = await self._sandbox_inspect(pod_uid)
        pid = int(((inspect or {}).get("State") or {}).get("Pid") or 0)
        if not pid or os.geteuid() != 0:
            return 0
        return await netconnect.accept_queue(f"/proc/{pid}/ns/net")

    def log_path(self, container_id: str) -> str | None:
        return None

    async def read_logs(self, container_id: str, options: LogOptions) -> AsyncIterator[bytes]:
        inspect = await self._inspect(container_id)
        if inspect is None:
            raise RuntimeError_("NotFound", f"container {container_id} not found")
        tty = bool((inspect.get("Config") or {}).get("Tty"))
        params: dict[str, Any] = {
            "stdout": "true",
            "stderr": "true",
            "follow": "true" if options.follow else "false",
            "timestamps": "true" if options.timestamps else "false",
            "tail": str(options.tail_lines) if options.tail_lines is not None else "all",
        }
        if options.since_seconds is not None:
            params["since"] = str(int(time.time()) - options.since_seconds)
        remaining = options.limit_bytes
        demux = LogDemuxer()
        try:
            async with self.docker._query(
                f"containers/{container_id}/logs", params=params, timeout=NO_TIMEOUT
            ) as resp:
                async for chunk in resp.content.iter_any():
                    for payload in [chunk] if tty else demux.feed(chunk):
                        if remaining is not None:
                            payload = payload[:remaining]
                            remaining -= len(payload)
                        if payload:
                            yield payload
                        if remaining is not None and remaining <= 0:
                            return
        except DockerError as exc:
            if exc.status == 404:
                return
            raise RuntimeError_("LogError", exc.message) from exc


async def _finished_exec(execution: Any) -> dict[str, Any]:
    """The exec's inspect once it has ended: its output stream closes a moment before the
    daemon records the exit code.  Bounded by the caller's timeout."""
    for _ in range(1_000_000):
        info: dict[str, Any] = await execution.inspect()
        if not info.get("Running"):
            return info
        await asyncio.sleep(0.02)
    return info
