"""SIGKILL the scheduler in the middle of binding a burst of 200 pods on fake nodes.

Either the only scheduler is killed and started again, or the leader of two is
killed and the standby takes over. A watch on the pods records every node name
each pod ever had: afterwards every pod is bound exactly once (no pod is ever moved to a
second node) and none is left Pending.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from tests.chaos.conftest import ChaosCluster, Watch, converge, record_timing

pytestmark = pytest.mark.timeout(180)

NS = "default"
PODS = 200
NODES = 5
LEADER_KEY = "/kubelite/leader/kube-scheduler"


async def add_node(http: httpx.AsyncClient, name: str) -> None:
    r = await http.post("/api/v1/nodes", json={"metadata": {"name": name}})
    assert r.status_code == 201, r.text
    node = r.json()
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    resources = {"cpu": "64", "memory": "256Gi", "pods": "110"}
    node["status"] = {
        "capacity": resources, "allocatable": resources,
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "lastHeartbeatTime": now, "lastTransitionTime": now}],
    }  # fmt: skip
    r = await http.put(f"/api/v1/nodes/{name}/status", json=node)
    assert r.status_code == 200, r.text


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"burst": "1"}},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                                     "resources": {"requests": {"cpu": "10m", "memory": "8Mi"}}}]}}


def leader_pid(cluster: ChaosCluster) -> int | None:
    """The pid in the scheduler leader key's holderIdentity (`<host>_<pid>`)."""
    kv = cluster.etcd_range(LEADER_KEY)
    if not kv:
        return None
    return int(json.loads(kv[LEADER_KEY])["holderIdentity"].rsplit("_", 1)[1])


@pytest.mark.parametrize("mode", ["restart", "standby"])
async def test_scheduler_killed_mid_burst_binds_every_pod_exactly_once(
    cluster: ChaosCluster, http: httpx.AsyncClient, mode: str
) -> None:
    for i in range(NODES):
        await add_node(http, f"fake-{i}")
    nodes_seen: dict[str, list[str]] = {}

    def record(_kind: str, obj: dict[str, Any], _objects: dict[str, Any]) -> None:
        node = obj["spec"].get("nodeName")
        if node:
            seen = nodes_seen.setdefault(obj["metadata"]["name"], [])
            if not seen or seen[-1] != node:
                seen.append(node)

    path = f"/api/v1/namespaces/{NS}/pods"
    async with Watch(http, path, record) as watch:
        sem = asyncio.Semaphore(16)

        async def create(i: int) -> None:
            async with sem:
                r = await http.post(path, json=pod(f"p-{i:03}"))
                assert r.status_code == 201, r.text

        # the scheduler binds while the burst is still being created
        schedulers = [cluster.scheduler("scheduler-a")]
        if mode == "standby":
            schedulers.append(cluster.scheduler("scheduler-b"))
        # Half the pods before the kill, half after: the kill lands while binds are in flight,
        # and the restarted scheduler surely has work left however fast the first one was.
        creating = asyncio.gather(*(create(i) for i in range(PODS // 2)))

        async def some_bound() -> str | None:
            n = len(nodes_seen)
            return None if n >= PODS // 6 else f"{n} bound"

        await converge(some_bound, timeout=60, message="scheduler bound too few pods", cluster=cluster,
                       interval=0.01)
        pid = leader_pid(cluster)
        leaders = [s for s in schedulers if s.pid == pid]
        assert leaders, f"leader key names pid {pid}, not one of {[s.pid for s in schedulers]}"
        scheduler = leaders[0]
        scheduler.kill()
        await creating
        await asyncio.gather(*(create(i) for i in range(PODS // 2, PODS)))
        await asyncio.sleep(0.5)  # binds the dead scheduler had in flight land (or not)
        left_to_new = PODS - len(nodes_seen)
        assert left_to_new >= PODS // 6, (
            f"only {left_to_new} pods left for the restarted scheduler: not killed mid-burst")
        t0 = time.monotonic()
        if mode == "restart":
            scheduler.start()

        async def all_bound() -> str | None:
            watch.check_alive()
            pending = [n for n, p in watch.objects.items() if not p["spec"].get("nodeName")]
            return f"{len(pending)} pods unbound, e.g. {pending[:5]}" if pending else None

        await converge(all_bound, timeout=90, message="pods left Pending after the scheduler restart",
                       cluster=cluster)
        record_timing(f"scheduler SIGKILL ({mode}) with {left_to_new}/{PODS} pods unbound -> all bound "
                      "(incl. 3 s leader lease expiry)", time.monotonic() - t0)
        if mode == "standby":
            assert leader_pid(cluster) == schedulers[1 - schedulers.index(scheduler)].pid
        # a last look at the stored state, after the watch had time to see any late rebind
        stored = (await http.get(path)).json()["items"]
    moved = {name: seen for name, seen in nodes_seen.items() if len(seen) > 1}
    assert not moved, f"pods bound to more than one node: {moved}"
    assert len(stored) == PODS
    for p in stored:
        name = p["metadata"]["name"]
        assert [p["spec"]["nodeName"]] == nodes_seen[name], (name, p["spec"]["nodeName"], nodes_seen[name])
        conds = {c["type"]: c["status"] for c in p.get("status", {}).get("conditions") or []}
        assert conds.get("PodScheduled") == "True", f"{name}: {p.get('status')}"
