"""Interactive streams over NATS between the apiserver and a node agent: exec, attach and port-forward.

Subjects (request-reply to open, then a session on two subjects derived from a fresh
session subject `I` = `kubelite.node.<node>.session.<random>`, which only that node's
agent and the apiserver may use):

| subject | direction | payload |
|---|---|---|
| `kubelite.node.<node>.rpc.exec` | apiserver → agent (request) | `ExecRequest` JSON |
| `kubelite.node.<node>.rpc.attach` | apiserver → agent (request) | `ExecRequest` JSON without `command` (kubectl attach: the container's own stdio) |
| `kubelite.node.<node>.rpc.portforward` | apiserver → agent (request) | `PortForwardRequest` JSON (one per TCP connection) |
| `I` | agent → apiserver | frames below |
| `I.in` | apiserver → agent | frames below |
| `I.alive`, `I.in.alive` | either side (request) | empty; answered while that side's session is open |

The agent subscribes to `I.in` and then answers the open request with an empty
body (accepted) or a Kubernetes `Status` JSON (refused: pod or container not
found, not running, runtime cannot exec, ...).  Frames are one NATS message
each, first byte the kind:

| kind | body | meaning |
|---|---|---|
| `D` | bytes | data: stdout (agent→) / stdin (→agent); port-forward: TCP bytes either way |
| `R` | bytes | stderr (agent → apiserver, exec without tty) |
| `E` | — | end of data from the sender (stdin closed / TCP half-close / stdout+stderr done) |
| `W` | `{"Width": w, "Height": h}` | terminal resize (→ agent) |
| `A` | decimal byte count | flow-control ack: the receiver consumed that many data bytes |
| `S` | Status JSON | the session's outcome, last frame from the agent: exec `Success` or `NonZeroExitCode` (exit code in details.causes[type=ExitCode].message), port-forward an error |
| `C` | — | cancel: the sender went away (client disconnected); the peer tears down |

Flow control: at most `WINDOW` data bytes (`D`/`R`) may be unacknowledged per
direction; the sender waits for `A` frames before sending more, so neither side
buffers more than a window.  Liveness: every `ALIVE_EVERY` seconds each side
asks the other's `.alive` subject; no responder means the peer is gone and the
session ends as if cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from kubelite.api.meta import Status
from kubelite.bus.subjects import node_rpc, node_session
from kubelite.errors import APIError, service_unavailable

DATA = b"D"
STDERR = b"R"
EOF = b"E"
RESIZE = b"W"
ACK = b"A"
STATUS = b"S"
CANCEL = b"C"

CHUNK = 64 * 1024  # bytes per data frame (well below NATS' 1 MB max payload)
WINDOW = 1024 * 1024  # unacknowledged data bytes per direction
ALIVE_EVERY = 5.0  # seconds between liveness checks of the peer


class ExecRequest(msgspec.Struct, kw_only=True, omit_defaults=True):
    """PodExecOptions as the apiserver received them, plus the session inbox."""

    namespace: str
    pod: str
    container: str = ""
    command: list[str] = []
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    tty: bool = False
    replyTo: str = ""


class PortForwardRequest(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One TCP connection to `port` inside the pod's network namespace."""

    namespace: str
    pod: str
    port: int
    replyTo: str = ""


def exec_subject(node: str) -> str:
    """kubelite.node.<node>.rpc.exec"""
    return node_rpc(node, "exec")


def attach_subject(node: str) -> str:
    """kubelite.node.<node>.rpc.attach: an `ExecRequest` without a command (PodAttachOptions)"""
    return node_rpc(node, "attach")


def portforward_subject(node: str) -> str:
    """kubelite.node.<node>.rpc.portforward"""
    return node_rpc(node, "portforward")


class Resize(msgspec.Struct):
    Width: int
    Height: int


_encoder = msgspec.json.Encoder()
_status_decoder = msgspec.json.Decoder(Status)


def decode_error(data: bytes) -> APIError:
    """The APIError a Status body describes (503 when it is not a Status)."""
    try:
        return APIError.from_status(_status_decoder.decode(data))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return service_unavailable(f"node agent sent an unreadable answer: {data[:200]!r}")


def exit_status(code: int) -> Status:
    """The Status the kubelet writes on the exec error channel for an exit code (pure)."""
    if code == 0:
        return Status(apiVersion="v1", kind="Status", status="Success")
    return msgspec.convert({
        "apiVersion": "v1", "kind": "Status", "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command: exit status {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }, Status)  # fmt: skip


class Session:
    """One side of a stream session: ordered frames out, frames in, flow control, liveness.

    `send_subject` is where this side publishes, `recv_subject` where it listens.
    """

    def __init__(self, nc: Any, send_subject: str, recv_subject: str) -> None:
        self.nc = nc
        self.send_subject = send_subject
        self.recv_subject = recv_subject
        self.frames: asyncio.Queue[bytes] = asyncio.Queue()
        self.closed = asyncio.Event()  # the peer cancelled or vanished, or we closed
        self._unacked = 0
        self._acked = asyncio.Condition()
        self._subs: list[Any] = []
        self._alive_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._subs.append(await self.nc.subscribe(self.recv_subject, cb=self._on_frame))
        self._subs.append(await self.nc.subscribe(self.recv_subject + ".alive", cb=self._on_alive))

    def watch_peer(self) -> None:
        """Start checking that the peer is still there (call once the peer listens)."""
        self._alive_task = asyncio.create_task(self._watch_peer())

    async def _on_frame(self, msg: Any) -> None:
        data: bytes = msg.data
        if data[:1] == ACK:
            async with self._acked:
                self._unacked -= int(data[1:] or b"0")
                self._acked.notify_all()
            return
        if data[:1] == CANCEL:
            await self._mark_closed()
        self.frames.put_nowait(data)

    async def _mark_closed(self) -> None:
        self.closed.set()
        async with self._acked:  # wake a sender waiting for acks that will never come
            self._acked.notify_all()

    async def _on_alive(self, msg: Any) -> None:
        if msg.reply and not self.closed.is_set():
            await self.nc.publish(msg.reply, b"")

    async def _watch_peer(self) -> None:
        while not self.closed.is_set():
            await asyncio.sleep(ALIVE_EVERY)
            try:
                await self.nc.request(self.send_subject + ".alive", b"", timeout=ALIVE_EVERY)
            except Exception:  # no responders / timeout: the peer is gone
                await self._mark_closed()
                self.frames.put_nowait(CANCEL)
                return

    async def send(self, frame: bytes) -> None:
        """A control frame (EOF, resize, status, cancel)."""
        with contextlib.suppress(Exception):
            await self.nc.publish(self.send_subject, frame)

    async def send_data(self, data: bytes, kind: bytes = DATA) -> None:
        """Data in chunks, waiting while a window's worth is unacknowledged."""
        for i in range(0, len(data), CHUNK):
            piece = data[i : i + CHUNK]
            async with self._acked:
                while self._unacked >= WINDOW and not self.closed.is_set():
                    await self._acked.wait()
                if self.closed.is_set():
                    return  # nobody reads any more
                self._unacked += len(piece)
            await self.nc.publish(self.send_subject, kind + piece)

    async def ack(self, count: int) -> None:
        """Tell the peer that `count` data bytes were consumed."""
        if count:
            await self.send(ACK + str(count).encode())

    async def recv(self) -> bytes:
        return await self.frames.get()

    async def close(self, *, cancel: bool = False) -> None:
        if cancel and not self.closed.is_set():
            await self.send(CANCEL)
        await self._mark_closed()
        if self._alive_task is not None:
            self._alive_task.cancel()
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs.clear()


async def open_session(
    nc: Any, node: str, op: str, request: ExecRequest | PortForwardRequest, *, timeout: float = 10.0  # noqa: ASYNC109
) -> Session:
    """Ask `node`'s agent to start `op` ("exec", "attach" or "portforward"); the apiserver's side of the session.

    Raises `APIError`: the Status the agent refused with, or 503 when no agent answers.
    """
    inbox = node_session(node)
    session = Session(nc, inbox + ".in", inbox)
    await session.start()
    req = msgspec.structs.replace(request, replyTo=inbox)
    try:
        reply = await nc.request(node_rpc(node, op), _encoder.encode(req), timeout=timeout)
    except Exception as exc:  # no responders, timeout, connection closed
        await session.close()
        raise service_unavailable(
            f"node agent of {node} not reachable over NATS ({type(exc).__name__}: {exc})"
        ) from None
    if reply.data:
        await session.close()
        raise decode_error(reply.data)
    session.watch_peer()
    return session


async def accept_session(nc: Any, inbox: str) -> Session:
    """The agent's side of a session opened with `inbox` (subscribe before answering the open)."""
    session = Session(nc, inbox, inbox + ".in")
    await session.start()
    session.watch_peer()
    return session


async def pump_frames(session: Session, on_frame: Callable[[bytes], Awaitable[bool]]) -> None:
    """Feed every received frame to `on_frame` until it returns False or the session closes."""
    while True:
        frame = await session.recv()
        if not await on_frame(frame) or frame[:1] == CANCEL:
            return
