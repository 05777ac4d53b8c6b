"""pods/exec, pods/attach and pods/portforward over websockets, bridged to the pod's node agent
over NATS (SPDY upgrades are spdyserve.py). attach speaks exec's channel protocol, without a command.

exec (`GET .../pods/{name}/exec?command=..&command=..&container=&stdin=&stdout=&stderr=&tty=`),
subprotocols `v5.channel.k8s.io` (preferred) and `v4.channel.k8s.io`: every
binary message is one channel byte and data: 0 stdin, 1 stdout, 2 stderr,
3 error (one Status JSON, then the server closes: `Success`, or
`NonZeroExitCode` with the code in details.causes[reason=ExitCode]), 4 resize
(`{"Width":w,"Height":h}`); v5 adds 255 close (`[255, channel]`: the client's
stdin ended).

portforward (`GET .../pods/{name}/portforward`):
- `SPDY/3.1+portforward.k8s.io` (what kubectl ≥1.31 sends): SPDY/3.1 tunnelled
  in binary messages (spdy.py).  Per forwarded connection kubectl opens an
  error stream and a data stream with headers streamType, port, requestID; each
  pair becomes one NATS session, an error goes to the error stream as text.
- `v4.channel.k8s.io` / `portforward.k8s.io` (the Python client, browsers): one
  connection per port in `?ports=`, channel 2i data and 2i+1 error of the i-th
  port, the first message of each channel from the server prefixed by the port
  as 2 bytes little-endian.

Errors the apiserver finds itself (no such pod, no node assigned) refuse the
upgrade with the Status and its HTTP code; errors from the node (container not
running, runtime cannot exec) arrive on the error channel, as from a kubelet.
The NATS side is kubelite.client.streaming.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from kubelite import codec, errors
from kubelite.api.scheme import by_plural
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
from kubelite_apiserver import spdyserve
from kubelite_apiserver.dispatch import status_body
from kubelite_apiserver.requestinfo import parse_request
from kubelite_apiserver.spdyserve import SpdyPortForward

log = logging.getLogger("kubelite.apiserver.streaming")

SUBRESOURCES = ("exec", "attach", "portforward")
EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
SPDY_PORTFORWARD = "SPDY/3.1+portforward.k8s.io"
CHANNEL_PORTFORWARD = ("v4.channel.k8s.io", "portforward.k8s.io")
_TRUE = ("true", "1", "True")

STDIN, STDOUT, STDERR_CH, ERROR_CH, RESIZE_CH, CLOSE_CH = 0, 1, 2, 3, 4, 255


def _accept_kubernetes_subprotocols() -> None:
    """Let `SPDY/3.1+portforward.k8s.io` through the websocket handshake.

    '/' is not an RFC 7230 token character, so the `websockets` library (uvicorn's
    default websocket implementation) answers kubectl port-forward's handshake
    with 400 before the app sees it; kubectl then falls back to plain SPDY, which
    ASGI cannot serve.  Kubernetes' server (gorilla) splits on commas; so do we.
    """
    with contextlib.suppress(ImportError, AttributeError):
        import websockets.server

        def parse_subprotocol(header: str) -> list[Any]:
            return [p.strip() for p in header.split(",") if p.strip()]

        websockets.server.parse_subprotocol = parse_subprotocol  # type: ignore[assignment]


_accept_kubernetes_subprotocols()


# ---- pure parts -------------------------------------------------------------------------
def exec_request(namespace: str, pod: str, query: list[tuple[str, str]]) -> ExecRequest:
    """PodExecOptions from the raw query (`command` repeats, so not a dict)."""
    single = dict(query)
    return ExecRequest(
        namespace=namespace, pod=pod, container=single.get("container", ""),
        command=[v for k, v in query if k == "command"],
        stdin=single.get("stdin") in _TRUE, stdout=single.get("stdout", "true") in _TRUE,
        stderr=single.get("stderr", "true") in _TRUE, tty=single.get("tty") in _TRUE,
    )  # fmt: skip


def stream_request(subresource: str, namespace: str, pod: str, query: list[tuple[str, str]]) -> ExecRequest:
    """PodExecOptions or PodAttachOptions (no command); 400 as Kubernetes words it."""
    req = exec_request(namespace, pod, query)
    if subresource == "exec" and not req.command:
        raise errors.bad_request("you must specify at least 1 command")
    if subresource == "attach" and not (req.stdin or req.stdout or req.stderr):
        raise errors.bad_request("you must specify at least one of stdin, stdout, stderr")
    return msgspec.structs.replace(req, command=[]) if subresource == "attach" else req


def ports_of(query: list[tuple[str, str]]) -> list[int]:
    """`ports` may repeat and hold comma-separated values; 400 on anything not a port."""
    ports = []
    for key, value in query:
        if key == "ports":
            for part in value.split(","):
                if not part.strip().isdigit() or not 0 < int(part) < 65536:
                    raise errors.bad_request(f"invalid port {part!r}")
                ports.append(int(part))
    return ports


def choose_protocol(offered: str, supported: tuple[str, ...]) -> str | None:
    """The first of ours (in our order of preference) that the client offered."""
    names = [p.strip() for p in offered.split(",") if p.strip()]
    return next((p for p in supported if p in names), None)


def _error_status(err: APIError) -> bytes:
    return codec.encode(err.to_status())


# ---- shared -------------------------------------------------------------------------------
async def pod_node(reg: Any, namespace: str, name: str) -> str:
    pod = await reg.get(by_plural("", "pods"), namespace, name)
    node = getattr(pod.spec, "nodeName", None)
    if not node:
        raise errors.bad_request(f"pod {name} does not have a host assigned")
    return node


async def serve_http(server: Any, scope: dict, info: Any) -> None:
    """exec/attach/portforward as an HTTP request: served if it upgrades to SPDY/3.1, else 400
    "Upgrade request required" (after the pod's own errors), as a kubelet answers."""
    node = await pod_node(server.reg, info.namespace, info.name)
    if not spdyserve.wants_spdy(scope):
        raise errors.bad_request("Upgrade request required")
    req = None
    if info.subresource in ("exec", "attach"):
        query = parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True)
        req = stream_request(info.subresource, info.namespace, info.name, query)
    scope["kubelite.upgraded"] = 101
    await spdyserve.serve_upgrade(server, scope, info, req, node)


async def _deny(send: Any, scope: dict, err: APIError) -> None:
    if "websocket.http.response" in scope.get("extensions", {}):
        body = status_body(err)
        await send({"type": "websocket.http.response.start", "status": err.code, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})


def _header(scope: dict, name: bytes) -> str:
    for k, v in scope.get("headers", ()):
        if k == name:
            return v.decode("latin-1")
    return ""


async def _client_messages(receive: Any) -> Any:
    """Binary payloads from the websocket until the client disconnects."""
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("bytes")
        if data is None:
            data = (message.get("text") or "").encode()
        yield data


async def serve_websocket(server: Any, scope: dict, receive: Any, send: Any) -> None:
    """Entry point for the ASGI `websocket` scope."""
    if (await receive())["type"] != "websocket.connect":
        return
    info = parse_request("GET", scope["path"], {})
    query = parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True)
    offered = _header(scope, b"sec-websocket-protocol")
    try:
        # a websocket upgrade is a GET; Kubernetes authorizes exec/attach/portforward as `create`
        await server.check_access(scope, dataclasses.replace(info, verb="create") if info.subresource else info)
        if not server.ready:
            raise errors.service_unavailable("apiserver is starting")
        if not (info.is_resource and info.resource == "pods" and info.name and info.subresource in SUBRESOURCES):
            raise errors.no_such_resource()
        node = await pod_node(server.reg, info.namespace, info.name)
        if info.subresource in ("exec", "attach"):
            protocol = choose_protocol(offered, EXEC_PROTOCOLS)
            req = stream_request(info.subresource, info.namespace, info.name, query)
        elif choose_protocol(offered, (SPDY_PORTFORWARD,)):
            protocol, ports = SPDY_PORTFORWARD, []
        else:
            protocol = choose_protocol(offered, CHANNEL_PORTFORWARD)
            ports = ports_of(query)
            if not ports:
                raise errors.bad_request("at least one port must be specified")
        if protocol is None:
            raise errors.bad_request(f"none of the offered subprotocols is supported: {offered!r}")
    except APIError as exc:
        await _deny(send, scope, exc)
        return
    await send({"type": "websocket.accept", "subprotocol": protocol})
    nc = server.nc
    try:
        if info.subresource in ("exec", "attach"):
            await _exec(nc, node, info.subresource, req, protocol == EXEC_PROTOCOLS[0], receive, send)
        elif protocol == SPDY_PORTFORWARD:
            async def write(frame: bytes) -> None:
                await send({"type": "websocket.send", "bytes": frame})

            await SpdyPortForward(nc, node, info.namespace, info.name, write).run(_client_messages(receive))
        else:
            await _channel_portforward(nc, node, info.namespace, info.name, ports, receive, send)
    except Exception:
        log.exception("%s of %s/%s failed", info.subresource, info.namespace, info.name)
    with contextlib.suppress(Exception):
        await send({"type": "websocket.close", "code": 1000})


# ---- exec -----------------------------------------------------------------------------------
async def _exec(nc: Any, node: str, op: str, req: ExecRequest, v5: bool, receive: Any, send: Any) -> None:
    """exec or attach (`op`) on the channel protocol."""
    async def out(channel: int, data: bytes) -> None:
        await send({"type": "websocket.send", "bytes": bytes([channel]) + data})

    try:
        session = await open_session(nc, node, op, req)
    except APIError as exc:
        await out(ERROR_CH, _error_status(exc))
        return

    async def from_client() -> None:
        async for data in _client_messages(receive):
            if not data:
                continue
            channel, body = data[0], data[1:]
            if channel == STDIN and body:
                await session.send_data(body)
            elif channel == RESIZE_CH:
                await session.send(RESIZE + body)
            elif channel == CLOSE_CH and v5 and body[:1] == bytes([STDIN]):
                await session.send(EOF)

    async def from_agent() -> None:
        while True:
            frame = await session.recv()
            kind, body = frame[:1], frame[1:]
            if kind in (DATA, STDERR):
                await out(STDOUT if kind == DATA else STDERR_CH, body)
                await session.ack(len(body))
            elif kind == STATUS:
                await out(ERROR_CH, body)
                return
            elif kind == CANCEL:
                await out(ERROR_CH, _error_status(errors.service_unavailable(
                    f"the node agent of {node} went away during the exec")))
                return

    client, agent = asyncio.create_task(from_client()), asyncio.create_task(from_agent())
    try:
        await asyncio.wait([client, agent], return_when=asyncio.FIRST_COMPLETED)
    finally:
        client.cancel()
        agent.cancel()
        await session.close(cancel=not agent.done() or agent.cancelled())


# ---- port-forward: the channel protocol -------------------------------------------------------
async def _channel_portforward(
    nc: Any, node: str, namespace: str, pod: str, ports: list[int], receive: Any, send: Any
) -> None:
    sessions: list[Session | None] = []
    for i, port in enumerate(ports):
        # the first message of each channel carries its port
        await send({"type": "websocket.send", "bytes": bytes([2 * i]) + port.to_bytes(2, "little")})
        await send({"type": "websocket.send", "bytes": bytes([2 * i + 1]) + port.to_bytes(2, "little")})
        try:
            sessions.append(await open_session(nc, node, "portforward", PortForwardRequest(
                namespace=namespace, pod=pod, port=port)))  # fmt: skip
        except APIError as exc:
            sessions.append(None)
            await send({"type": "websocket.send", "bytes": bytes([2 * i + 1]) + exc.message.encode()})

    async def from_client() -> None:
        async for data in _client_messages(receive):
            if len(data) < 2 or data[0] % 2 or data[0] // 2 >= len(sessions):
                continue
            session = sessions[data[0] // 2]
            if session is not None:
                await session.send_data(data[1:])

    async def from_agent(i: int, session: Session) -> None:
        while True:
            frame = await session.recv()
            kind, body = frame[:1], frame[1:]
            if kind == DATA:
                await send({"type": "websocket.send", "bytes": bytes([2 * i]) + body})
                await session.ack(len(body))
            elif kind == STATUS:
                await send({"type": "websocket.send",
                            "bytes": bytes([2 * i + 1]) + decode_error(body).message.encode()})
                return
            elif kind in (EOF, CANCEL):
                return

    agents = [asyncio.create_task(from_agent(i, s)) for i, s in enumerate(sessions) if s is not None]
    client = asyncio.create_task(from_client())
    try:
        if agents:  # done when the client leaves or every pod connection ended
            await asyncio.wait([client, asyncio.ensure_future(asyncio.gather(*agents))],
                               return_when=asyncio.FIRST_COMPLETED)
    finally:
        client.cancel()
        for task in agents:
            task.cancel()
        for session in sessions:
            if session is not None:
                await session.close(cancel=True)
