"""SIGKILL NATS while a Deployment scales, start it again on the same port.

The scale-up is written while NATS is down, so its change events are never
delivered: the controllers, scheduler, node agents and the endpoints controller
must notice the reconnect, re-list and converge: the Deployment reaches its
replicas, every pod runs, and the Service's Endpoints list every pod.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.chaos.conftest import ChaosCluster, converge, record_timing

pytestmark = pytest.mark.timeout(180)

NS = "default"
OUTAGE = 3.0  # seconds NATS stays down
DEPLOY = f"/apis/apps/v1/namespaces/{NS}/deployments"


def deployment(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox",
                                                       "ports": [{"containerPort": 8080}]}]}}},
    }  # fmt: skip


SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}


async def converged(http: httpx.AsyncClient, replicas: int) -> str | None:
    st = (await http.get(f"{DEPLOY}/web")).json().get("status", {})
    if st.get("availableReplicas") != replicas or st.get("replicas") != replicas:
        return f"deployment status {st}"
    pods = (await http.get(f"/api/v1/namespaces/{NS}/pods")).json()["items"]
    running = {p["status"].get("podIP") for p in pods
               if p.get("status", {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")}
    if len(running) != replicas:
        return f"{len(running)} running pods"
    ep = (await http.get(f"/api/v1/namespaces/{NS}/endpoints/web")).json()
    ready = {a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or []}
    return None if ready == running else f"endpoints {sorted(ready)} != pod IPs {sorted(running)}"


async def test_nats_restarted_while_a_deployment_scales_everything_converges(
    cluster: ChaosCluster, http: httpx.AsyncClient
) -> None:
    cluster.scheduler()
    cluster.controller_manager()
    cluster.fake_nodes("n", 3)
    assert (await http.post(DEPLOY, json=deployment(2))).status_code == 201
    assert (await http.post(f"/api/v1/namespaces/{NS}/services", json=SERVICE)).status_code == 201
    await converge(lambda: converged(http, 2), timeout=90, message="2 replicas never ran", cluster=cluster)

    cluster.kill_nats()
    # written while the bus is down: these change events are lost (or late)
    r = await http.patch(f"{DEPLOY}/web/scale", json={"spec": {"replicas": 10}},
                         headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    await asyncio.sleep(OUTAGE)  # every client notices the bus is gone and starts reconnecting
    t0 = time.monotonic()
    cluster.start_nats()
    restarted = time.monotonic() - t0
    await converge(lambda: converged(http, 10), timeout=120,
                   message="no convergence to 10 replicas after the NATS restart", cluster=cluster)
    record_timing("NATS SIGKILL, scale 2->10 while down, NATS back -> 10 pods running + Endpoints",
                  time.monotonic() - t0 - restarted)
    dead = [c.name for c in cluster.components.values() if not c.alive]
    assert not dead, f"components died with NATS: {dead}\n{cluster.logs()}"

    # and the bus works again: a change now is seen at once (not only after a resync)
    t1 = time.monotonic()
    r = await http.patch(f"{DEPLOY}/web/scale", json={"spec": {"replicas": 4}},
                         headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    await converge(lambda: converged(http, 4), timeout=15,
                   message="scale-down after the NATS restart not acted on within 15 s", cluster=cluster)
    record_timing("after the NATS restart: scale 10->4 -> 4 pods + Endpoints", time.monotonic() - t1)
