"""The nftables data path on real namespaces (as root): a node, pods on its bridge, a host outside.

    ext (192.0.2.2) ── veth ── node (192.0.2.1; bridge 10.250.7.1/24) ── veth ── pod-a 10.250.7.2 (backend)
                                                                      ├─ veth ── pod-b 10.250.7.3 (backend)
                                                                      └─ veth ── client 10.250.7.4

Every namespace is created for the test (nothing touches this host's own
network), NftablesDataplane writes its table in `node` through
`ip netns exec`, and the backends answer with their name and the address
they saw the client as.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from kubelite_proxy.nft_dataplane import NftablesDataplane, unavailable_reason
from kubelite_proxy.rules import Backend, Frontend, PortRule, ServicePortName
from tests.conftest import eventually

pytestmark = [pytest.mark.root, pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))]

T = TypeVar("T")
CLUSTER_IP, EMPTY_IP, NODE_IP, BRIDGE_IP = "10.96.0.10", "10.96.0.11", "192.0.2.1", "10.250.7.1"
PODS = {"pod-a": "10.250.7.2", "pod-b": "10.250.7.3", "client": "10.250.7.4"}
WEB = ServicePortName("default", "web", "", "TCP")
DNS = ServicePortName("default", "web", "dns", "UDP")
EMPTY = ServicePortName("default", "empty", "", "TCP")
NODE_PORT = 30080

# A backend: TCP 8080 answers every line with "<name> <client address>", UDP 5353 answers with its name.
BACKEND = """
import socket, sys, threading
name = sys.argv[1]
def serve(conn, peer):
    f = conn.makefile("rwb")
    for _ in f:
        f.write(f"{name} {peer[0]}\\n".encode()); f.flush()
    conn.close()
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 5353))
    while True:
        _, peer = u.recvfrom(100); u.sendto(name.encode(), peer)
threading.Thread(target=udp, daemon=True).start()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 8080)); s.listen(64)
print("ready", flush=True)
while True:
    c, peer = s.accept(); threading.Thread(target=serve, args=(c, peer), daemon=True).start()
"""


def sh(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, f"`{' '.join(argv)}` failed: {done.stderr.strip()}"
    return done.stdout


def in_netns(ns: str, fn: Callable[[], T]) -> T:
    """Run `fn` on a thread that joined network namespace `ns` (sockets it makes live there)."""
    import ctypes

    box: dict[str, Any] = {}

    def run() -> None:
        fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
        try:
            if ctypes.CDLL(None, use_errno=True).setns(fd, 0x40000000) != 0:
                raise OSError(ctypes.get_errno(), f"setns {ns}")
            box["value"] = fn()
        except BaseException as exc:  # handed back to the caller
            box["error"] = exc
        finally:
            os.close(fd)

    t = threading.Thread(target=run, daemon=True)  # a thread that changed namespace is never reused
    t.start()
    t.join(30)
    if "error" in box:
        raise box["error"]
    return box["value"]


def ask(ip: str, port: int) -> str:
    """One TCP connection, one line: the backend's "<name> <client address>"."""
    with socket.create_connection((ip, port), timeout=5) as s:
        s.sendall(b"hi\n")
        return s.makefile().readline().strip()


@dataclass
class Lab:
    ns: dict[str, str]  # role -> netns name
    dataplane: NftablesDataplane

    async def ask(self, role: str, ip: str, port: int) -> str:
        return await asyncio.to_thread(in_netns, self.ns[role], lambda: ask(ip, port))

    async def answers(self, role: str, ip: str, port: int, n: int) -> list[str]:
        return await asyncio.to_thread(in_netns, self.ns[role], lambda: [ask(ip, port) for _ in range(n)])

    async def apply(self, *rules: PortRule) -> None:
        await self.dataplane.apply("default/web", list(rules))
        assert not self.dataplane._dirty


def _build(ns: dict[str, str]) -> None:
    node = ns["node"]
    for name in ns.values():
        sh("ip", "netns", "add", name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
    sh("ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    sh("ip", "-n", node, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", node, "addr", "add", f"{BRIDGE_IP}/24", "dev", "br0")
    sh("ip", "-n", node, "link", "set", "br0", "up")
    for role, ip in PODS.items():
        veth = f"v-{role}"
        sh("ip", "-n", node, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns[role])
        sh("ip", "-n", node, "link", "set", veth, "master", "br0", "up")
        sh("ip", "-n", ns[role], "addr", "add", f"{ip}/24", "dev", "eth0")
        sh("ip", "-n", ns[role], "link", "set", "eth0", "up")
        sh("ip", "-n", ns[role], "route", "add", "default", "via", BRIDGE_IP)
    sh("ip", "-n", node, "link", "add", "uplink", "type", "veth", "peer", "name", "eth0", "netns", ns["ext"])
    sh("ip", "-n", node, "addr", "add", f"{NODE_IP}/24", "dev", "uplink")
    sh("ip", "-n", node, "link", "set", "uplink", "up")
    sh("ip", "-n", node, "route", "add", "default", "via", "192.0.2.2")  # as a real host has one
    sh("ip", "-n", ns["ext"], "addr", "add", "192.0.2.2/24", "dev", "eth0")
    sh("ip", "-n", ns["ext"], "link", "set", "eth0", "up")


@contextlib.contextmanager
def _backends(ns: dict[str, str]) -> Iterator[None]:
    procs = []
    try:
        for role in ("pod-a", "pod-b"):
            p = subprocess.Popen(["ip", "netns", "exec", ns[role], sys.executable, "-c", BACKEND, role],
                                 stdout=subprocess.PIPE, text=True)  # fmt: skip
            procs.append(p)
            assert p.stdout is not None and p.stdout.readline().strip() == "ready", f"backend {role} did not start"
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    suffix = uuid.uuid4().hex[:6]
    ns = {role: f"klnft-{role}-{suffix}" for role in ("node", "ext", *PODS)}
    try:
        _build(ns)
        with _backends(ns):
            dp = NftablesDataplane(table="kubelite-proxy-test", command_prefix=["ip", "netns", "exec", ns["node"]])
            await dp.start()
            yield Lab(ns, dp)
            await dp.close()
    finally:
        _remove(ns)


def _remove(ns: dict[str, str]) -> None:
    for name in ns.values():
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def web(*backends: str, affinity: int | None = None, node_port: bool = True) -> PortRule:
    frontends = [Frontend(CLUSTER_IP, 80, "TCP")] + ([Frontend("0.0.0.0", NODE_PORT, "TCP")] if node_port else [])
    return PortRule(WEB, tuple(frontends), tuple(Backend(PODS[b], 8080) for b in backends), affinity, CLUSTER_IP)


def dns(*backends: str) -> PortRule:
    return PortRule(DNS, (Frontend(CLUSTER_IP, 53, "UDP"),), tuple(Backend(PODS[b], 5353) for b in backends),
                    None, CLUSTER_IP)  # fmt: skip


async def test_cluster_ip_and_node_port_reach_every_ready_endpoint(lab: Lab) -> None:
    await lab.apply(web("pod-a", "pod-b"))
    seen = await lab.answers("client", CLUSTER_IP, 80, 30)
    assert {a.split()[0] for a in seen} == {"pod-a", "pod-b"}, seen
    # a pod's traffic keeps its own source address (no masquerade inside the cluster)
    assert {a.split()[1] for a in seen} == {PODS["client"]}, seen
    # the node itself reaches the cluster IP (nat output hook)
    assert (await lab.ask("node", CLUSTER_IP, 80)).split()[0] in {"pod-a", "pod-b"}
    # from outside through the NodePort: masqueraded to the node's bridge address, so replies come back
    outside = await lab.answers("ext", NODE_IP, NODE_PORT, 6)
    assert {a.split()[1] for a in outside} == {BRIDGE_IP}, outside


async def test_no_ready_endpoint_is_refused_at_once_not_timed_out(lab: Lab) -> None:
    empty = PortRule(EMPTY, (Frontend(EMPTY_IP, 80, "TCP"), Frontend("0.0.0.0", 30081, "TCP")), (), None, EMPTY_IP)
    await lab.dataplane.apply("default/empty", [empty])
    for role, ip, port in (("client", EMPTY_IP, 80), ("node", EMPTY_IP, 80), ("ext", NODE_IP, 30081)):
        with pytest.raises(ConnectionRefusedError):
            await lab.ask(role, ip, port)
    # the first endpoint arrives: the same address answers
    await lab.dataplane.apply("default/empty", [PortRule(EMPTY, empty.frontends, (Backend(PODS["pod-b"], 8080),),
                                                         None, EMPTY_IP)])  # fmt: skip
    assert (await lab.ask("client", EMPTY_IP, 80)).startswith("pod-b")


async def test_removed_endpoint_finishes_open_connections_and_gets_no_new_ones(lab: Lab) -> None:
    """The zero-drop rollout's kernel half: an endpoint leaving stops new connections, not open ones."""
    await lab.apply(web("pod-a", "pod-b"))

    def hold_until_pod_a() -> tuple[socket.socket, Any]:
        while True:
            s = socket.create_connection((CLUSTER_IP, 80), timeout=5)
            f = s.makefile("rw")
            f.write("hi\n")
            f.flush()
            if f.readline().startswith("pod-a"):
                return s, f
            s.close()

    sock, stream = await asyncio.to_thread(in_netns, lab.ns["client"], hold_until_pod_a)
    try:
        await lab.apply(web("pod-b"))
        news = await lab.answers("client", CLUSTER_IP, 80, 12)
        assert {a.split()[0] for a in news} == {"pod-b"}, news

        def again() -> str:
            stream.write("still there?\n")
            stream.flush()
            return str(stream.readline().strip())

        assert (await asyncio.to_thread(again)).startswith("pod-a")  # conntrack keeps its endpoint
    finally:
        sock.close()


async def test_client_ip_affinity_sticks_and_survives_an_unrelated_change(lab: Lab) -> None:
    await lab.apply(web("pod-a", "pod-b", affinity=600))
    first = {a.split()[0] for a in await lab.answers("client", CLUSTER_IP, 80, 10)}
    assert len(first) == 1, first
    # another Service changes: an incremental update, the affinity entries stay
    other = PortRule(EMPTY, (Frontend(EMPTY_IP, 80, "TCP"),), (Backend(PODS["pod-a"], 8080),), None, EMPTY_IP)
    await lab.dataplane.apply("default/empty", [other])
    assert {a.split()[0] for a in await lab.answers("client", CLUSTER_IP, 80, 10)} == first


async def test_udp_flows_move_off_a_removed_endpoint(lab: Lab) -> None:
    await lab.apply(web("pod-a"), dns("pod-a", "pod-b"))
    sock = in_netns(lab.ns["client"], lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    sock.settimeout(2)
    try:
        def exchange() -> str:
            sock.sendto(b"q", (CLUSTER_IP, 53))
            return sock.recv(100).decode()

        first = await asyncio.to_thread(exchange)
        assert await asyncio.to_thread(exchange) == first  # one flow, one endpoint
        survivor = "pod-b" if first == "pod-a" else "pod-a"
        await lab.apply(web("pod-a"), dns(survivor))
        # the flow's conntrack entry was deleted with the endpoint: the same socket now reaches the other
        assert await asyncio.to_thread(exchange) == survivor
    finally:
        sock.close()


async def test_table_outlives_the_process_comes_back_after_a_flush_and_cleanup_removes_it(lab: Lab) -> None:
    await lab.apply(web("pod-a"))
    await lab.dataplane.close()
    assert (await lab.ask("client", CLUSTER_IP, 80)).startswith("pod-a")  # no process needed
    sh("ip", "netns", "exec", lab.ns["node"], "nft", "flush", "ruleset")
    checks = asyncio.create_task(lab.dataplane.run_checks(period=0.2))
    try:
        await eventually(lab.dataplane.table_present, timeout=10, message="table not written again after a flush")
        assert (await lab.ask("client", CLUSTER_IP, 80)).startswith("pod-a")
    finally:
        checks.cancel()
    # a new process (no memory of the table) replaces it whole, but only once it has heard every
    # Service: until then the old table keeps forwarding
    fresh = NftablesDataplane(table=lab.dataplane.table, command_prefix=lab.dataplane.prefix)
    await fresh.apply("default/web", [web("pod-b")])
    assert {a.split()[0] for a in await lab.answers("client", CLUSTER_IP, 80, 5)} == {"pod-a"}
    await fresh.start()
    assert {a.split()[0] for a in await lab.answers("client", CLUSTER_IP, 80, 5)} == {"pod-b"}
    await fresh.cleanup()
    assert not await fresh.table_present()
    with pytest.raises(OSError):  # nothing forwards the cluster IP any more
        await lab.ask("client", CLUSTER_IP, 80)
