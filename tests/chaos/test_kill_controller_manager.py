"""SIGKILL the controller-manager in the middle of a Deployment rollout.

Two ways: the only controller-manager is killed and started again, or the
leader of two is killed and the standby takes over. A pod watch checks at every
event that no more than replicas + maxSurge pods exist (not counting pods
already terminating); at the end the Deployment runs exactly `replicas` pods of
the new template, and every ReplicaSet is the Deployment's own, one per template.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.chaos.conftest import ChaosCluster, Component, Watch, converge, record_timing

pytestmark = pytest.mark.timeout(180)

NS = "default"
REPLICAS = 6
MAX_SURGE = 2
LEADER_KEY = "/kubelite/leader/kube-controller-manager"
DEPLOY = f"/apis/apps/v1/namespaces/{NS}/deployments"
RS = f"/apis/apps/v1/namespaces/{NS}/replicasets"
PODS = f"/api/v1/namespaces/{NS}/pods"


def deployment(version: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {
            "replicas": REPLICAS, "minReadySeconds": 1,  # a rollout step takes >= 1 s: room to kill
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": MAX_SURGE, "maxUnavailable": 1}},
            "template": {"metadata": {"labels": {"app": "web"}, "annotations": {"version": version}},
                         "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
        },
    }  # fmt: skip


def active(objects: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in objects.values() if not p["metadata"].get("deletionTimestamp")]


async def rollout_done(http: httpx.AsyncClient) -> str | None:
    d = (await http.get(f"{DEPLOY}/web")).json()
    st = d.get("status", {})
    if st.get("observedGeneration") != d["metadata"]["generation"]:
        return f"observedGeneration {st.get('observedGeneration')} != {d['metadata']['generation']}"
    want = {"replicas": REPLICAS, "updatedReplicas": REPLICAS, "availableReplicas": REPLICAS,
            "readyReplicas": REPLICAS}
    got = {k: st.get(k) for k in want}
    return None if got == want else f"status {got}"


def leader(cluster: ChaosCluster) -> str:
    kv = cluster.etcd_range(LEADER_KEY)
    return json.loads(kv[LEADER_KEY])["holderIdentity"] if kv else ""


@pytest.mark.parametrize("mode", ["restart", "standby"])
async def test_controller_manager_killed_mid_rollout_converges_within_surge(
    cluster: ChaosCluster, http: httpx.AsyncClient, mode: str
) -> None:
    cluster.scheduler()
    cluster.fake_nodes("n", 3)
    managers: dict[str, Component] = {"cm-a": cluster.controller_manager("cm-a")}
    if mode == "standby":
        managers["cm-b"] = cluster.controller_manager("cm-b")

    async def nodes_ready() -> str | None:
        nodes = (await http.get("/api/v1/nodes")).json()["items"]
        return None if len(nodes) == 3 else f"{len(nodes)} nodes"

    await converge(nodes_ready, timeout=60, message="fake nodes did not register", cluster=cluster)
    r = await http.post(DEPLOY, json=deployment("v1"))
    assert r.status_code == 201, r.text
    await converge(lambda: rollout_done(http), timeout=90, message="v1 never rolled out", cluster=cluster)

    peak: list[tuple[int, str]] = []

    def check_surge(kind: str, obj: dict[str, Any], objects: dict[str, dict[str, Any]]) -> None:
        n = len(active(objects))
        if n > REPLICAS + MAX_SURGE:
            peak.append((n, f"{kind} {obj['metadata']['name']}"))

    async with Watch(http, PODS, check_surge) as watch:
        r = await http.patch(f"{DEPLOY}/web", json={"spec": {"template": {"metadata": {
            "annotations": {"version": "v2"}}}}}, headers={"Content-Type": "application/merge-patch+json"})
        assert r.status_code == 200, r.text

        async def rollout_underway() -> str | None:
            st = (await http.get(f"{DEPLOY}/web")).json().get("status", {})
            updated = st.get("updatedReplicas", 0)
            return None if 2 <= updated < REPLICAS else f"updatedReplicas {updated}"

        await converge(rollout_underway, timeout=60, message="v2 rollout did not start", cluster=cluster,
                       interval=0.05)
        holder = leader(cluster)
        assert holder in managers, f"leader key names {holder!r}, not one of {sorted(managers)}"
        managers[holder].kill()
        t0 = time.monotonic()
        if mode == "restart":
            managers[holder].start()
        await converge(lambda: rollout_done(http), timeout=90,
                       message=f"rollout did not converge after SIGKILL of {holder} ({mode})",
                       cluster=cluster)
        seconds = time.monotonic() - t0
        if mode == "standby":
            assert leader(cluster) != holder, "the standby did not take over"
        watch.check_alive()

        async def exactly_replicas() -> str | None:
            pods = (await http.get(PODS)).json()["items"]
            live = active({p["metadata"]["name"]: p for p in pods})
            old = [p["metadata"]["name"] for p in live
                   if p["metadata"]["annotations"].get("version") != "v2"]
            if len(live) != REPLICAS or old:
                return f"{len(live)} live pods, old template: {old}"
            return None

        await converge(exactly_replicas, timeout=30, message="not exactly the new pods", cluster=cluster)
    record_timing(f"controller-manager SIGKILL mid-rollout ({mode}) -> rollout complete "
                  "(3 s lease)", seconds)
    assert not peak, f"more than replicas+maxSurge={REPLICAS + MAX_SURGE} pods at once: {peak[:5]}"

    deploy = (await http.get(f"{DEPLOY}/web")).json()
    sets = (await http.get(RS)).json()["items"]
    hashes = [s["metadata"]["labels"]["pod-template-hash"] for s in sets]
    assert len(hashes) == len(set(hashes)) == 2, f"ReplicaSets: {[s['metadata']['name'] for s in sets]}"
    for s in sets:
        refs = [o for o in s["metadata"].get("ownerReferences", []) if o.get("controller")]
        assert [o["uid"] for o in refs] == [deploy["metadata"]["uid"]], f"orphan {s['metadata']['name']}"
    replicas = sorted(s["spec"]["replicas"] for s in sets)
    assert replicas == [0, REPLICAS], f"ReplicaSet replicas {replicas}"
