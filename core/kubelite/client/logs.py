"""Streaming a container's logs from its node agent (protocol: kubelite.bus.logs)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from kubelite.api.meta import Status
from kubelite.bus import logs as wire
from kubelite.bus.logs import FRAME_DATA, FRAME_EOF, FRAME_ERROR, LogRequest
from kubelite.bus.subjects import node_session
from kubelite.errors import APIError, service_unavailable

__all__ = ["IDLE_TIMEOUT", "LogRequest", "stream_logs"]

# How long the client waits between frames before giving up (a follow stream
# with no output stays open: the agent sends an empty data frame as keep-alive).
IDLE_TIMEOUT = 60.0

_status_decoder = msgspec.json.Decoder(Status)


def _error(data: bytes) -> APIError:
    try:
        return APIError.from_status(_status_decoder.decode(data))
    except msgspec.DecodeError:
        return service_unavailable(f"node agent sent an unreadable error: {data[:200]!r}")


async def stream_logs(nc: Any, node: str, request: LogRequest, *, request_timeout: float = 10.0) -> AsyncIterator[bytes]:
    """Ask `node`'s agent for a container's logs and yield them as chunks of bytes.

    The first item is always b"" as soon as the agent has accepted the request,
    so a caller can surface errors (raised before it) without waiting for the
    first line of a quiet container.  Raises `APIError` (the Status the agent
    returned, or 503 when no agent answers).  Ends when the agent sends EOF;
    closing the generator early tells the agent to stop.
    """
    inbox = node_session(node)  # only that node's agent and the apiserver may use it
    frames: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_frame(msg: Any) -> None:
        frames.put_nowait(msg.data)

    async def on_alive(msg: Any) -> None:
        if msg.reply:
            await nc.publish(msg.reply, b"")

    data_sub = await nc.subscribe(inbox, cb=on_frame)
    alive_sub = await nc.subscribe(inbox + ".alive", cb=on_alive)
    finished = False
    try:
        req = msgspec.structs.replace(request, replyTo=inbox)
        try:
            reply = await nc.request(wire.subject(node), wire.encoder.encode(req), timeout=request_timeout)
        except Exception as exc:  # no responders, timeout, connection closed
            raise service_unavailable(
                f"node agent of {node} not reachable over NATS ({type(exc).__name__}: {exc})"
            ) from None
        if reply.data:
            raise _error(reply.data)
        yield b""  # accepted
        while True:
            try:
                async with asyncio.timeout(IDLE_TIMEOUT):
                    frame = await frames.get()
            except TimeoutError:
                raise service_unavailable(f"log stream from node {node} stalled") from None
            kind, body = frame[:1], frame[1:]
            if kind == FRAME_DATA:
                if body:
                    yield body
            elif kind == FRAME_EOF:
                finished = True
                return
            elif kind == FRAME_ERROR:
                finished = True
                raise _error(body)
    finally:
        with contextlib.suppress(Exception):
            await data_sub.unsubscribe()
            await alive_sub.unsubscribe()
        if not finished:
            with contextlib.suppress(Exception):
                await nc.publish(inbox + ".cancel", b"")
