"""Node IPAM against a real apiserver and controller-manager: every Node without a pod CIDR gets
its own range of --cluster-cidr, a range already set is kept, and two nodes never share one."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import eventually
from tests.integration.test_replicaset import ControllerManagers

pytestmark = pytest.mark.timeout(60)
CLUSTER_CIDR = "10.250.0.0/16"


@pytest.fixture(scope="module")
def ipam_manager(etcd_url: str, nats_url: str, apiserver: Any, cluster_pki: Any,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControllerManagers]:
    cms = ControllerManagers(etcd_url, nats_url, tmp_path_factory.mktemp("ipam-cm"), cluster_pki.root,
                             extra=("--cluster-cidr", CLUSTER_CIDR, "--node-cidr-mask-size", "24",
                                    "--controllers", "nodeipam"))
    cms.start()
    try:
        yield cms
    finally:
        cms.stop_all()


async def _cidr(api: httpx.AsyncClient, name: str) -> str:
    node = (await api.get(f"/api/v1/nodes/{name}")).json()
    return (node.get("spec") or {}).get("podCIDR") or ""


async def test_bare_nodes_get_distinct_ranges_and_set_ones_are_kept(
        ipam_manager: ControllerManagers, api: httpx.AsyncClient) -> None:
    prefix = "ipam-" + uuid.uuid4().hex[:6]
    names = [f"{prefix}-{i}" for i in range(4)]
    preset = f"{prefix}-preset"
    r = await api.post("/api/v1/nodes", json={"apiVersion": "v1", "kind": "Node", "metadata": {"name": preset},
                                                "spec": {"podCIDR": "10.250.0.0/24", "podCIDRs": ["10.250.0.0/24"]}})
    assert r.status_code == 201, r.text
    for name in names:
        r = await api.post("/api/v1/nodes", json={"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
        assert r.status_code == 201, r.text

    async def all_assigned() -> list[str] | None:
        got = [await _cidr(api, n) for n in names]
        return got if all(got) else None

    cidrs = await eventually(all_assigned, timeout=20, message="node IPAM did not give every node a range")
    assert len(set(cidrs)) == 4 and "10.250.0.0/24" not in cidrs, cidrs  # distinct, and not the preset one
    for cidr in cidrs:
        net = ipaddress.ip_network(cidr)
        assert net.prefixlen == 24 and net.subnet_of(ipaddress.ip_network(CLUSTER_CIDR)), cidr
    assert await _cidr(api, preset) == "10.250.0.0/24"
    node = (await api.get(f"/api/v1/nodes/{names[0]}")).json()
    assert node["spec"]["podCIDRs"] == [node["spec"]["podCIDR"]]
    changed = await api.patch(f"/api/v1/nodes/{names[0]}", json={"spec": {"podCIDR": "10.250.99.0/24"}},
                              headers={"Content-Type": "application/merge-patch+json"})
    assert changed.status_code == 422, changed.text  # a range, once given, stays
    for name in [*names, preset]:
        await api.delete(f"/api/v1/nodes/{name}")
