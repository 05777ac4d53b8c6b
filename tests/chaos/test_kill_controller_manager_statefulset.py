"""SIGKILL the controller-manager in the middle of a StatefulSet rolling update.

Six replicas, partition 2, OrderedReady. The node stand-in of tests/integration/
test_statefulset.py binds the pods and makes them Ready a moment after they run. A pod watch
checks at every event that no ordinal ever has two live pods, that pods below the partition
are never replaced, and that no pod is deleted while a higher ordinal is still at the old
revision or not Ready (the update goes down from the top, one pod at a time). The
controller-manager is killed once the update has started and started again; the update
then finishes with web-2..5 at the new revision and web-0, web-1 untouched.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.chaos.conftest import ChaosCluster, Watch, converge, record_timing
from tests.integration.test_replicaset import cancel_and_wait
from tests.integration.test_statefulset import Node, statefulset

pytestmark = pytest.mark.timeout(180)

NS = "default"
SETS = f"/apis/apps/v1/namespaces/{NS}/statefulsets"
PODS = f"/api/v1/namespaces/{NS}/pods"
REPLICAS, PARTITION = 6, 2
HASH = "controller-revision-hash"


def _ordinal(pod: dict[str, Any]) -> int:
    return int(pod["metadata"]["name"].rsplit("-", 1)[1])


def _ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions") or [])


async def test_controller_manager_killed_mid_rolling_update_keeps_order_and_partition(
    cluster: ChaosCluster, http: httpx.AsyncClient
) -> None:
    manager = cluster.controller_manager("cm-a")
    node = Node(http, NS)
    node._task = asyncio.ensure_future(node.run())
    problems: list[str] = []
    state: dict[str, Any] = {"old": None, "protected": {}}

    def check(kind: str, obj: dict[str, Any], objects: dict[str, dict[str, Any]]) -> None:
        live = [p for p in objects.values() if not p["metadata"].get("deletionTimestamp")]
        twice = [o for o, n in Counter(_ordinal(p) for p in live).items() if n > 1]
        if twice:
            problems.append(f"ordinals {twice} had two live pods")
        old, protected = state["old"], state["protected"]
        if old is None:
            return
        gone = kind == "DELETED" or obj["metadata"].get("deletionTimestamp")
        if gone and obj["metadata"]["uid"] in protected.values():
            problems.append(f"{obj['metadata']['name']} is below the partition and was replaced")
        if gone and (obj.get("metadata", {}).get("labels") or {}).get(HASH) == old:
            mine = _ordinal(obj)
            above = [p for p in live if _ordinal(p) > mine]
            if any((p["metadata"].get("labels") or {}).get(HASH) == old or not _ready(p) for p in above):
                problems.append(f"web-{mine} went while a higher ordinal was old or not Ready")

    try:
        async with Watch(http, PODS, check) as watch:
            body = statefulset(replicas=REPLICAS, updateStrategy={"type": "RollingUpdate",
                                                                  "rollingUpdate": {"partition": PARTITION}})
            body["spec"].pop("volumeClaimTemplates")
            body["spec"]["template"]["spec"]["containers"][0].pop("volumeMounts")
            r = await http.post(SETS, json=body)
            assert r.status_code == 201, r.text

            async def settled() -> str | None:
                st = (await http.get(f"{SETS}/web")).json().get("status", {})
                return None if st.get("readyReplicas") == REPLICAS else f"status {st}"

            await converge(settled, timeout=90, message="the set never became ready", cluster=cluster)
            st = (await http.get(f"{SETS}/web")).json()["status"]
            pods = (await http.get(PODS)).json()["items"]
            state["protected"] = {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods
                                  if _ordinal(p) < PARTITION}
            state["old"] = st["currentRevision"]
            r = await http.patch(f"{SETS}/web", json={"spec": {"template": {"spec": {"containers": [
                {"name": "main", "image": "web:v2"}]}}}},
                headers={"Content-Type": "application/strategic-merge-patch+json"})
            assert r.status_code == 200, r.text

            async def underway() -> str | None:
                pods = (await http.get(PODS)).json()["items"]
                new = [p for p in pods if (p["metadata"].get("labels") or {}).get(HASH) not in (None, state["old"])]
                return None if len(new) >= 1 else "no pod updated yet"

            await converge(underway, timeout=60, message="the update did not start", cluster=cluster, interval=0.02)
            manager.kill()
            t0 = time.monotonic()
            manager.start()

            async def finished() -> str | None:
                st = (await http.get(f"{SETS}/web")).json().get("status", {})
                done = st.get("updatedReplicas") == REPLICAS - PARTITION and st.get("readyReplicas") == REPLICAS
                return None if done else f"status {st}"

            await converge(finished, timeout=120, message="the rolling update did not finish after the SIGKILL",
                           cluster=cluster)
            seconds = time.monotonic() - t0
            watch.check_alive()
    finally:
        await cancel_and_wait(node._task, "statefulset node")
    record_timing(f"controller-manager SIGKILL mid-StatefulSet update ({REPLICAS} pods, partition {PARTITION})"
                  " -> updated", seconds)
    pods = {p["metadata"]["name"]: p for p in (await http.get(PODS)).json()["items"]}
    images = {n: p["spec"]["containers"][0]["image"] for n, p in pods.items()}
    assert images == {f"web-{i}": ("web:v1" if i < PARTITION else "web:v2") for i in range(REPLICAS)}, images
    assert {n: pods[n]["metadata"]["uid"] for n in state["protected"]} == state["protected"]
    assert not problems, problems[:5]
