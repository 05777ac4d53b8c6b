"""A pod's namespace and veth made through rtnetlink (runtime/netlink.py) end up exactly as
`ip` made them: checked with `ip -j` and a ping, in real network namespaces."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubelite.command import run_command
from kubelite_nodeagent.runtime.netns import NETNS_DIR, NetworkError, PodNet, PodNetwork, gateway_ip
from tests.integration.test_nodeagent_process_runtime import _cidr

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")]


async def _ip_json(*args: str) -> list[dict]:
    done = await run_command("ip", "-j", *args)
    assert done.code == 0, done.stderr
    return json.loads(done.stdout)


async def _reaches_gateway(network: PodNetwork, pod: PodNet) -> None:
    """A TCP connection from the pod's namespace to a listener on the bridge's address."""
    with socket.socket() as listener:
        listener.bind((gateway_ip(network.pod_cidr), 0))
        listener.listen()
        code = f"import socket; socket.create_connection({listener.getsockname()!r}, 5)"
        done = await run_command("ip", "netns", "exec", pod.netns, sys.executable, "-c", code)
        assert done.code == 0, done.stderr


async def _veth_gone(name: str, seconds: float = 10) -> None:
    """A deleted pod's host veth goes with its namespace, moments after teardown returns."""
    deadline = time.monotonic() + seconds
    while os.path.exists(f"/sys/class/net/{name}"):  # noqa: ASYNC240 - sysfs
        assert time.monotonic() < deadline, f"{name} outlived its namespace by {seconds:g} s"
        await asyncio.sleep(0.01)


@pytest.fixture
async def network(tmp_path: Path) -> AsyncIterator[PodNetwork]:
    net = PodNetwork(f"nl-{uuid.uuid4().hex[:8]}", _cidr(), tmp_path)
    await net.start()
    try:
        yield net
    finally:
        await net.teardown_node()
        left = [p.name for p in NETNS_DIR.iterdir() if p.name.startswith(net.bridge + "-")]
        assert left == [], left


async def test_namespace_veth_address_and_route(network: PodNetwork) -> None:
    uid = str(uuid.uuid4())
    pod = await network.setup(uid)
    assert (NETNS_DIR / pod.netns).exists()

    [eth0] = await _ip_json("-n", pod.netns, "addr", "show", "dev", "eth0")
    assert "UP" in eth0["flags"], eth0
    prefix = int(network.pod_cidr.split("/")[1])
    assert [(a["family"], a["local"], a["prefixlen"]) for a in eth0["addr_info"]
            if a["family"] == "inet"] == [("inet", pod.ip, prefix)], eth0
    [lo] = await _ip_json("-n", pod.netns, "link", "show", "dev", "lo")
    assert "UP" in lo["flags"], lo
    routes = await _ip_json("-n", pod.netns, "route", "show", "default")
    assert [(r["dst"], r["gateway"], r["dev"]) for r in routes] == [
        ("default", gateway_ip(network.pod_cidr), "eth0")], routes

    [host] = await _ip_json("link", "show", "dev", pod.host_veth)
    assert (host["master"], "UP" in host["flags"]) == (network.bridge, True), host
    await _reaches_gateway(network, pod)

    # a second pod gets the next address on the same bridge
    other = await network.setup(str(uuid.uuid4()))
    assert other.ip != pod.ip
    await _reaches_gateway(network, other)

    await network.teardown(uid)
    assert not (NETNS_DIR / pod.netns).exists()
    await _veth_gone(pod.host_veth)


async def test_teardown_removes_the_veth_and_the_namespace_without_ip(network: PodNetwork) -> None:
    """teardown goes through rtnetlink too (no `ip` spawned): the namespace's file, mount and
    address at once, the host's veth with the namespace moments later; a second teardown is a
    no-op."""
    from kubelite_nodeagent.runtime import netns as netns_module

    uid = str(uuid.uuid4())
    pod = await network.setup(uid)
    spawned: list[tuple[str, ...]] = []
    real_run = netns_module.run

    async def counting_run(*argv: str, **kwargs: object) -> tuple[int, str]:
        spawned.append(argv)
        return await real_run(*argv, **kwargs)  # type: ignore[arg-type]

    netns_module.run = counting_run  # type: ignore[assignment]
    try:
        await network.teardown(uid)
        await network.teardown(uid)
    finally:
        netns_module.run = real_run  # type: ignore[assignment]
    assert spawned == [], spawned
    assert not (NETNS_DIR / pod.netns).exists()
    await _veth_gone(pod.host_veth)
    mounts = Path("/proc/self/mountinfo").read_text()  # noqa: ASYNC240 - procfs
    assert str(NETNS_DIR / pod.netns) not in mounts, "the namespace is still mounted"
    assert uid not in network.pod_uids()


async def test_setup_again_after_a_half_done_attempt(network: PodNetwork) -> None:
    """A namespace left without its veth (an agent killed between the two) is made again."""
    uid = str(uuid.uuid4())
    pod = await network.setup(uid)
    assert (await run_command("ip", "link", "del", pod.host_veth)).code == 0  # takes eth0 with it
    again = await network.setup(uid)
    assert again == pod
    [eth0] = await _ip_json("-n", pod.netns, "addr", "show", "dev", "eth0")
    assert pod.ip in [a["local"] for a in eth0["addr_info"]], eth0


async def test_a_refusal_is_a_network_error_and_setup_leaves_nothing(network: PodNetwork) -> None:
    """The veth cannot be made (here: its master bridge is gone): NetworkError naming the pod's
    namespace, and setup() removes the namespace it had made."""
    bridge = network.bridge
    network.bridge = "kl-missing0"
    pod_uid = str(uuid.uuid4())
    try:
        with pytest.raises(NetworkError, match="the node's bridge kl-missing0 does not exist"):
            await network._create(await _planned(network, pod_uid))
        # setup() would remove what the failed _create left; do what it does
        planned = await _planned(network, pod_uid)
        assert (NETNS_DIR / planned.netns).exists()  # the namespace was made before the veth failed
        await network._remove_links(planned.netns, planned.host_veth)
        assert not (NETNS_DIR / planned.netns).exists()
    finally:
        network.bridge = bridge


async def _planned(network: PodNetwork, pod_uid: str) -> PodNet:
    from kubelite_nodeagent.runtime.netns import netns_name, veth_names

    return PodNet(pod_uid=pod_uid, ip="10.244.0.9", netns=netns_name(network.node_name, pod_uid),
                  host_veth=veth_names(network.node_name, pod_uid)[0])
