"""The proxy end to end on real etcd, NATS and apiserver: Services and Endpoints are created
through the API; backends are tiny asyncio servers on 127.0.0.1 answering their name.

Cluster IPs come from the session apiserver's default range (10.96.0.0/16): the
proxy makes them local on kl-svc0, which needs root (tests skip otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import dns.asyncquery
import dns.message
import dns.rcode
import httpx
import msgspec
import nats.aio.client
import pytest

from kubelite import devservers
from kubelite.bus.proxy import APPLIED_ALL
from kubelite.bus.proxy import Applied as AppliedRules
from kubelite.bus.proxy import applied as applied_subject
from kubelite_proxy.service import ProxyService
from tests.conftest import eventually

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="cluster IPs from 10.96.0.0/16 need root (kl-svc0)")

NODE = "proxy-test-node"


# -- backends -----------------------------------------------------------------------


class NameServer:
    """HTTP/1.0 server answering its name; GET /hold waits until `release` is set."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = 0
        self.release = asyncio.Event()
        self.held = 0
        self.served = 0
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> NameServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            if b"/hold" in line:
                self.held += 1
                await self.release.wait()
            self.served += 1
            body = self.name.encode()
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()


async def get(host: str, port: int, path: str = "/", timeout: float = 5) -> str:  # noqa: ASYNC109
    """One HTTP/1.0 request; the body (the backend's name)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
            data = await reader.read()
        finally:
            writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200"), data
    return body.decode()


@pytest.fixture
async def backends() -> AsyncIterator[list[NameServer]]:
    servers = [await NameServer(f"pod-{i}").start() for i in range(3)]
    yield servers
    for s in servers:
        s.release.set()
        s.close()


# -- API helpers --------------------------------------------------------------------


async def create_service(api: httpx.AsyncClient, ns: str, name: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("ports", [{"name": "http", "port": 80, "targetPort": "http"}])
    r = await api.post(f"/api/v1/namespaces/{ns}/services", json={"metadata": {"name": name}, "spec": spec})
    assert r.status_code == 201, r.text
    return r.json()


def subsets(servers: list[NameServer], port_name: str = "http", ports: list[int] | None = None) -> list[dict]:
    # one subset per backend: every backend listens on its own port of 127.0.0.1
    return [
        {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": port_name, "port": p}]}
        for p in (ports if ports is not None else [s.port for s in servers])
    ]


async def put_endpoints(api: httpx.AsyncClient, ns: str, name: str, subs: list[dict]) -> str:
    """Create or replace the Endpoints; returns its new resourceVersion."""
    base = f"/api/v1/namespaces/{ns}/endpoints"
    body: dict[str, Any] = {"metadata": {"name": name}, "subsets": subs}
    r = await api.get(f"{base}/{name}")
    if r.status_code == 404:
        r = await api.post(base, json=body)
        assert r.status_code == 201, r.text
    else:
        body["metadata"]["resourceVersion"] = r.json()["metadata"]["resourceVersion"]
        r = await api.put(f"{base}/{name}", json=body)
        assert r.status_code == 200, r.text
    return r.json()["metadata"]["resourceVersion"]


# -- the proxy ----------------------------------------------------------------------


@pytest.fixture
async def proxy(apiserver: Any, nats_client: nats.aio.client.Client) -> AsyncIterator[ProxyService]:
    dns_port = devservers.free_port()
    service = ProxyService(
        nats_client, node_name=NODE, bind_address="127.0.0.1", dns_bind=("127.0.0.1", dns_port),
        resync_seconds=300, dns_upstreams=[("127.0.0.1", devservers.free_port())],
    )  # fmt: skip
    service.dns.forward_timeout = 0.5  # type: ignore[union-attr]
    task = asyncio.get_running_loop().create_task(service.run())
    await asyncio.wait_for(service.ready.wait(), 15)
    yield service
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def listening(proxy: ProxyService, ip: str, port: int) -> bool:
    return any(fe.ip == ip and fe.port == port for fe in proxy.dataplane.listeners)


async def service_ready(proxy: ProxyService, svc: dict[str, Any], n_backends: int) -> tuple[str, int]:
    ip, port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]
    ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]

    def ready() -> bool:
        bals = [b for spn, b in proxy.dataplane.balancers.items() if (spn.namespace, spn.name) == (ns, name)]
        return listening(proxy, ip, port) and bool(bals) and len(bals[0].backends) == n_backends

    await eventually(ready, timeout=10, message=f"proxy never listened on {ip}:{port} with {n_backends} backends")
    return ip, port


def _collect(acks: list[AppliedRules]) -> Any:
    async def cb(msg: Any) -> None:
        acks.append(msgspec.json.decode(msg.data, type=AppliedRules))

    return cb


# -- tests --------------------------------------------------------------------------


async def test_cluster_ip_spreads_300_requests_over_three_endpoints(
    api: httpx.AsyncClient, namespace: str, backends: list[NameServer], proxy: ProxyService
) -> None:
    svc = await create_service(api, namespace, "web")
    await put_endpoints(api, namespace, "web", subsets(backends))
    ip, port = await service_ready(proxy, svc, 3)
    counts = Counter([await get(ip, port) for _ in range(300)])
    assert set(counts) == {"pod-0", "pod-1", "pod-2"}, counts
    assert all(80 <= c <= 120 for c in counts.values()), counts
    # and concurrently, 60 at once
    counts = Counter(await asyncio.gather(*[get(ip, port) for _ in range(60)]))
    assert sum(counts.values()) == 60 and len(counts) == 3, counts


async def test_node_port_on_the_bind_address(
    api: httpx.AsyncClient, namespace: str, backends: list[NameServer], proxy: ProxyService
) -> None:
    svc = await create_service(api, namespace, "np", type="NodePort")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767
    await put_endpoints(api, namespace, "np", subsets(backends))
    await service_ready(proxy, svc, 3)
    await eventually(lambda: listening(proxy, "127.0.0.1", node_port), message="NodePort not listening")
    counts = Counter([await get("127.0.0.1", node_port) for _ in range(30)])
    assert counts == {"pod-0": 10, "pod-1": 10, "pod-2": 10}


async def test_removed_endpoint_gets_no_new_connections_but_open_ones_finish(
    api: httpx.AsyncClient, namespace: str, backends: list[NameServer], proxy: ProxyService,
    nats_client: nats.aio.client.Client,
) -> None:  # fmt: skip
    acks: list[AppliedRules] = []
    sub = await nats_client.subscribe(applied_subject(NODE), cb=_collect(acks))
    try:
        svc = await create_service(api, namespace, "roll")
        await put_endpoints(api, namespace, "roll", subsets(backends))
        ip, port = await service_ready(proxy, svc, 3)
        # open one connection to every backend and keep them busy
        held = [asyncio.get_running_loop().create_task(get(ip, port, "/hold", timeout=20)) for _ in range(3)]
        await eventually(lambda: all(b.held == 1 for b in backends), message="held requests did not all arrive")

        t0 = time.monotonic()
        rv = await put_endpoints(api, namespace, "roll", subsets(backends[1:]))
        await eventually(
            lambda: any(a.name == "roll" and a.namespace == namespace and a.resourceVersion == rv for a in acks),
            timeout=5, message=f"no applied ack for roll@{rv}",
        )  # fmt: skip
        applied = time.monotonic() - t0
        assert applied < 1.0, f"applying took {applied:.3f}s"
        counts = Counter([await get(ip, port) for _ in range(30)])
        assert counts == {"pod-1": 15, "pod-2": 15}, counts
        assert backends[0].held == 1 and backends[0].served == 0  # nothing new reached pod-0

        for b in backends:
            b.release.set()
        assert sorted(await asyncio.gather(*held)) == ["pod-0", "pod-1", "pod-2"]  # the open ones finished
    finally:
        await sub.unsubscribe()


async def test_dead_backend_is_skipped_before_the_client_notices(
    api: httpx.AsyncClient, namespace: str, backends: list[NameServer], proxy: ProxyService
) -> None:
    dead = devservers.free_port()  # nothing listens here: connection refused
    svc = await create_service(api, namespace, "flaky")
    await put_endpoints(api, namespace, "flaky", subsets([], ports=[dead, backends[0].port]))
    ip, port = await service_ready(proxy, svc, 2)
    before = sum(fe.connect_failures for fe in proxy.dataplane.listeners.values() if hasattr(fe, "connect_failures"))
    results = [await get(ip, port) for _ in range(20)]
    assert results == ["pod-0"] * 20
    after = sum(fe.connect_failures for fe in proxy.dataplane.listeners.values() if hasattr(fe, "connect_failures"))
    assert after - before >= 1  # it was tried (and then demoted for a few seconds)


async def test_client_ip_affinity_sticks(
    api: httpx.AsyncClient, namespace: str, backends: list[NameServer], proxy: ProxyService
) -> None:
    svc = await create_service(api, namespace, "sticky", sessionAffinity="ClientIP")
    await put_endpoints(api, namespace, "sticky", subsets(backends))
    ip, port = await service_ready(proxy, svc, 3)
    results = Counter([await get(ip, port) for _ in range(30)])
    assert len(results) == 1, results


async def test_service_without_endpoints_resets_quickly_and_proxy_survives(
    api: httpx.AsyncClient, namespace: str, backends: list[NameServer], proxy: ProxyService
) -> None:
    empty = await create_service(api, namespace, "empty", selector={"app": "matches-nothing"})
    ip, port = await service_ready(proxy, empty, 0)
    t0 = time.monotonic()
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError, AssertionError)):
        await get(ip, port, timeout=5)
    assert time.monotonic() - t0 < 1.0
    # the proxy still serves other Services, and this one once it has endpoints
    await put_endpoints(api, namespace, "empty", subsets(backends[:1]))
    await service_ready(proxy, empty, 1)
    assert await get(ip, port) == "pod-0"


async def test_node_port_taken_by_another_program_is_a_warning_not_a_crash(
    api: httpx.AsyncClient, namespace: str, backends: list[NameServer], proxy: ProxyService
) -> None:
    squat = socket.socket()  # without SO_REUSEPORT, so the proxy cannot share the port
    port = _bind_free_node_port(squat)
    try:
        await create_service(api, namespace, "taken", type="NodePort",
                             ports=[{"name": "http", "port": 80, "nodePort": port}])  # fmt: skip
        await put_endpoints(api, namespace, "taken", subsets(backends))
        await eventually(lambda: any(fe.port == port for fe in proxy.dataplane.failed),
                         message="bind failure not recorded")  # fmt: skip
        # every other Service still works
        ok = await create_service(api, namespace, "fine", type="NodePort")
        await put_endpoints(api, namespace, "fine", subsets(backends))
        ip, cport = await service_ready(proxy, ok, 3)
        node_port = ok["spec"]["ports"][0]["nodePort"]
        await eventually(lambda: listening(proxy, "127.0.0.1", node_port), message="NodePort not listening")
        assert await get("127.0.0.1", node_port) in {"pod-0", "pod-1", "pod-2"}
        assert await get(ip, cport) in {"pod-0", "pod-1", "pod-2"}
    finally:
        squat.close()


def _bind_free_node_port(sock: socket.socket) -> int:
    for port in range(32767, 30000, -1):
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        sock.listen()
        return port
    raise AssertionError("no free NodePort")


async def test_udp_service(api: httpx.AsyncClient, namespace: str, proxy: ProxyService) -> None:
    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: Any) -> None:
            self.transport.sendto(b"echo:" + data, addr)

    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        svc = await create_service(api, namespace, "udp", ports=[{"name": "u", "port": 5300, "protocol": "UDP"}])
        await put_endpoints(api, namespace, "udp", [
            {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "u", "port": port, "protocol": "UDP"}]}])
        ip = svc["spec"]["clusterIP"]
        await eventually(lambda: listening(proxy, ip, 5300), message="UDP frontend not listening")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.setblocking(False)
            loop = asyncio.get_running_loop()

            async def roundtrip(msg: bytes) -> bytes:
                await loop.sock_sendto(c, msg, (ip, 5300))
                return await asyncio.wait_for(loop.sock_recv(c, 100), 2)

            got = await eventually(lambda: _try(roundtrip(b"hi")), message="no UDP echo through the proxy")
            assert got == b"echo:hi"
            assert await roundtrip(b"again") == b"echo:again"
    finally:
        transport.close()


async def _try(coro: Any) -> Any:
    try:
        return await coro
    except TimeoutError:
        return None


async def test_dns_answers_a_srv_nxdomain_and_servfail(
    api: httpx.AsyncClient, namespace: str, backends: list[NameServer], proxy: ProxyService
) -> None:
    svc = await create_service(api, namespace, "named")
    await create_service(api, namespace, "headless", clusterIP="None")
    await put_endpoints(api, namespace, "headless", [
        {"addresses": [{"ip": "10.244.0.5"}, {"ip": "10.244.0.6"}], "notReadyAddresses": [{"ip": "10.244.0.7"}],
         "ports": [{"name": "http", "port": 8080}]}])  # fmt: skip
    assert proxy.dns is not None
    server, port = "127.0.0.1", proxy.dns.port

    async def query(name: str, rdtype: str = "A", tcp: bool = False) -> dns.message.Message:
        q = dns.message.make_query(name, rdtype)
        if tcp:
            return await dns.asyncquery.tcp(q, server, port=port, timeout=3)
        return await dns.asyncquery.udp(q, server, port=port, timeout=3)

    def texts(r: dns.message.Message) -> set[str]:
        return {rd.to_text() for rrset in r.answer for rd in rrset}

    name = f"named.{namespace}.svc.cluster.local"
    r = await eventually(lambda: _answered(query(name)), message=f"{name} never resolved")
    assert texts(r) == {svc["spec"]["clusterIP"]}
    assert texts(await query(name, tcp=True)) == {svc["spec"]["clusterIP"]}
    srv = await query(f"_http._tcp.{name}", "SRV")
    assert texts(srv) == {f"0 100 80 {name}."}
    headless = f"headless.{namespace}.svc.cluster.local"
    r = await eventually(lambda: _answered(query(headless)), message="headless name never resolved")
    assert texts(r) == {"10.244.0.5", "10.244.0.6"}
    assert (await query(f"missing.{namespace}.svc.cluster.local")).rcode() == dns.rcode.NXDOMAIN
    t0 = time.monotonic()
    r = await query("example.invalid.")  # forwarded to an upstream that does not answer
    assert r.rcode() == dns.rcode.SERVFAIL
    assert time.monotonic() - t0 < 2.5


async def _answered(coro: Any) -> Any:
    r = await coro
    return r if r.answer else None


# -- the command line -------------------------------------------------------------------


NODES = {"node-a": "127.0.0.3", "node-b": "127.0.0.4"}


@pytest.fixture
def proxy_processes(apiserver: Any, nats_url: str, tmp_path: Path, register_nodes: Any) -> Iterator[dict[str, int]]:
    """Two `kubelite-proxy` processes on this host, as two nodes: NodePorts on their own
    loopback addresses, cluster IPs shared. Yields node -> DNS port."""
    exe = Path(sys.executable).with_name("kubelite-proxy")
    pki_dir = register_nodes(*NODES)
    procs: dict[str, tuple[subprocess.Popen, Path]] = {}
    dns_ports = {}
    try:
        for node, ip in NODES.items():
            dns_ports[node] = devservers.free_port()
            log_path = tmp_path / f"proxy-{node}.log"
            with log_path.open("ab") as log:
                procs[node] = (subprocess.Popen(
                    [str(exe), "--nats", nats_url, "--pki-dir", pki_dir, "--node-name", node, "--bind-address", ip,
                     "--dns-bind", f"127.0.0.1:{dns_ports[node]}", "--log-level", "debug"],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                ), log_path)  # fmt: skip
        yield dns_ports
        for node, (popen, log_path) in procs.items():
            assert popen.poll() is None, f"proxy {node} exited:\n{log_path.read_text()[-3000:]}"
            popen.terminate()
            assert popen.wait(10) == 0, log_path.read_text()[-3000:]
    finally:
        for node, (popen, log_path) in procs.items():
            if popen.poll() is None:
                popen.kill()
                popen.wait()
            print(f"--- proxy {node} log ---\n" + log_path.read_text()[-4000:])


async def test_kubelite_proxy_commands_serve_node_ports_on_two_nodes_dns_and_ack(
    api: httpx.AsyncClient, namespace: str, backends: list[NameServer], proxy_processes: dict[str, int],
    nats_client: nats.aio.client.Client,
) -> None:  # fmt: skip
    acks: list[AppliedRules] = []
    sub = await nats_client.subscribe(APPLIED_ALL, cb=_collect(acks))
    try:
        svc = await create_service(api, namespace, "cli", type="NodePort")
        rv = await put_endpoints(api, namespace, "cli", subsets(backends))
        await eventually(
            lambda: {a.node for a in acks if a.name == "cli" and a.resourceVersion == rv} == set(NODES),
            timeout=15, message="not every proxy process acked",
        )  # fmt: skip
        node_port = svc["spec"]["ports"][0]["nodePort"]
        for node_ip in NODES.values():
            counts = Counter([await get(node_ip, node_port) for _ in range(30)])
            assert counts == {"pod-0": 10, "pod-1": 10, "pod-2": 10}, (node_ip, counts)
        assert Counter([await get(svc["spec"]["clusterIP"], 80) for _ in range(6)]).total() == 6
        for dns_port in proxy_processes.values():
            q = dns.message.make_query(f"cli.{namespace}.svc.cluster.local", "A")
            r = await dns.asyncquery.udp(q, "127.0.0.1", port=dns_port, timeout=3)
            assert {rd.to_text() for rrset in r.answer for rd in rrset} == {svc["spec"]["clusterIP"]}
    finally:
        await sub.unsubscribe()
