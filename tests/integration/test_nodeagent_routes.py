"""Pod routes across machines, with a second machine simulated in a network namespace (as root).

`kl-test-host2` stands in for another machine: a veth pair links it to this
one (198.18.0.1 here, 198.18.0.2 there, a benchmarking range nothing here
uses), and a Node object claims a pod CIDR on it.  The real
`kubelite-nodeagent --runtime process` must route that CIDR via the Node's
InternalIP, a pod here must reach an address of that CIDR with its own source
IP (no masquerade), and deleting the Node must remove the route.  The veth
deliberately is not named `kl-*`: the process runtime masquerades traffic
leaving on anything but a `kl-*` interface, which is what must not happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubelite_nodeagent.routes import RECHECK_SECONDS, ROUTE_PROTO, nat_rule_in_place
from kubelite_nodeagent.runtime.netns import overlapping
from tests.conftest import eventually
from tests.integration.test_nodeagent_process_runtime import (
    AgentProcess,
    _create,
    _pod,
    _running,
    _running_agents,
    _wait_pod,
)

IS_ROOT = subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() == "0"
pytestmark = [pytest.mark.root, pytest.mark.skipif(not IS_ROOT, reason="needs root (netns, routes)")]

HOST2_NS = "kl-test-host2"
OUR_VETH, HOST2_VETH = "rt2h-a", "rt2h-b"
OUR_IP, HOST2_IP = "198.18.0.1", "198.18.0.2"
PORT = 7777
CLUSTER_CIDR = "10.244.0.0/16"  # the agent's default --cluster-cidr


def sh(*argv: str, check: bool = True) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    if check and done.returncode != 0:
        raise AssertionError(f"`{' '.join(argv)}` failed: {done.stderr.strip()}")
    return done.stdout


def _unused_cidr(*taken: str) -> str:
    out = sh("ip", "-o", "-4", "addr", "show")
    in_use = [(p[1], p[3]) for p in map(str.split, out.splitlines()) if len(p) > 3]
    while True:
        cidr = f"10.244.{250 + uuid.uuid4().int % 5}.0/24"
        if cidr not in taken and not overlapping(cidr, in_use, own_dev=""):
            return cidr


def _owned_route(cidr: str) -> str:
    return sh("ip", "-o", "-4", "route", "show", "proto", ROUTE_PROTO, "exact", cidr).strip()


@dataclass
class Host2:
    pod_cidr: str
    pod_ip: str  # an address of its pod CIDR, on its lo


def _remove_host2(pod_cidr: str) -> None:
    sh("ip", "netns", "del", HOST2_NS, check=False)  # takes both veth ends and routes via them along
    sh("ip", "link", "del", OUR_VETH, check=False)
    sh("ip", "route", "del", pod_cidr, "proto", ROUTE_PROTO, check=False)


@contextlib.contextmanager
def _host2(pod_cidr: str, our_pod_cidr: str) -> Iterator[Host2]:
    pod_ip = str(ipaddress.ip_network(pod_cidr).network_address + 1)
    _remove_host2(pod_cidr)  # leftovers of a killed run
    try:
        sh("ip", "netns", "add", HOST2_NS)
        sh("ip", "link", "add", OUR_VETH, "type", "veth", "peer", "name", HOST2_VETH)
        sh("ip", "link", "set", HOST2_VETH, "netns", HOST2_NS)
        sh("ip", "addr", "add", f"{OUR_IP}/24", "dev", OUR_VETH)
        sh("ip", "link", "set", OUR_VETH, "up")
        for cmd in (
            ["addr", "add", f"{HOST2_IP}/24", "dev", HOST2_VETH],
            ["link", "set", HOST2_VETH, "up"],
            ["link", "set", "lo", "up"],
            ["addr", "add", f"{pod_ip}/32", "dev", "lo"],
            ["route", "add", our_pod_cidr, "via", OUR_IP],  # the route host2's agent would install
        ):
            sh("ip", "-n", HOST2_NS, *cmd)
        yield Host2(pod_cidr=pod_cidr, pod_ip=pod_ip)
    finally:
        _remove_host2(pod_cidr)


@pytest.fixture
async def agent(
    nats_url: str, apiserver: object, api: httpx.AsyncClient, tmp_path: Path, register_nodes: Any
) -> AsyncIterator[AgentProcess]:
    async with _running_agents(1, nats_url, api, tmp_path, register_nodes) as agents:
        yield agents[0]


# Accepts one connection on the host2 pod address, prints the peer's IP, answers, exits.
LISTENER = (
    "import socket, sys\n"
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); print('listening', flush=True)\n"
    "c, peer = s.accept(); print(peer[0], flush=True); c.sendall(b'hello-from-host2'); c.close()\n"
)
# Connects to argv[1]:argv[2] (retrying ~20 s), prints the answer, then stays up.
CLIENT = (
    "import socket, sys, time\n"
    "for _ in range(100):\n"
    "    try:\n"
    "        with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2) as c:\n"
    "            print(c.recv(100).decode(), flush=True); break\n"
    "    except OSError as exc: print('retry', exc, flush=True); time.sleep(0.2)\n"
    "time.sleep(3600)\n"
)


async def test_routes_to_another_machines_pod_cidr_without_masquerade(
    agent: AgentProcess, api: httpx.AsyncClient, namespace: str
) -> None:
    remote_node = f"host2-{uuid.uuid4().hex[:6]}"
    with _host2(_unused_cidr(agent.pod_cidr), agent.pod_cidr) as host2:
        r = await api.post("/api/v1/nodes", json={
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": remote_node},
            "spec": {"podCIDR": host2.pod_cidr, "podCIDRs": [host2.pod_cidr]},
            "status": {"addresses": [{"type": "InternalIP", "address": HOST2_IP},
                                     {"type": "Hostname", "address": remote_node}]},
        })  # fmt: skip
        assert r.status_code == 201, r.text
        try:
            if not (r.json().get("status") or {}).get("addresses"):  # status only through /status
                node = r.json() | {"status": {"addresses": [{"type": "InternalIP", "address": HOST2_IP}]}}
                s = await api.put(f"/api/v1/nodes/{remote_node}/status", json=node)
                assert s.status_code == 200, s.text

            def routed() -> bool:
                assert f"via {HOST2_IP} dev {OUR_VETH}" in _owned_route(host2.pod_cidr), (
                    f"routes: {sh('ip', '-4', 'route').strip()}\nagent log:\n{agent.log_tail()}"
                )
                return True

            await eventually(routed, timeout=20, interval=0.2,
                             message=f"no route {host2.pod_cidr} via {HOST2_IP} appeared")  # fmt: skip
            assert _owned_route(agent.pod_cidr) == "", "the agent routed its own, local pod CIDR"
            assert nat_rule_in_place(sh("iptables", "-w", "-t", "nat", "-S", "POSTROUTING"), CLUSTER_CIDR), (
                "the pod-to-pod RETURN rule is not ahead of the MASQUERADE rules"
            )
            assert sh("cat", "/proc/sys/net/ipv4/ip_forward").strip() == "1"

            # a link down and up again takes its routes with it, and no Node changes to say so:
            # the agent's periodic comparison puts the route back
            sh("ip", "link", "set", OUR_VETH, "down")
            assert _owned_route(host2.pod_cidr) == "", "the kernel kept a route over a link that is down"
            sh("ip", "link", "set", OUR_VETH, "up")
            await eventually(routed, timeout=RECHECK_SECONDS + 10, interval=0.2,
                             message=f"the route to {host2.pod_cidr} did not come back after the link did")

            listener = await asyncio.create_subprocess_exec(
                "ip", "netns", "exec", HOST2_NS, sys.executable, "-c", LISTENER, host2.pod_ip, str(PORT),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            try:
                assert listener.stdout is not None
                first = await asyncio.wait_for(listener.stdout.readline(), 10)
                assert first == b"listening\n", first + await listener.stderr.read()  # type: ignore[union-attr]
                await _create(api, namespace, "pods", _pod("client", agent.node, [{
                    "name": "c", "image": "host",
                    "command": [sys.executable, "-c", CLIENT, host2.pod_ip, str(PORT)],
                }]))  # fmt: skip
                pod = await _wait_pod(api, namespace, "client", _running, agent, "client pod never Running")
                try:
                    peer = await asyncio.wait_for(listener.stdout.readline(), 30)
                except TimeoutError:
                    raise AssertionError(
                        f"the pod never reached {host2.pod_ip}:{PORT} on host2\nagent log:\n{agent.log_tail()}"
                    ) from None
                assert peer.decode().strip() == pod["status"]["podIP"], (
                    f"host2 saw {peer!r}, the pod's IP is {pod['status']['podIP']}: masqueraded"
                )
            finally:
                if listener.returncode is None:
                    listener.kill()
                await listener.wait()
        finally:
            d = await api.delete(f"/api/v1/nodes/{remote_node}")
            assert d.status_code in (200, 404), d.text

        await eventually(lambda: _owned_route(host2.pod_cidr) == "", timeout=20, interval=0.2,
                         message=f"the route to {host2.pod_cidr} stayed after its Node was deleted")  # fmt: skip


async def test_pod_to_pod_exemption_moves_ahead_of_a_later_masquerade_rule(agent: AgentProcess) -> None:
    # What a runtime does when it (re)creates a bridge after the route manager ran: insert its
    # MASQUERADE rule at the top.  The manager must put its RETURN rule back in front at a re-list.
    def listing() -> str:
        return sh("iptables", "-w", "-t", "nat", "-S", "POSTROUTING")

    await eventually(lambda: nat_rule_in_place(listing(), CLUSTER_CIDR), timeout=20,
                     message=f"the RETURN rule never came first:\n{agent.log_tail()}")  # fmt: skip
    late = ["-s", agent.pod_cidr, "!", "-o", "kl-+", "-m", "comment", "--comment", "kubelite routes test",
            "-j", "MASQUERADE"]  # fmt: skip
    sh("iptables", "-w", "-t", "nat", "-I", "POSTROUTING", "1", *late)
    try:
        assert not nat_rule_in_place(listing(), CLUSTER_CIDR)
        await eventually(lambda: nat_rule_in_place(listing(), CLUSTER_CIDR), timeout=20, interval=0.2,
                         message=f"the RETURN rule stayed behind a MASQUERADE rule:\n{listing()}")  # fmt: skip
    finally:
        sh("iptables", "-w", "-t", "nat", "-D", "POSTROUTING", *late, check=False)
