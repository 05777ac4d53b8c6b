"""UDP data path: one flow per client address, pinned to a backend until idle.

Each client address gets its own socket connected to the chosen backend, so
replies come back on it and are sent to that client from the frontend's
socket (the client sees the frontend address answer). Flows idle for longer
than `idle_timeout` are closed by a sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from kubelite_proxy.balancer import Balancer
from kubelite_proxy.rules import Backend
from kubelite_proxy.udpsock import PktinfoUDP, is_wildcard

log = logging.getLogger(__name__)


class _Flow(asyncio.DatagramProtocol):
    __slots__ = ("backend", "client", "frontend", "last", "local", "transport")

    def __init__(self, frontend: UDPFrontend, client: tuple[str, int], backend: Backend, local: str) -> None:
        self.frontend = frontend
        self.client = client
        self.backend = backend
        self.local = local  # the address the client sent to: replies come from it
        self.transport: Any = None
        self.last = time.monotonic()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.last = time.monotonic()
        self.frontend.reply(data, self.client, self.local)

    def error_received(self, exc: Exception) -> None:
        log.debug("%s: flow for %s: %s", self.frontend.name, self.client, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.frontend.flows.get(self.client) is self:
            del self.frontend.flows[self.client]


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, frontend: UDPFrontend) -> None:
        self.frontend = frontend

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.frontend.received(data, addr)


class UDPFrontend:
    def __init__(self, ip: str, port: int, balancer: Balancer, name: str = "", idle_timeout: float = 30.0) -> None:
        self.ip = ip
        self.port = port
        self.balancer = balancer
        self.name = name or f"udp {ip}:{port}"
        self.idle_timeout = idle_timeout
        self.transport: Any = None  # the listening socket's transport (a specific address)
        self._pktinfo: PktinfoUDP | None = None  # or, on the wildcard address, this
        self.flows: dict[tuple[str, int], _Flow] = {}
        self._pending: dict[tuple[str, int], list[bytes]] = {}  # datagrams waiting for their flow socket
        self._sweeper: asyncio.Task[None] | None = None
        self._opening: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if is_wildcard(self.ip):  # NodePorts on every address: answer from the one the client used
            self._pktinfo = PktinfoUDP(self.ip, self.port, self.received)
            self._pktinfo.start()
        else:
            self.transport, _ = await loop.create_datagram_endpoint(
                lambda: _Listener(self), local_addr=(self.ip, self.port), reuse_port=True
            )
        self._sweeper = loop.create_task(self._sweep())

    def reply(self, data: bytes, client: tuple[str, int], local: str) -> None:
        if self._pktinfo is not None:
            self._pktinfo.sendto(data, client, local)
        elif self.transport is not None:
            self.transport.sendto(data, client)

    @property
    def closed(self) -> bool:
        return self.transport is None and self._pktinfo is None

    def received(self, data: bytes, addr: tuple[str, int], local: str = "") -> None:
        flow = self.flows.get(addr)
        if flow is not None and flow.transport is not None:
            flow.last = time.monotonic()
            flow.transport.sendto(data)
            return
        pending = self._pending.get(addr)
        if pending is not None:
            if len(pending) < 64:
                pending.append(data)
            return
        candidates = self.balancer.candidates(addr[0])
        if not candidates:
            return  # no endpoints: dropped, as kube-proxy's REJECT would answer nothing useful for UDP
        self._pending[addr] = [data]
        task = asyncio.get_running_loop().create_task(self._open_flow(addr, candidates[0], local))
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)

    async def _open_flow(self, addr: tuple[str, int], backend: Backend, local: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, flow = await loop.create_datagram_endpoint(
                lambda: _Flow(self, addr, backend, local), remote_addr=(backend.ip, backend.port)
            )
        except OSError as exc:
            log.info("%s: cannot reach %s:%d: %s", self.name, backend.ip, backend.port, exc)
            self._pending.pop(addr, None)
            return
        if self.closed:  # the frontend closed while this flow was opening
            flow.transport.close()
            self._pending.pop(addr, None)
            return
        self.balancer.connected(addr[0], backend)
        self.flows[addr] = flow
        for data in self._pending.pop(addr, []):
            flow.transport.sendto(data)

    def drop_flows_to_removed_backends(self) -> None:
        """Backends that left the Endpoints get no more datagrams (kube-proxy clears their conntrack)."""
        live = set(self.balancer.backends)
        for flow in [f for f in self.flows.values() if f.backend not in live]:
            flow.transport.close()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(max(self.idle_timeout / 2, 0.05))
            deadline = time.monotonic() - self.idle_timeout
            for flow in [f for f in self.flows.values() if f.last < deadline]:
                flow.transport.close()

    def close(self) -> None:
        """Stop accepting new datagrams; live flows are closed too (UDP has no connection to finish)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        if self._pktinfo is not None:
            self._pktinfo.close()
            self._pktinfo = None
        for flow in list(self.flows.values()):
            with contextlib.suppress(Exception):
                flow.transport.close()
