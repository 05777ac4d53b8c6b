"""Serves `kubelite.node.<node>.rpc.exec`, `.rpc.attach` and `.rpc.portforward`: kubectl exec,
attach and port-forward. An attach is served as an exec whose process is the container's own
(the runtime's attach_stream): ending it detaches, and it ends with Success when the container does.

The session protocol (subjects, frames, flow control) is described in
kubelite.client.streaming.  Refusals are Kubernetes Status objects with the
kubelet's messages; a runtime that cannot do it (fake) refuses with a clear one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from kubelite import codec
from kubelite.bus.streaming import (
    CANCEL,
    CHUNK,
    DATA,
    EOF,
    RESIZE,
    STATUS,
    STDERR,
    ExecRequest,
    PortForwardRequest,
    Resize,
    Session,
    accept_session,
    attach_subject,
    exec_subject,
    exit_status,
    portforward_subject,
)
from kubelite.errors import APIError, bad_request, internal, not_found
from kubelite_nodeagent.logserver import PodLookup, choose_container
from kubelite_nodeagent.runtime.base import ContainerState, ExecStream, RuntimeError_

log = logging.getLogger("kubelite.nodeagent.streaming")

_exec_decoder = msgspec.json.Decoder(ExecRequest)
_pf_decoder = msgspec.json.Decoder(PortForwardRequest)
_resize_decoder = msgspec.json.Decoder(Resize)


def running_container_id(pod: Any, state: Any, req: ExecRequest) -> str:
    """The id of the running container an exec names; APIError as the kubelet words it."""
    name, rec = choose_container(pod, state, req)  # type: ignore[arg-type]
    if rec is None or rec.current is None or rec.current.state != ContainerState.RUNNING:
        raise bad_request(f'unable to upgrade connection: container not found ("{name}")')
    return rec.current.id


def _runtime_error(exc: RuntimeError_) -> APIError:
    if exc.reason in ("ContainerNotRunning", "NotFound", "NotSupported", "StartError"):
        return bad_request(exc.message)
    return internal(exc.message)


class StreamServer:
    def __init__(self, *, nc: Any, node_name: str, pods: PodLookup, runtime: Any) -> None:
        self.nc = nc
        self.node_name = node_name
        self.pods = pods
        self.runtime = runtime
        self.sessions: set[asyncio.Task[None]] = set()

    async def subscribe(self) -> list[Any]:
        nc, node = self.nc, self.node_name
        return [
            await nc.subscribe(exec_subject(node), cb=self._on_exec),
            await nc.subscribe(attach_subject(node), cb=self._on_attach),
            await nc.subscribe(portforward_subject(node), cb=self._on_portforward),
        ]

    def stop(self) -> None:
        for task in list(self.sessions):
            task.cancel()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self.sessions.add(task)
        task.add_done_callback(self.sessions.discard)

    async def _refuse(self, msg: Any, err: APIError) -> None:
        if msg.reply:
            await msg.respond(codec.encode(err.to_status()))

    # ---- opening a session: decode, prepare (or refuse), accept --------------------------
    async def _open(self, msg: Any, decoder: Any, what: str,
                    prepare: Callable[[Any], Awaitable[tuple[Any, Callable[[], Awaitable[None]]]]],
                    ) -> tuple[Any, Any, Session] | None:
        """The request, what `prepare` made of it and the accepted session; None when refused
        (the refusal, a Status as the kubelet words it, is the answer to the request)."""
        try:
            req = decoder.decode(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await self._refuse(msg, bad_request(f"invalid {what} request: {exc}"))
            return None
        try:
            if not req.replyTo:
                raise bad_request(f"{what} request without replyTo inbox")
            made, undo = await prepare(req)
        except APIError as exc:
            await self._refuse(msg, exc)
            return None
        except RuntimeError_ as exc:
            await self._refuse(msg, _runtime_error(exc))
            return None
        try:
            session = await accept_session(self.nc, req.replyTo)
            await msg.respond(b"")
        except Exception:
            await undo()
            raise
        return req, made, session

    def _pod(self, req: Any) -> tuple[Any, Any]:
        pod, state = self.pods.find_pod(req.namespace, req.pod)
        if pod is None:
            raise not_found("pods", req.pod)
        return pod, state

    # ---- exec --------------------------------------------------------------------------
    async def _on_exec(self, msg: Any) -> None:
        async def prepare(req: ExecRequest) -> tuple[ExecStream, Callable[[], Awaitable[None]]]:
            if not req.command:
                raise bad_request("you must specify at least 1 command")
            cid = running_container_id(*self._pod(req), req)
            proc = await self.runtime.exec_stream(cid, req.command, tty=req.tty, stdin=req.stdin)
            return proc, proc.kill

        opened = await self._open(msg, _exec_decoder, "exec", prepare)
        if opened is not None:
            req, proc, session = opened
            self._spawn(self._run_exec(session, proc, req), f"exec-{req.namespace}/{req.pod}")

    async def _on_attach(self, msg: Any) -> None:
        async def prepare(req: ExecRequest) -> tuple[ExecStream, Callable[[], Awaitable[None]]]:
            cid = running_container_id(*self._pod(req), req)
            stream = await self.runtime.attach_stream(cid)
            return stream, stream.kill

        opened = await self._open(msg, _exec_decoder, "attach", prepare)
        if opened is not None:
            req, stream, session = opened
            self._spawn(self._run_exec(session, stream, req), f"attach-{req.namespace}/{req.pod}")

    async def _run_exec(self, session: Session, proc: ExecStream, req: ExecRequest) -> None:
        async def output(read: Any, kind: bytes, wanted: bool) -> None:
            while chunk := await read():
                if wanted:
                    await session.send_data(chunk, kind)

        async def input_() -> None:
            while True:
                frame = await session.recv()
                kind, body = frame[:1], frame[1:]
                if kind == DATA:
                    await proc.write_stdin(body)
                    await session.ack(len(body))
                elif kind == EOF:
                    await proc.close_stdin()
                elif kind == RESIZE:
                    with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
                        size = _resize_decoder.decode(body)
                        await proc.resize(size.Width, size.Height)
                elif kind == CANCEL:
                    return

        outputs = asyncio.gather(
            output(proc.read_stdout, DATA, req.stdout), output(proc.read_stderr, STDERR, req.stderr)
        )
        reader = asyncio.create_task(input_())
        gone = asyncio.create_task(session.closed.wait())  # also while input_ blocks on a full stdin
        try:
            await asyncio.wait([outputs, reader, gone], return_when=asyncio.FIRST_COMPLETED)
            if reader.done() or gone.done():  # the client went away: stop the process
                await proc.kill()
                outputs.cancel()
                return
            code = await proc.wait()
            await session.send(STATUS + codec.encode(exit_status(code)))
        except Exception as exc:
            log.warning("exec %s in %s/%s failed: %s", req.command, req.namespace, req.pod, exc)
            await session.send(STATUS + codec.encode(internal(f"exec failed: {exc}").to_status()))
        finally:
            reader.cancel()
            gone.cancel()
            outputs.cancel()
            await proc.kill()
            try:
                # any error or the deadline: the session closes regardless; a cancel of this
                # handler (the agent stopping) is not an error and still ends it
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(5):
                        await proc.wait()
            finally:
                await session.close()

    # ---- port-forward ------------------------------------------------------------------
    async def _on_portforward(self, msg: Any) -> None:
        async def prepare(req: PortForwardRequest) -> tuple[Any, Callable[[], Awaitable[None]]]:
            uid = self._pod(req)[0].metadata.uid
            try:
                reader, writer = await self.runtime.connect_port(uid, req.port)
            except (OSError, TimeoutError) as exc:
                # the kubelet's (containerd's) wording, which kubectl prints
                why = "timed out" if isinstance(exc, TimeoutError) else (
                    os.strerror(exc.errno).lower() if exc.errno else str(exc))
                raise APIError(500, "InternalError", (
                    f"error forwarding port {req.port} to pod {uid}, uid : failed to connect to "
                    f"localhost:{req.port} inside the pod's network namespace: {why}")) from None

            async def undo() -> None:
                writer.close()

            return (reader, writer), undo

        opened = await self._open(msg, _pf_decoder, "port-forward", prepare)
        if opened is not None:
            req, (reader, writer), session = opened
            self._spawn(self._relay(session, reader, writer), f"portforward-{req.namespace}/{req.pod}:{req.port}")

    async def _relay(self, session: Session, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def from_pod() -> None:
            try:
                while chunk := await reader.read(CHUNK):
                    await session.send_data(chunk)
            except OSError as exc:  # reset by the pod's side: the client's error stream says so
                await session.send(STATUS + codec.encode(
                    APIError(500, "InternalError", f"error reading from the pod: {exc}").to_status()))
                return
            await session.send(EOF)

        async def to_pod() -> None:
            while True:
                frame = await session.recv()
                kind, body = frame[:1], frame[1:]
                if kind == DATA:
                    writer.write(body)
                    await writer.drain()
                    await session.ack(len(body))
                elif kind == EOF:
                    with contextlib.suppress(OSError):
                        if writer.can_write_eof():
                            writer.write_eof()
                elif kind == CANCEL:
                    return

        down = asyncio.create_task(from_pod())
        up = asyncio.create_task(to_pod())
        gone = asyncio.create_task(session.closed.wait())
        try:
            # Done when the client cancels; or when the pod's side ended (the client then closes).
            await asyncio.wait([down, up, gone], return_when=asyncio.FIRST_COMPLETED)
            if down.done() and not up.done() and not gone.done():
                await asyncio.wait([up, gone], timeout=30, return_when=asyncio.FIRST_COMPLETED)
        except Exception as exc:
            log.debug("port-forward relay ended: %s", exc)
        finally:
            for task in (down, up, gone):
                task.cancel()
            writer.close()
            await session.close()
