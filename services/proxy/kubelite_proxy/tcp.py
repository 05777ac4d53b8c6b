"""TCP data path: accept on a frontend, connect to a backend, join the two sockets.

Two ways to move the bytes, measured in bench/proxy_bench.py:
- "splice" (default on Linux): kernel splice(2) through a pipe (splice.py);
  the bytes never reach Python, per chunk only two syscalls run;
- "protocol": a pair of asyncio Protocols whose `data_received` hands each
  chunk to the other transport (`transport.write`); backpressure is the
  transports' own (reading one side pauses while the other side's write
  buffer is above its high-water mark). Faster than a `sock_recv_into` loop.
Half-closes are forwarded in both (EOF in one direction keeps the other open).

The client's socket is not read until a backend has accepted, so a backend
that refuses or times out is replaced by the next candidate before the client
has sent a byte anywhere; when none accepts, the client is reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

from kubelite_proxy.balancer import Balancer
from kubelite_proxy.metrics import ACTIVE_CONNECTIONS, CONNECT_FAILURES, REJECTED, TCP_CONNECTIONS
from kubelite_proxy.rules import Backend
from kubelite_proxy.splice import AVAILABLE as SPLICE_AVAILABLE
from kubelite_proxy.splice import SplicedConnection

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 2.0  # per backend attempt
WRITE_HIGH_WATER = 1 << 20  # bytes buffered towards one side before the other side pauses
WRITE_LOW_WATER = 1 << 18
BACKLOG = 4096
COPY_MODE = "splice" if SPLICE_AVAILABLE else "protocol"  # see TCPFrontend


class _Half(asyncio.Protocol):
    """One side of a spliced connection; `peer` is the other side once both exist."""

    __slots__ = ("closed", "eof", "peer", "transport")

    def __init__(self) -> None:
        self.transport: Any = None
        self.peer: _Half | None = None
        self.eof = False
        self.closed = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.set_write_buffer_limits(WRITE_HIGH_WATER, WRITE_LOW_WATER)

    def data_received(self, data: bytes) -> None:
        self.peer.transport.write(data)  # type: ignore[union-attr]

    def eof_received(self) -> bool:
        self.eof = True
        peer = self.peer
        if peer is None or peer.closed:
            return False
        if peer.eof:  # both directions finished
            peer.transport.close()
            return False
        if peer.transport.can_write_eof():
            peer.transport.write_eof()
        return True  # keep the other direction open

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        peer = self.peer
        if peer is not None and not peer.closed and peer.transport is not None:
            if exc is None:
                peer.transport.close()  # flushes what is buffered, then closes
            else:
                peer.transport.abort()

    def pause_writing(self) -> None:
        if self.peer is not None and not self.peer.closed:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and not self.peer.closed:
            self.peer.transport.resume_reading()


class _ClientSide(_Half):
    __slots__ = ("_early", "_task", "frontend")

    def __init__(self, frontend: TCPFrontend) -> None:
        super().__init__()
        self.frontend = frontend
        self._task: asyncio.Task[None] | None = None
        self._early: list[bytes] = []  # bytes read before a backend was connected

    def data_received(self, data: bytes) -> None:
        if self.peer is None:  # uvloop may deliver a read already under way when we paused
            self._early.append(data)
            return
        self.peer.transport.write(data)

    def eof_received(self) -> bool:
        if self.peer is None:
            self.eof = True  # forwarded once the backend is connected
            return True
        return super().eof_received()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        transport.pause_reading()  # nothing is read until a backend accepted
        peer = transport.get_extra_info("peername")
        client_ip = peer[0] if peer else ""
        TCP_CONNECTIONS.inc()
        candidates = self.frontend.balancer.candidates(client_ip)
        if not candidates:
            REJECTED.inc()
            _reset(transport)
            return
        self._task = asyncio.get_running_loop().create_task(self._connect(client_ip, candidates))

    async def _connect(self, client_ip: str, candidates: list[Backend]) -> None:
        loop = asyncio.get_running_loop()
        for backend in candidates:
            if self.closed:
                return
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    transport, side = await loop.create_connection(_Half, backend.ip, backend.port)
            except (OSError, TimeoutError) as exc:
                log.debug("%s: backend %s:%d failed: %s", self.frontend.name, backend.ip, backend.port, exc)
                self.frontend.connect_failures += 1
                CONNECT_FAILURES.inc()
                self.frontend.balancer.failed(backend)
                continue
            if self.closed:  # the client left while we were connecting
                transport.close()
                return
            self.frontend.balancer.connected(client_ip, backend)
            side.peer, self.peer = self, side
            if self._early:
                transport.write(b"".join(self._early))
                self._early.clear()
            if self.eof:
                transport.write_eof()
            else:
                self.transport.resume_reading()
            return
        log.info("%s: no backend accepted a connection from %s", self.frontend.name, client_ip)
        REJECTED.inc()
        _reset(self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.peer is None and self._task is not None:
            self._task.cancel()


def _reset(transport: Any) -> None:
    """Close with RST, so the client fails at once instead of waiting."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    transport.abort()


async def connect_first(
    frontend: TCPFrontend, client_ip: str, candidates: list[Backend]
) -> tuple[socket.socket, Backend] | None:
    """A raw connected socket to the first candidate that accepts (splice mode)."""
    loop = asyncio.get_running_loop()
    for backend in candidates:
        sock = socket.socket(socket.AF_INET6 if ":" in backend.ip else socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await loop.sock_connect(sock, (backend.ip, backend.port))
        except (OSError, TimeoutError) as exc:
            sock.close()
            log.debug("%s: backend %s:%d failed: %s", frontend.name, backend.ip, backend.port, exc)
            frontend.connect_failures += 1
            CONNECT_FAILURES.inc()
            frontend.balancer.failed(backend)
            continue
        except BaseException:
            sock.close()
            raise
        frontend.balancer.connected(client_ip, backend)
        return sock, backend
    return None


class TCPFrontend:
    """A listening socket for one frontend; `balancer` may be swapped or updated at any time.

    copy "splice" (default where the kernel has it) forwards with splice(2);
    "protocol" with an asyncio Protocol pair. Both are in bench/proxy_bench.py.
    """

    def __init__(self, ip: str, port: int, balancer: Balancer, name: str = "", copy: str | None = None) -> None:
        self.ip = ip
        self.port = port
        self.balancer = balancer
        self.name = name or f"tcp {ip}:{port}"
        self.copy = copy or COPY_MODE
        self.connect_failures = 0
        self.active = 0  # spliced connections open now (splice mode)
        self._server: asyncio.base_events.Server | None = None
        self._lsock: socket.socket | None = None
        self._connecting: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.copy == "splice":
            family = socket.AF_INET6 if ":" in self.ip else socket.AF_INET
            lsock = socket.socket(family, socket.SOCK_STREAM)
            try:
                lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                lsock.bind((self.ip, self.port))
                lsock.listen(BACKLOG)
                lsock.setblocking(False)
            except OSError:
                lsock.close()
                raise
            self._lsock = lsock
            loop.add_reader(lsock.fileno(), self._accept)
            return
        self._server = await loop.create_server(
            lambda: _ClientSide(self),
            self.ip,
            self.port,
            reuse_address=True,
            reuse_port=True,  # several proxies on one host (one per simulated node) share cluster IPs
            backlog=BACKLOG,
        )

    def _accept(self) -> None:
        lsock = self._lsock
        if lsock is None:
            return
        loop = asyncio.get_running_loop()
        for _ in range(64):  # bounded, so one busy frontend cannot starve the loop
            try:
                client, addr = lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("%s: accept failed: %s", self.name, exc)
                return
            client.setblocking(False)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            TCP_CONNECTIONS.inc()
            candidates = self.balancer.candidates(addr[0])
            if not candidates:
                REJECTED.inc()
                _reset_sock(client)
                continue
            task = loop.create_task(self._splice(client, addr[0], candidates))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    async def _splice(self, client: socket.socket, client_ip: str, candidates: list[Backend]) -> None:
        try:
            got = await connect_first(self, client_ip, candidates)
        except BaseException:
            client.close()
            raise
        if got is None:
            log.info("%s: no backend accepted a connection from %s", self.name, client_ip)
            REJECTED.inc()
            _reset_sock(client)
            return
        self.active += 1
        ACTIVE_CONNECTIONS.inc()
        SplicedConnection(client, got[0], on_close=self._closed).start()

    def _closed(self) -> None:
        self.active -= 1
        ACTIVE_CONNECTIONS.dec()

    def close(self) -> None:
        """Stop accepting; connections already spliced carry on until they end."""
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._lsock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._lsock.fileno())
            self._lsock.close()
            self._lsock = None


def _reset_sock(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()
