"""SIGKILL etcd and start it again on the same data dir.

While it is down the apiserver answers reads and writes promptly with a 503
Status (not a hang, not a traceback); once it is back the apiserver serves
again, the components' informers (etcd watches) re-establish and re-list, and a
scale-up made after the restart converges.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.chaos.conftest import ChaosCluster, Watch, converge, record_timing

pytestmark = pytest.mark.timeout(180)

NS = "default"
DEPLOY = f"/apis/apps/v1/namespaces/{NS}/deployments"
PODS = f"/api/v1/namespaces/{NS}/pods"
ANSWER_WITHIN = 12.0  # seconds: the storage call timeout (10 s) and some slack, never a hang


def deployment(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
    }  # fmt: skip


async def available(http: httpx.AsyncClient, replicas: int) -> str | None:
    st = (await http.get(f"{DEPLOY}/web")).json().get("status", {})
    if st.get("availableReplicas") != replicas or st.get("replicas") != replicas:
        return f"deployment status {st}"
    pods = (await http.get(PODS)).json()["items"]
    running = [p for p in pods if p.get("status", {}).get("phase") == "Running"
               and not p["metadata"].get("deletionTimestamp")]
    return None if len(running) == replicas == len(pods) else f"{len(running)} running of {len(pods)}"


async def assert_503_status(http: httpx.AsyncClient, method: str, path: str, **kw: Any) -> float:
    t0 = time.monotonic()
    try:
        r = await http.request(method, path, timeout=ANSWER_WITHIN, **kw)
    except httpx.TimeoutException:
        raise AssertionError(f"{method} {path} hung for {ANSWER_WITHIN}s with etcd down") from None
    took = time.monotonic() - t0
    assert r.status_code == 503, f"{method} {path} with etcd down: {r.status_code} {r.text[:500]}"
    body = r.json()
    assert (body.get("kind"), body.get("status"), body.get("code"), body.get("reason")) == (
        "Status", "Failure", 503, "ServiceUnavailable"), body
    assert "Traceback" not in r.text
    return took


async def test_etcd_restarted_apiserver_answers_503_then_cluster_converges(
    cluster: ChaosCluster, http: httpx.AsyncClient
) -> None:
    # leases longer than the outage: the leaders keep leading (see the next test for shorter)
    cluster.scheduler("scheduler", "--leader-elect-lease-duration", "15")
    cluster.controller_manager("controller-manager", "--leader-elect-lease-duration", "15s")
    await run_outage(cluster, http, outage=2.0, follow=True)


async def test_etcd_down_longer_than_the_leader_lease_scheduling_resumes(
    cluster: ChaosCluster, http: httpx.AsyncClient
) -> None:
    """etcd down for longer than the leader lease: the leaders lose leadership (they must stop
    acting), but once etcd is back someone must lead and act again."""
    cluster.scheduler()  # 3 s lease
    cluster.controller_manager()  # 3 s lease
    await run_outage(cluster, http, outage=5.0)


async def run_outage(cluster: ChaosCluster, http: httpx.AsyncClient, outage: float, *, follow: bool = False) -> None:
    """With `follow`, a pod watch and a Deployment watch open across the outage, resuming from the
    last resourceVersion they saw whenever the apiserver ends them (its watch cache relists, the
    Deployments' watch hub loses its etcd watch), must end with exactly the objects the apiserver
    lists, each at its listed resourceVersion."""
    cluster.fake_nodes("n", 2)
    assert (await http.post(DEPLOY, json=deployment(3))).status_code == 201
    await converge(lambda: available(http, 3), timeout=90, message="3 replicas never ran", cluster=cluster)
    if not follow:
        await _outage_and_back(cluster, http, outage)
        return
    async with Watch(http, PODS, resume=True) as pods, Watch(http, DEPLOY, resume=True) as deployments:
        await _outage_and_back(cluster, http, outage)
        for watch, path in ((pods, PODS), (deployments, DEPLOY)):

            async def same_as_listed(watch: Watch = watch, path: str = path) -> str | None:
                watch.check_alive()
                listed = {o["metadata"]["name"]: o["metadata"]["resourceVersion"]
                          for o in (await http.get(path)).json()["items"]}
                seen = {name: obj["metadata"]["resourceVersion"] for name, obj in watch.objects.items()}
                return None if seen == listed else f"watched {seen} listed {listed}"

            await converge(same_as_listed, timeout=30, message=f"the resumed watch of {path} missed changes",
                           cluster=cluster)
        # pods: the watch cache's relist ended it; deployments: the etcd watch of its hub ended
        assert pods.resumes >= 1 and deployments.resumes >= 1, (pods.resumes, deployments.resumes)


async def _outage_and_back(cluster: ChaosCluster, http: httpx.AsyncClient, outage: float) -> None:
    cluster.kill_etcd()
    answers = [
        await assert_503_status(http, "GET", PODS),
        await assert_503_status(http, "GET", f"{DEPLOY}/web"),
        await assert_503_status(http, "POST", f"/api/v1/namespaces/{NS}/configmaps",
                                json={"metadata": {"name": "while-down"}, "data": {"a": "b"}}),
    ]
    record_timing("etcd down: slowest apiserver 503 answer", max(answers))

    async def not_ready() -> str | None:  # /readyz checks etcd at most once a second
        ready = await http.get("/readyz", params={"verbose": ""}, timeout=ANSWER_WITHIN)
        failed = ready.status_code == 500 and "[-]etcd failed: reason withheld\n" in ready.text
        return None if failed else f"/readyz {ready.status_code}: {ready.text}"

    await converge(not_ready, timeout=10, message="/readyz did not report etcd down", cluster=cluster)
    await asyncio.sleep(outage)  # every component's watch and lease calls fail meanwhile

    t0 = time.monotonic()
    cluster.start_etcd()

    async def serving() -> str | None:
        r = await http.get(PODS, timeout=5)
        if r.status_code != 200:
            return f"{r.status_code} {r.text[:200]}"
        ready = await http.get("/readyz", timeout=5)  # checks etcd at most once a second
        return None if ready.status_code == 200 else f"/readyz {ready.status_code} {ready.text[:200]}"

    await converge(serving, timeout=30, message="apiserver did not serve again after etcd returned",
                   cluster=cluster)
    record_timing(f"etcd SIGKILL, back after ~{outage:g} s -> apiserver 200 again", time.monotonic() - t0)
    assert (await http.get(f"/api/v1/namespaces/{NS}/configmaps/while-down")).status_code == 404
    dead = [c.name for c in cluster.components.values() if not c.alive]
    assert not dead, f"components died with etcd: {dead}\n{cluster.logs()}"

    t1 = time.monotonic()
    r = await http.patch(f"{DEPLOY}/web/scale", json={"spec": {"replicas": 6}},
                         headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    await converge(lambda: available(http, 6), timeout=60,
                   message="scale-up after the etcd restart did not converge (informers not re-listed?)",
                   cluster=cluster)
    record_timing(f"after a {outage:g} s etcd outage: scale 3->6 -> 6 pods available", time.monotonic() - t1)
