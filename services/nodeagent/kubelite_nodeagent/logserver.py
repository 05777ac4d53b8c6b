"""Serves `kubelite.node.<node>.rpc.logs`: container logs streamed to the asker's inbox.

The protocol is described (and the client implemented) in kubelite.client.logs.
Errors are Kubernetes Status objects with the kubelet's messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

import msgspec

from kubelite import codec
from kubelite.bus import logs as logs_wire
from kubelite.bus.logs import FRAME_DATA, FRAME_EOF, FRAME_ERROR, LogRequest
from kubelite.errors import APIError, bad_request, internal, not_found
from kubelite_nodeagent.podstate import ContainerRecord, PodState
from kubelite_nodeagent.runtime.base import ContainerState, LogOptions

log = logging.getLogger("kubelite.nodeagent.logs")

CHUNK = 256 * 1024  # below NATS' default 1 MB max payload
ALIVE_EVERY = 5.0  # seconds between checks that a follower is still there

_request_decoder = msgspec.json.Decoder(LogRequest)


def choose_container(agent_pod: Any, state: Any, req: LogRequest) -> tuple[str, ContainerRecord | None]:
    """The container a request names (or the only one), as the kubelet picks it; APIError otherwise."""
    spec = agent_pod.spec
    names = [c.name for c in spec.containers or []]
    init_names = [c.name for c in spec.initContainers or []]
    pod_name = agent_pod.metadata.name
    name = req.container
    if not name:
        if len(names) != 1:
            raise bad_request(
                f"a container name must be specified for pod {pod_name}, choose one of: [{' '.join(names)}]"
                + (f" or one of the init containers: [{' '.join(init_names)}]" if init_names else "")
            )
        name = names[0]
    ephemeral_names = [c.name for c in spec.ephemeralContainers or []]
    if name not in names and name not in init_names and name not in ephemeral_names:
        raise bad_request(f"container {name} is not valid for pod {pod_name}")
    rec = None
    if state is not None:
        table = state.init if name in init_names else state.ephemeral if name in ephemeral_names else state.containers
        rec = table.get(name)
    return name, rec


def container_id_for(pod_name: str, name: str, rec: ContainerRecord | None, previous: bool) -> str:
    if previous:
        prev = None
        if rec is not None:
            # The previous attempt: the one before the current, or the current one if it ended and
            # is waiting to restart (kubectl logs --previous of a crash-looping container).
            if rec.previous is not None:
                prev = rec.previous
            if rec.current is not None and rec.current.state == ContainerState.EXITED and rec.waiting_reason:
                prev = rec.current
        if prev is None:
            raise bad_request(f'previous terminated container "{name}" in pod "{pod_name}" not found')
        return prev.id
    if rec is None or rec.current is None:
        reason = rec.waiting_reason if rec is not None and rec.waiting_reason else "ContainerCreating"
        raise bad_request(f'container "{name}" in pod "{pod_name}" is waiting to start: {reason}')
    return rec.current.id


class PodLookup(Protocol):
    """What log and stream servers need of the agent: a pod by name, and its runtime state."""

    def find_pod(self, namespace: str, name: str) -> tuple[Any | None, PodState | None]: ...


class LogServer:
    def __init__(self, *, nc: Any, node_name: str, pods: PodLookup, runtime: Any) -> None:
        self.nc = nc
        self.node_name = node_name
        self.pods = pods
        self.runtime = runtime
        self.streams: set[asyncio.Task[None]] = set()

    async def subscribe(self) -> Any:
        return await self.nc.subscribe(logs_wire.subject(self.node_name), cb=self._on_request)

    def stop(self) -> None:
        for task in list(self.streams):
            task.cancel()

    async def _on_request(self, msg: Any) -> None:
        try:
            req = _request_decoder.decode(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await self._respond(msg, bad_request(f"invalid log request: {exc}"))
            return
        try:
            pod, state = self.pods.find_pod(req.namespace, req.pod)
            if pod is None:
                raise not_found("pods", req.pod)
            name, rec = choose_container(pod, state, req)
            cid = container_id_for(req.pod, name, rec, req.previous)
        except APIError as exc:
            await self._respond(msg, exc)
            return
        if not req.replyTo:
            await self._respond(msg, bad_request("log request without replyTo inbox"))
            return
        await msg.respond(b"")
        task = asyncio.create_task(self._stream(req, cid), name=f"logs-{req.namespace}/{req.pod}/{name}")
        self.streams.add(task)
        task.add_done_callback(self.streams.discard)

    async def _respond(self, msg: Any, err: APIError) -> None:
        if msg.reply:
            await msg.respond(codec.encode(err.to_status()))

    async def _stream(self, req: LogRequest, cid: str) -> None:
        nc = self.nc
        inbox = req.replyTo
        cancelled = asyncio.Event()

        async def on_cancel(_msg: Any) -> None:
            cancelled.set()

        cancel_sub = await nc.subscribe(inbox + ".cancel", cb=on_cancel)
        options = LogOptions(tail_lines=req.tailLines, follow=req.follow, timestamps=req.timestamps,
                             since_seconds=req.sinceSeconds, limit_bytes=req.limitBytes)

        async def pump() -> None:
            sent = 0
            async for chunk in self.runtime.read_logs(cid, options):
                for i in range(0, len(chunk), CHUNK):
                    piece = chunk[i : i + CHUNK]
                    if req.limitBytes is not None:
                        piece = piece[: max(req.limitBytes - sent, 0)]
                    if piece:
                        await nc.publish(inbox, FRAME_DATA + piece)
                        sent += len(piece)
                    if req.limitBytes is not None and sent >= req.limitBytes:
                        return

        async def watch_follower() -> None:
            while True:
                await asyncio.sleep(ALIVE_EVERY)
                try:
                    await nc.request(inbox + ".alive", b"", timeout=ALIVE_EVERY)
                except Exception:  # the reader went away
                    cancelled.set()
                    return
                await nc.publish(inbox, FRAME_DATA)  # keep-alive: an empty data frame

        pump_task = asyncio.create_task(pump())
        waiters = [pump_task, asyncio.create_task(cancelled.wait())]
        if req.follow:
            waiters.append(asyncio.create_task(watch_follower()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if pump_task.done() and not cancelled.is_set():
                exc = pump_task.exception()
                if exc is None:
                    await nc.publish(inbox, FRAME_EOF)
                else:
                    log.warning("logs of %s failed: %s", cid, exc)
                    await nc.publish(inbox, FRAME_ERROR + codec.encode(internal(str(exc)).to_status()))
        finally:
            for task in waiters:
                task.cancel()
            with contextlib.suppress(Exception):
                await cancel_sub.unsubscribe()
