"""exec, attach and port-forward over SPDY/3.1: the native HTTP upgrade (kubectl ≤1.29 for exec, cp and
attach, ≤1.30 for port-forward, client-go's remotecommand), and port-forward tunnelled in a
websocket (kubectl ≥1.31). Framing is spdy.py; the NATS side is kubelite.bus.streaming.

Native upgrade (`Connection: Upgrade`, `Upgrade: SPDY/3.1`, usually a POST):
- the client offers protocols in `X-Stream-Protocol-Version` headers; we serve
  `v4.channel.k8s.io` for exec and `portforward.k8s.io` for port-forward, and answer
  `101 Switching Protocols` naming the one chosen; no match is 403 with Kubernetes' message;
- exec and attach: the client opens one stream per `streamType` header (`error`, and `stdin`, `stdout`,
  `stderr` as asked, `resize` with a tty). Once all expected streams exist (within 30 s, as the
  kubelet's stream-creation timeout) the exec starts. stdin ends with FIN on its stream; resize
  carries `{"Width":w,"Height":h}` JSON objects; the outcome is one Status JSON on the error
  stream (`Success`, or `NonZeroExitCode` with the code), after FIN on stdout and stderr;
- port-forward: as the websocket tunnel (SpdyPortForward below).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from kubelite import codec, errors
from kubelite.bus.streaming import (
    CANCEL,
    DATA,
    EOF,
    RESIZE,
    STATUS,
    STDERR,
    ExecRequest,
    PortForwardRequest,
    Session,
    decode_error,
    open_session,
)
from kubelite.errors import APIError
from kubelite.tasks import cancel_and_wait
from kubelite_apiserver import spdy
from kubelite_apiserver.tlsprotocols import UPGRADE

log = logging.getLogger("kubelite.apiserver.streaming")

EXEC_V4 = "v4.channel.k8s.io"
PORTFORWARD_V1 = "portforward.k8s.io"
STREAM_CREATION_TIMEOUT = 30.0  # the kubelet's --streaming-connection... default for stream creation

Write = Callable[[bytes], Awaitable[None]]


# ---- pure parts -------------------------------------------------------------------------
def wants_spdy(scope: dict) -> bool:
    """A request that asks to upgrade its connection to SPDY/3.1, on a server that can."""
    headers = dict(scope.get("headers", ()))
    connection = [t.strip().lower() for t in headers.get(b"connection", b"").split(b",")]
    return (b"upgrade" in connection and headers.get(b"upgrade", b"").lower() == b"spdy/3.1"
            and UPGRADE in scope.get("extensions", {}))


def negotiate(scope: dict, supported: tuple[str, ...]) -> str:
    """The protocol named in the 101: ours that the client offers first; 403 on none, as
    k8s.io/apimachinery's httpstream.Handshake words it."""
    offered = [v.strip() for k, raw in scope.get("headers", ()) if k == b"x-stream-protocol-version"
               for v in raw.decode("latin-1").split(",") if v.strip()]
    chosen = next((p for p in offered if p in supported), None)
    if chosen is None:
        raise errors.APIError(403, "Forbidden", "unable to upgrade: unable to negotiate protocol: "
                              f"client supports [{' '.join(offered)}], server accepts [{' '.join(supported)}]")
    return chosen


def upgrade_head(protocol: str) -> bytes:
    return (b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
            b"X-Stream-Protocol-Version: " + protocol.encode() + b"\r\n\r\n")


def expected_streams(req: ExecRequest) -> set[str]:
    """The streams a v4 client opens for these options (remotecommand's streamProtocolV4)."""
    wanted = {"error"}
    if req.stdin:
        wanted.add("stdin")
    if req.stdout:
        wanted.add("stdout")
    if req.stderr and not req.tty:
        wanted.add("stderr")
    if req.tty:
        wanted.add("resize")
    return wanted


# ---- the native upgrade -----------------------------------------------------------------
async def serve_upgrade(server: Any, scope: dict, info: Any, req: ExecRequest | None, node: str) -> None:
    """Answer 101 and serve exec or attach (`req`), or port-forward (`req` None), on the raw connection."""
    if info.verb != "create":  # a GET upgrade: Kubernetes authorizes streaming as create
        await server.check_access(scope, dataclasses.replace(info, verb="create"))
    protocol = negotiate(scope, (PORTFORWARD_V1,) if req is None else (EXEC_V4,))
    raw = scope["extensions"][UPGRADE](upgrade_head(protocol))
    try:
        if req is None:
            await SpdyPortForward(server.nc, node, info.namespace, info.name, raw.write).run(raw)
        else:
            await SpdyExec(server.nc, node, info.subresource, req, raw.write).run(raw)
    except (ConnectionError, asyncio.CancelledError):
        pass
    except Exception:
        log.exception("%s of %s/%s over SPDY failed", info.subresource, info.namespace, info.name)
    finally:
        raw.close()


class _Framed:
    """One SPDY connection: frames in from the client's bytes, frames out one writer at a time."""

    def __init__(self, write: Write) -> None:
        self.conn = spdy.SpdyConnection()
        self._write = write
        self._lock = asyncio.Lock()

    async def write(self, frame: bytes) -> None:
        async with self._lock:  # zlib context and frame order: one writer at a time
            await self._write(frame)

    async def reply(self, stream_id: int) -> None:
        async with self._lock:  # syn_reply advances the header compressor: build it under the lock
            await self._write(self.conn.syn_reply(stream_id))

    async def frames(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[spdy.Frame]:
        async for data in chunks:
            for frame in self.conn.feed(data):
                if frame.type == spdy.PING:
                    await self.write(self.conn.ping(frame.data))
                elif frame.type == spdy.GOAWAY:
                    return
                else:
                    yield frame


# ---- exec ---------------------------------------------------------------------------------
class SpdyExec:
    """exec or attach (`op`): the same streams, an attach without a command."""

    def __init__(self, nc: Any, node: str, op: str, req: ExecRequest, write: Write) -> None:
        self.nc, self.node, self.op, self.req = nc, node, op, req
        self.framed = _Framed(write)
        self.ids: dict[str, int] = {}  # streamType -> stream id
        self.types: dict[int, str] = {}
        self.expected = expected_streams(req)
        self.all_open = asyncio.Event()
        self.stdin: asyncio.Queue[bytes | None] = asyncio.Queue(16)  # None: the client's FIN
        self.resize: asyncio.Queue[bytes] = asyncio.Queue(16)

    async def run(self, chunks: AsyncIterator[bytes]) -> None:
        reader = asyncio.create_task(self._read(chunks))
        main = asyncio.create_task(self._exec())
        try:  # the client closing the connection ends the exec too
            await asyncio.wait([reader, main], return_when=asyncio.FIRST_COMPLETED)
        finally:
            reader.cancel()
            await cancel_and_wait(main)

    async def _read(self, chunks: AsyncIterator[bytes]) -> None:
        async for frame in self.framed.frames(chunks):
            if frame.type == spdy.SYN_STREAM:
                await self.framed.reply(frame.stream_id)
                kind = frame.headers.get("streamtype", "")
                self.ids[kind], self.types[frame.stream_id] = frame.stream_id, kind
                if self.expected <= self.ids.keys():
                    self.all_open.set()
            elif frame.type == 0:
                await self._on_data(self.types.get(frame.stream_id, ""), frame)

    async def _on_data(self, kind: str, frame: spdy.Frame) -> None:
        if kind == "stdin":
            if frame.data:
                await self.stdin.put(frame.data)
            if frame.flags & spdy.FLAG_FIN:
                await self.stdin.put(None)
        elif kind == "resize":
            for line in frame.data.splitlines():  # Go's json.Encoder: one object per line
                if line.strip():
                    await self.resize.put(line)

    async def _exec(self) -> None:
        try:
            async with asyncio.timeout(STREAM_CREATION_TIMEOUT):
                await self.all_open.wait()
        except TimeoutError:
            log.info("exec of %s/%s: the client never opened streams %s", self.req.namespace, self.req.pod,
                     sorted(self.expected - self.ids.keys()))
            return
        try:
            session = await open_session(self.nc, self.node, self.op, self.req)
        except APIError as exc:
            await self._finish(codec.encode(exc.to_status()))
            return
        uploads = [asyncio.create_task(self._upload_stdin(session)), asyncio.create_task(self._upload_resize(session))]
        done = False
        try:
            status = await self._download(session)
            done = True
            await self._finish(status)
        finally:
            for task in uploads:
                task.cancel()
            await session.close(cancel=not done)

    async def _upload_stdin(self, session: Session) -> None:
        while (data := await self.stdin.get()) is not None:
            await session.send_data(data)
        await session.send(EOF)

    async def _upload_resize(self, session: Session) -> None:
        while True:
            await session.send(RESIZE + await self.resize.get())

    async def _download(self, session: Session) -> bytes:
        """Copy the agent's stdout and stderr to their streams; the outcome Status JSON."""
        out = self.ids.get("stdout")
        err = self.ids.get("stderr", out)  # with a tty the agent sends no stderr anyway
        while True:
            frame = await session.recv()
            kind, body = frame[:1], frame[1:]
            if kind in (DATA, STDERR):
                target = out if kind == DATA else err
                if target is not None:
                    await self.framed.write(self.framed.conn.data(target, body))
                await session.ack(len(body))
            elif kind == STATUS:
                return body
            elif kind == CANCEL:
                return codec.encode(errors.service_unavailable(
                    f"the node agent of {self.node} went away during the exec").to_status())

    async def _finish(self, status: bytes) -> None:
        """FIN on stdout and stderr, then the Status on the error stream with its FIN."""
        conn = self.framed.conn
        for kind in ("stdout", "stderr"):
            if kind in self.ids:
                await self.framed.write(conn.data(self.ids[kind], b"", fin=True))
        await self.framed.write(conn.data(self.ids["error"], status, fin=True))


# ---- port-forward (native, or tunnelled in a websocket) --------------------------------------
class _Pair:
    """The error and data streams of one forwarded connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.error_id = 0
        self.data_id = 0
        self.inbound: asyncio.Queue[bytes | None] = asyncio.Queue(16)  # client data, None = FIN
        self.task: asyncio.Task[None] | None = None


class SpdyPortForward:
    """Per forwarded connection kubectl opens an error stream and a data stream with headers
    streamType, port and requestID; each pair becomes one NATS session, an error goes to the
    error stream as text."""

    def __init__(self, nc: Any, node: str, namespace: str, pod: str, write: Write) -> None:
        self.nc, self.node, self.namespace, self.pod = nc, node, namespace, pod
        self.framed = _Framed(write)
        self.conn = self.framed.conn
        self.write = self.framed.write
        self.pairs: dict[str, _Pair] = {}  # by requestID
        self.by_stream: dict[int, _Pair] = {}

    async def run(self, chunks: AsyncIterator[bytes]) -> None:
        try:
            async for frame in self.framed.frames(chunks):
                await self._on_frame(frame)
        finally:
            for pair in self.pairs.values():
                if pair.task is not None:
                    pair.task.cancel()

    async def _on_frame(self, frame: spdy.Frame) -> None:
        if frame.type == spdy.SYN_STREAM:
            await self.framed.reply(frame.stream_id)
            await self._on_stream(frame)
        elif frame.type == 0:
            pair = self.by_stream.get(frame.stream_id)
            if pair is not None and frame.stream_id == pair.data_id:
                if frame.data:
                    await pair.inbound.put(frame.data)
                if frame.flags & spdy.FLAG_FIN:
                    await pair.inbound.put(None)
        elif frame.type == spdy.RST_STREAM:
            pair = self.by_stream.get(frame.stream_id)
            if pair is not None and pair.task is not None:
                pair.task.cancel()

    async def _on_stream(self, frame: spdy.Frame) -> None:
        headers = frame.headers
        request_id = headers.get("requestid", "")
        try:
            port = int(headers.get("port", ""))
        except ValueError:
            await self.write(self.conn.rst_stream(frame.stream_id, 1))
            return
        pair = self.pairs.setdefault(request_id, _Pair(port))
        if headers.get("streamtype") == "error":
            pair.error_id = frame.stream_id
        else:
            pair.data_id = frame.stream_id
        self.by_stream[frame.stream_id] = pair
        if pair.error_id and pair.data_id and pair.task is None:
            pair.task = asyncio.create_task(self._forward(request_id, pair))

    async def _forward(self, request_id: str, pair: _Pair) -> None:
        session: Session | None = None
        uploader: asyncio.Task[None] | None = None
        try:
            try:
                session = await open_session(
                    self.nc, self.node, "portforward",
                    PortForwardRequest(namespace=self.namespace, pod=self.pod, port=pair.port),
                )  # fmt: skip
            except APIError as exc:
                await self._finish(pair, exc.message)
                return
            uploader = asyncio.create_task(self._upload(pair, session))
            message = ""
            while True:
                frame = await session.recv()
                kind, body = frame[:1], frame[1:]
                if kind == DATA:
                    await self.write(self.conn.data(pair.data_id, body))
                    await session.ack(len(body))
                elif kind == EOF:
                    break
                elif kind == STATUS:
                    message = decode_error(body).message
                    break
                elif kind == CANCEL:
                    message = f"the node agent of {self.node} went away"
                    break
            await self._finish(pair, message)
            # until the client closes its side, at most 30 s; asyncio.wait never raises the
            # uploader's cancel, so a cancel of this task is never taken for it (kubelite.tasks)
            await asyncio.wait([uploader], timeout=30)
            if uploader.done() and not uploader.cancelled() and (error := uploader.exception()) is not None:
                raise error
        finally:
            if uploader is not None:
                uploader.cancel()
            if session is not None:
                await session.close(cancel=True)
            self.pairs.pop(request_id, None)
            self.by_stream.pop(pair.error_id, None)
            self.by_stream.pop(pair.data_id, None)
            while not pair.inbound.empty():  # unblock a reader waiting to queue more
                pair.inbound.get_nowait()

    async def _upload(self, pair: _Pair, session: Session) -> None:
        while (data := await pair.inbound.get()) is not None:
            await session.send_data(data)
        await session.send(EOF)

    async def _finish(self, pair: _Pair, message: str) -> None:
        """FIN on the data stream, the error (if any) and FIN on the error stream."""
        with contextlib.suppress(Exception):
            await self.write(self.conn.data(pair.data_id, b"", fin=True))
            await self.write(self.conn.data(pair.error_id, message.encode(), fin=True))
