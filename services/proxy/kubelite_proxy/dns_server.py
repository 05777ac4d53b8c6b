"""Cluster DNS server over UDP and TCP (dnspython for every message).

The address is held exclusively (no SO_REUSEPORT): a second cluster's proxy on
the same host must fail to bind, visibly, rather than silently answer half of
the first cluster's queries from its own Services.

Names in the cluster domain are answered from the proxy's caches
(dns_records.answer); the rest are forwarded to the host's resolvers from
/etc/resolv.conf. When no upstream answers in time the client gets SERVFAIL,
never silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from pathlib import Path
from typing import Any

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode

from kubelite_proxy.dns_records import ClusterView, answer
from kubelite_proxy.udpsock import PktinfoUDP, is_wildcard

log = logging.getLogger(__name__)

FORWARD_TIMEOUT = 2.0  # per upstream
UDP_MAX = 512


def upstreams_from_resolv_conf(path: str = "/etc/resolv.conf", exclude: tuple[str, ...] = ()) -> list[str]:
    """The `nameserver` lines of a resolv.conf, minus our own address (no forwarding loops)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and parts[1] not in exclude:
            out.append(parts[1])
    return out


def parse_host_port(value: str, default_port: int = 53) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep:
        return value, default_port
    return host.strip("[]") or "0.0.0.0", int(port)


class DNSServer:
    def __init__(
        self,
        view: ClusterView,
        *,
        domain: str = "cluster.local",
        host: str = "127.0.0.1",
        port: int = 53,
        upstreams: list[tuple[str, int]] | None = None,
        forward_timeout: float = FORWARD_TIMEOUT,
    ) -> None:
        self.view = view
        self.domain = dns.name.from_text(domain)
        self.host = host
        self.port = port
        if upstreams is None:
            upstreams = [(ip, 53) for ip in upstreams_from_resolv_conf(exclude=(host,))]
        self.upstreams = upstreams
        self.forward_timeout = forward_timeout
        self._udp: Any = None
        self._pktinfo: PktinfoUDP | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._tcp: asyncio.base_events.Server | None = None
        self.queries = 0

    async def start(self) -> None:
        """Listen on UDP and TCP at one port. With port 0 the UDP socket picks it, and that
        number may already be in use for TCP (say, by an outgoing connection): try again
        with a new one a few times rather than fail."""
        wanted = self.port
        for attempt in range(5):
            try:
                await self._start_once()
                return
            except OSError:
                if wanted != 0 or attempt == 4:
                    raise
                self.port = 0

    async def _start_once(self) -> None:
        loop = asyncio.get_running_loop()
        if is_wildcard(self.host):  # answer from the address asked (a pod asks its bridge address)
            self._pktinfo = PktinfoUDP(self.host, self.port, self._on_pktinfo_datagram, reuse_port=False)
            self._pktinfo.start()
            self.port = self._pktinfo.port
        else:
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _UDPProtocol(self), local_addr=(self.host, self.port)
            )
            self.port = self._udp.get_extra_info("sockname")[1]  # port 0 (tests): the one chosen
        try:
            self._tcp = await asyncio.start_server(self._serve_tcp, self.host, self.port)
        except OSError:
            await self.close()
            raise
        log.info("DNS for %s on %s:%d (UDP, TCP); forwarding to %s", self.domain, self.host, self.port,
                 ", ".join(f"{h}:{p}" for h, p in self.upstreams) or "nobody")

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._pktinfo is not None:
            self._pktinfo.close()
            self._pktinfo = None
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None

    def _on_pktinfo_datagram(self, data: bytes, addr: tuple[str, int], local: str) -> None:
        task = asyncio.get_running_loop().create_task(self._reply_pktinfo(data, addr, local))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reply_pktinfo(self, data: bytes, addr: tuple[str, int], local: str) -> None:
        out = await self.respond(data, tcp=False)
        if out is not None and self._pktinfo is not None:
            self._pktinfo.sendto(out, addr, local)

    async def respond(self, wire: bytes, tcp: bool) -> bytes | None:
        """Wire in, wire out (None: not even a header to answer to)."""
        self.queries += 1
        try:
            request = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return _formerr(wire)
        try:
            response = answer(request, self.view, self.domain)
        except Exception:
            log.exception("DNS: failed to answer %s", request.question)
            response = _servfail(request)
        if response is None:
            response = await self._forward(request, tcp)
        return _to_wire(response, request, tcp)

    async def _forward(self, request: dns.message.Message, tcp: bool) -> dns.message.Message:
        for upstream, port in self.upstreams:
            try:
                if tcp:
                    return await dns.asyncquery.tcp(request, upstream, port=port, timeout=self.forward_timeout)
                return await dns.asyncquery.udp(request, upstream, port=port, timeout=self.forward_timeout,
                                                ignore_trailing=True)
            except (dns.exception.DNSException, OSError) as exc:
                log.debug("DNS: upstream %s failed for %s: %r", upstream, request.question, exc)
        return _servfail(request)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                async with asyncio.timeout(30):
                    head = await reader.readexactly(2)
                (size,) = struct.unpack("!H", head)
                wire = await reader.readexactly(size)
                out = await self.respond(wire, tcp=True)
                if out is None:
                    break
                writer.write(struct.pack("!H", len(out)) + out)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class _UDPProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DNSServer) -> None:
        self.server = server
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        task = asyncio.get_running_loop().create_task(self._reply(data, addr))
        self.server._tasks.add(task)
        task.add_done_callback(self.server._tasks.discard)

    async def _reply(self, data: bytes, addr: Any) -> None:
        out = await self.server.respond(data, tcp=False)
        if out is not None and self.transport is not None:
            self.transport.sendto(out, addr)


def _servfail(request: dns.message.Message) -> dns.message.Message:
    response = dns.message.make_response(request)
    response.set_rcode(dns.rcode.SERVFAIL)
    return response


def _formerr(wire: bytes) -> bytes | None:
    if len(wire) < 12:
        return None
    # header only: same id, QR set, opcode kept, rcode FORMERR
    (qid, flags) = struct.unpack("!HH", wire[:4])
    return struct.pack("!HHHHHH", qid, (flags & 0x7800) | 0x8000 | dns.rcode.FORMERR, 0, 0, 0, 0)


def _to_wire(response: dns.message.Message, request: dns.message.Message, tcp: bool) -> bytes:
    limit = 65535 if tcp else max(UDP_MAX, request.payload if request.edns >= 0 else UDP_MAX)
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        truncated = dns.message.make_response(request)
        truncated.set_rcode(response.rcode())
        truncated.flags |= dns.flags.TC | (response.flags & dns.flags.AA)
        return truncated.to_wire(max_size=limit)
