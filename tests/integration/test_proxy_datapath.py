"""The TCP and UDP data paths on real loopback sockets, without the control plane:
both copy modes (splice, protocol) carry bytes intact, forward half-closes,
keep connections alive across a rule change, retry dead backends and reset
when there is nowhere to go."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubelite import devservers
from kubelite_proxy.balancer import Balancer
from kubelite_proxy.dataplane import UserspaceDataplane
from kubelite_proxy.rules import Backend, Frontend, PortRule, ServicePortName
from kubelite_proxy.splice import AVAILABLE as SPLICE_AVAILABLE
from kubelite_proxy.tcp import TCPFrontend

MODES = [pytest.param("splice", marks=pytest.mark.skipif(not SPLICE_AVAILABLE, reason="no splice")), "protocol"]


async def _digest_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads to EOF (the client's half-close), answers with the sha256 and length, then closes."""
    h = hashlib.sha256()
    n = 0
    while chunk := await reader.read(1 << 16):
        h.update(chunk)
        n += len(chunk)
    writer.write(f"{h.hexdigest()} {n}".encode())
    await writer.drain()
    writer.close()


async def _echo_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while chunk := await reader.read(1 << 16):
        writer.write(chunk)
        await writer.drain()
    writer.close()


@pytest.fixture
async def servers() -> AsyncIterator[dict[str, int]]:
    digest = await asyncio.start_server(_digest_server, "127.0.0.1", 0)
    echo = await asyncio.start_server(_echo_server, "127.0.0.1", 0)
    yield {"digest": digest.sockets[0].getsockname()[1], "echo": echo.sockets[0].getsockname()[1]}
    digest.close()
    echo.close()


async def _frontend(copy: str, *backends: int) -> TCPFrontend:
    fe = TCPFrontend("127.0.0.1", devservers.free_port(), Balancer(tuple(Backend("127.0.0.1", p) for p in backends)),
                     copy=copy)  # fmt: skip
    await fe.start()
    return fe


@pytest.mark.parametrize("copy", MODES)
async def test_bytes_arrive_intact_and_half_close_is_forwarded(copy: str, servers: dict[str, int]) -> None:
    fe = await _frontend(copy, servers["digest"])
    try:
        data = os.urandom(8 << 20)
        reader, writer = await asyncio.open_connection("127.0.0.1", fe.port)
        writer.write(data)
        await writer.drain()
        writer.write_eof()  # the server answers only after seeing our EOF
        answer = await asyncio.wait_for(reader.read(), 20)
        assert answer.decode() == f"{hashlib.sha256(data).hexdigest()} {len(data)}"
        writer.close()
    finally:
        fe.close()


@pytest.mark.parametrize("copy", MODES)
async def test_bidirectional_bulk_with_backpressure(copy: str, servers: dict[str, int]) -> None:
    fe = await _frontend(copy, servers["echo"])
    try:
        data = os.urandom(16 << 20)
        reader, writer = await asyncio.open_connection("127.0.0.1", fe.port)

        async def send() -> None:
            writer.write(data)  # far more than every buffer on the way: the proxy must pause reads
            await writer.drain()
            writer.write_eof()

        got, _ = await asyncio.wait_for(asyncio.gather(reader.read(), send()), 30)
        assert len(got) == len(data) and got == data
        writer.close()
    finally:
        fe.close()


@pytest.mark.parametrize("copy", MODES)
async def test_dead_backend_retried_and_no_backend_resets(copy: str, servers: dict[str, int]) -> None:
    dead = devservers.free_port()
    fe = await _frontend(copy, dead, servers["echo"])
    try:
        for _ in range(6):  # every other first choice is the dead one
            reader, writer = await asyncio.open_connection("127.0.0.1", fe.port)
            writer.write(b"ping")
            assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
            writer.close()
        assert fe.connect_failures >= 1
        fe.balancer.update((Backend("127.0.0.1", dead),), None)
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await _read_one(fe.port, 5)  # every backend dead: reset, not a hang
        fe.balancer.update((), None)
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await _read_one(fe.port, 1)
    finally:
        fe.close()


async def _read_one(port: int, timeout: float) -> bytes:  # noqa: ASYNC109
    """Connect and read a byte; the reset may already fail the connect (it raced the handshake)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await reader.readexactly(1)
        finally:
            writer.close()


@pytest.mark.parametrize("copy", MODES)
async def test_open_connection_survives_backend_removal_and_listener_close(copy: str, servers: dict[str, int]) -> None:
    fe = await _frontend(copy, servers["echo"])
    reader, writer = await asyncio.open_connection("127.0.0.1", fe.port)
    writer.write(b"one")
    assert await asyncio.wait_for(reader.readexactly(3), 5) == b"one"
    fe.balancer.update((), None)
    fe.close()  # the Service is gone entirely
    writer.write(b"two")
    assert await asyncio.wait_for(reader.readexactly(3), 5) == b"two"
    writer.close()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", fe.port)


async def test_dataplane_swaps_backends_without_reopening_listeners(servers: dict[str, int]) -> None:
    dp = UserspaceDataplane()
    port = devservers.free_port()
    spn = ServicePortName("ns", "svc", "", "TCP")
    fe = Frontend("127.0.0.1", port, "TCP")
    try:
        await dp.apply("ns/svc", [PortRule(spn, (fe,), (Backend("127.0.0.1", servers["digest"]),))])
        listener = dp.listeners[fe]
        dp.set_rules("ns/svc", [PortRule(spn, (fe,), (Backend("127.0.0.1", servers["echo"]),))])
        # synchronous: the very next connection goes to the new backend, before any sync()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello")
        assert await asyncio.wait_for(reader.readexactly(5), 5) == b"hello"
        writer.close()
        await dp.sync()
        assert dp.listeners[fe] is listener
        await dp.apply("ns/svc", [])
        assert dp.listeners == {}
    finally:
        await dp.close()


async def test_udp_flows_per_client_and_removed_backend_flows_dropped() -> None:
    class Named(asyncio.DatagramProtocol):
        def __init__(self, name: bytes) -> None:
            self.name = name

        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: Any) -> None:
            self.transport.sendto(self.name + b":" + data, addr)

    loop = asyncio.get_running_loop()
    a, _ = await loop.create_datagram_endpoint(lambda: Named(b"a"), local_addr=("127.0.0.1", 0))
    b, _ = await loop.create_datagram_endpoint(lambda: Named(b"b"), local_addr=("127.0.0.1", 0))
    ba = Backend("127.0.0.1", a.get_extra_info("sockname")[1])
    bb = Backend("127.0.0.1", b.get_extra_info("sockname")[1])
    dp = UserspaceDataplane(udp_idle_timeout=0.5)
    port = devservers.free_port()
    spn = ServicePortName("ns", "u", "", "UDP")
    fe = Frontend("127.0.0.1", port, "UDP")
    clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    try:
        await dp.apply("ns/u", [PortRule(spn, (fe,), (ba, bb))])

        async def ask(c: socket.socket, msg: bytes) -> bytes:
            c.setblocking(False)
            await loop.sock_sendto(c, msg, ("127.0.0.1", port))
            return await asyncio.wait_for(loop.sock_recv(c, 100), 2)

        first = [await ask(c, b"x") for c in clients]
        assert sorted(r[:1] for r in first) == [b"a", b"b"]  # two clients, two flows, round-robin
        assert [await ask(c, b"y") for c in clients] == [r[:2] + b"y" for r in first]  # flows stick
        dp.set_rules("ns/u", [PortRule(spn, (fe,), (bb,))])
        assert [await ask(c, b"z") for c in clients] == [b"b:z", b"b:z"]  # the flow to a is gone
    finally:
        for c in clients:
            c.close()
        await dp.close()
        a.close()
        b.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="adding addresses to kl-svc0 needs root")
async def test_cluster_ip_addresses_are_owned_by_whoever_added_them() -> None:
    from kubelite_proxy.addresses import AddressManager, is_local

    ip = "10.96.255.251"
    first, second = AddressManager(enabled=True), AddressManager(enabled=True)
    try:
        assert not is_local(ip)
        await first.ensure(ip)
        assert is_local(ip) and first.added == {ip}
        await second.ensure(ip)  # already local: used, not owned
        assert second.added == set()
        await second.remove_owned()
        assert is_local(ip)
        await first.remove_owned()  # the owner exits
        assert not is_local(ip)
        await second.verify({ip})  # the survivor puts it back and now owns it
        assert is_local(ip) and second.added == {ip}
    finally:
        await first.remove_owned()
        await second.remove_owned()
    assert not is_local(ip)


async def test_dns_forwards_other_names_upstream_over_udp_and_tcp() -> None:
    import dns.asyncquery
    import dns.message
    import dns.rcode
    import dns.rrset

    from kubelite_proxy.dns_server import DNSServer

    class Upstream(asyncio.DatagramProtocol):
        """A stand-in for the host's resolver: every A question is 192.0.2.80."""

        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: Any) -> None:
            q = dns.message.from_wire(data)
            r = dns.message.make_response(q)
            r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "A", "192.0.2.80"))
            self.transport.sendto(r.to_wire(), addr)

    class Empty:
        def service(self, namespace: str, name: str) -> None:
            return None

        def endpoints(self, namespace: str, name: str) -> None:
            return None

    loop = asyncio.get_running_loop()
    upstream, _ = await loop.create_datagram_endpoint(Upstream, local_addr=("127.0.0.1", 0))
    server = DNSServer(Empty(), host="127.0.0.1", port=0, upstreams=[("127.0.0.1", upstream.get_extra_info("sockname")[1])])
    await server.start()
    try:
        q = dns.message.make_query("example.org", "A")
        r = await dns.asyncquery.udp(q, "127.0.0.1", port=server.port, timeout=3)
        assert r.rcode() == dns.rcode.NOERROR and r.answer[0][0].to_text() == "192.0.2.80"
        # a client falling back to TCP is forwarded over TCP; this upstream has none, so SERVFAIL, promptly
        server.forward_timeout = 0.5
        r = await dns.asyncquery.tcp(q, "127.0.0.1", port=server.port, timeout=3)
        assert r.rcode() == dns.rcode.SERVFAIL
        # cluster names never leave the node
        r = await dns.asyncquery.udp(dns.message.make_query("x.default.svc.cluster.local", "A"), "127.0.0.1",
                                     port=server.port, timeout=3)  # fmt: skip
        assert r.rcode() == dns.rcode.NXDOMAIN
    finally:
        await server.close()
        upstream.close()


async def test_wildcard_udp_answers_come_from_the_address_asked() -> None:
    """A pod asks its node's bridge address; the answer must come from that address, not
    from whichever one routing would pick for a socket bound to 0.0.0.0."""
    import dns.asyncquery
    import dns.message

    from kubelite_proxy.dns_server import DNSServer

    class Empty:
        def service(self, namespace: str, name: str) -> None:
            return None

        def endpoints(self, namespace: str, name: str) -> None:
            return None

    server = DNSServer(Empty(), host="0.0.0.0", port=devservers.free_port(), upstreams=[])
    await server.start()
    try:
        for asked in ("127.0.0.1", "127.0.0.2"):  # dnspython rejects an answer from another source
            q = dns.message.make_query("nope.default.svc.cluster.local", "A")
            r = await dns.asyncquery.udp(q, asked, port=server.port, timeout=3)
            assert r.rcode() == dns.rcode.NXDOMAIN
    finally:
        await server.close()

    # the same for a UDP NodePort on every address
    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: Any) -> None:
            self.transport.sendto(data, addr)

    loop = asyncio.get_running_loop()
    echo, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
    dp = UserspaceDataplane()
    port = devservers.free_port()
    fe = Frontend("0.0.0.0", port, "UDP")
    backend = Backend("127.0.0.1", echo.get_extra_info("sockname")[1])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        try:
            await dp.apply("ns/np", [PortRule(ServicePortName("ns", "np", "", "UDP"), (fe,), (backend,))])
            c.setblocking(False)
            await loop.sock_sendto(c, b"hi", ("127.0.0.2", port))
            data, source = await asyncio.wait_for(loop.sock_recvfrom(c, 100), 3)
            assert (data, source) == (b"hi", ("127.0.0.2", port))
        finally:
            await dp.close()
            echo.close()
