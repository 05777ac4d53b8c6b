"""HorizontalPodAutoscaler against a real apiserver and a real controller-manager (HPA sync
every second). A stand-in node binds and readies the Deployment's pods; the metrics are real
bus reports (kubelite.bus.metrics) published as a node agent would, with a CPU use per pod
this test controls, so the scale the controller picks is known: the Kubernetes documentation's
case of a CPU-bound Deployment (requests 100m, target 50 %) going from 1 to its maximum under
load and back down when the load stops (scale-down stabilization shortened to 0 s)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from kubelite.bus import metrics as wire
from kubelite.timefmt import rfc3339
from tests.conftest import eventually
from tests.integration.test_replicaset import ControllerManagers, cancel_and_wait

pytestmark = pytest.mark.timeout(150)
NODE = "hpa-node"


@pytest.fixture(scope="module")
async def hpa_managers(etcd_url: str, nats_url: str, apiserver: Any, cluster_pki: Any,
                       tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ControllerManagers]:
    cms = ControllerManagers(etcd_url, nats_url, tmp_path_factory.mktemp("hpa-cm"), cluster_pki.root,
                             extra=("--horizontal-pod-autoscaler-sync-period", "1s"))
    cms.start()
    try:
        yield cms
    finally:
        cms.stop_all()


class Load:
    """The stand-in node and its metrics: binds and readies the namespace's pods, and reports
    every pod using `millicores` of CPU, twice a second."""

    def __init__(self, api: httpx.AsyncClient, nc: Any, namespace: str) -> None:
        self.api, self.nc, self.namespace = api, nc, namespace
        self.millicores = 0

    async def _step(self) -> None:
        pods = (await self.api.get(f"/api/v1/namespaces/{self.namespace}/pods")).json()["items"]
        report = []
        for pod in pods:
            name = pod["metadata"]["name"]
            if pod["metadata"].get("deletionTimestamp"):
                await self.api.delete(f"/api/v1/namespaces/{self.namespace}/pods/{name}",
                                      params={"gracePeriodSeconds": "0"})
            elif not pod["spec"].get("nodeName"):
                await self.api.post(f"/api/v1/namespaces/{self.namespace}/pods/{name}/binding", json={
                    "metadata": {"name": name}, "target": {"kind": "Node", "name": NODE}})
            elif pod["status"].get("phase") == "Pending":
                stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                pod["status"].update(phase="Running", startTime=stamp, conditions=[
                    {"type": "Ready", "status": "True", "lastTransitionTime": stamp}])
                await self.api.put(f"/api/v1/namespaces/{self.namespace}/pods/{name}/status", json=pod)
            else:
                report.append(wire.PodUsage(namespace=self.namespace, name=name, containers=[
                    wire.ContainerUsage(name="c", cpu_nanocores=self.millicores * 1_000_000,
                                        memory_bytes=10 << 20)]))
        total = sum(p.containers[0].cpu_nanocores for p in report)
        await self.nc.publish(wire.subject(NODE), wire.encoder.encode(wire.NodeReport(
            node=NODE, timestamp=rfc3339(time.time()), window_seconds=1.0, cpu_nanocores=total,
            memory_bytes=len(report) * (10 << 20), pods=report)))

    async def run(self) -> None:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                await self._step()
            await asyncio.sleep(0.5)


def deployment() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "php-apache"}, "spec": {
        "replicas": 1, "selector": {"matchLabels": {"run": "php-apache"}},
        "template": {"metadata": {"labels": {"run": "php-apache"}}, "spec": {"containers": [{
            "name": "c", "image": "php-apache", "resources": {"requests": {"cpu": "100m"}}}]}}}}


def hpa(**behavior: Any) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "php-apache"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "php-apache"},
                     "minReplicas": 1, "maxReplicas": 5, "metrics": [{"type": "Resource", "resource": {
                         "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
                     "behavior": behavior}}


async def _replicas(api: httpx.AsyncClient, ns: str) -> int:
    return (await api.get(f"/apis/apps/v1/namespaces/{ns}/deployments/php-apache")).json()["spec"]["replicas"]


async def test_cpu_load_scales_up_to_the_maximum_and_back_down(api: httpx.AsyncClient, namespace: str,
                                                               nats_client: Any,
                                                               hpa_managers: ControllerManagers) -> None:
    ns = namespace
    load = Load(api, nats_client, ns)
    task = asyncio.ensure_future(load.run())
    try:
        r = await api.post(f"/apis/apps/v1/namespaces/{ns}/deployments", json=deployment())
        assert r.status_code == 201, r.text
        r = await api.post(f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
                           json=hpa(scaleDown={"stabilizationWindowSeconds": 0}))
        assert r.status_code == 201, r.text
        load.millicores = 10  # idle: 10 % of the request, the minimum holds

        async def observed() -> dict[str, Any] | None:
            h = (await api.get(f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/php-apache")).json()
            current = (h.get("status", {}).get("currentMetrics") or [{}])[0]
            return h if current.get("resource", {}).get("current", {}).get("averageUtilization") == 10 else None

        h = await eventually(observed, timeout=30, message="the HPA never measured the idle pod")
        conditions = {c["type"]: c for c in h["status"]["conditions"]}
        assert conditions["ScalingActive"]["status"] == "True", conditions
        assert conditions["ScalingLimited"]["reason"] == "DesiredWithinRange", conditions
        assert await _replicas(api, ns) == 1

        load.millicores = 150  # 150 % of the request against a 50 % target: ratio 3

        async def at(n: int) -> bool:
            return await _replicas(api, ns) == n

        await eventually(lambda: at(5), timeout=60, message="load did not scale the deployment to its maximum")
        h = (await api.get(f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/php-apache")).json()
        assert h["status"]["desiredReplicas"] == 5 and h["status"]["lastScaleTime"]
        table = (await api.get(f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers")).json()
        assert table["items"][0]["spec"]["maxReplicas"] == 5

        load.millicores = 5
        await eventually(lambda: at(1), timeout=60, message="the deployment did not scale back down")
        events = (await api.get(f"/api/v1/namespaces/{ns}/events")).json()["items"]
        assert any(e["reason"] == "SuccessfulRescale" and e["message"].startswith("New size: 5; reason: cpu resource "
                                                                                    "utilization (percentage of request) "
                                                                                    "above target") for e in events)
    finally:
        await cancel_and_wait(task, "hpa load")


async def test_invalid_hpas_are_refused(api: httpx.AsyncClient, namespace: str) -> None:
    body = hpa()
    body["spec"]["metrics"][0] = {"type": "External", "external": {"metric": {"name": "queue"}}}
    r = await api.post(f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers", json=body)
    assert r.status_code == 422 and "spec.metrics[0].type" in r.text, r.text
    body = hpa()
    body["spec"]["minReplicas"] = 6
    r = await api.post(f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers", json=body)
    assert r.status_code == 422 and "spec.maxReplicas" in r.text, r.text


V1 = "/apis/autoscaling/v1/namespaces/{ns}/horizontalpodautoscalers"
V2 = "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers"


async def test_autoscaling_v1_is_the_same_object_seen_through_v1(api: httpx.AsyncClient, namespace: str) -> None:
    """autoscaling/v1 is served by conversion: what v1 writes, v2 reads (and back), with v2's
    extra metrics kept in the v1 annotations; patches apply to the v1 shape; lists and watches
    come back as v1; discovery and OpenAPI list the version."""
    v1, v2 = V1.format(ns=namespace), V2.format(ns=namespace)
    created = await api.post(v1, json={
        "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "old"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "minReplicas": 1, "maxReplicas": 4, "targetCPUUtilizationPercentage": 70}})
    assert created.status_code == 201, created.text
    assert created.json()["apiVersion"] == "autoscaling/v1"
    assert created.json()["spec"]["targetCPUUtilizationPercentage"] == 70
    stored = (await api.get(f"{v2}/old")).json()
    assert stored["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]
    assert "autoscaling.alpha.kubernetes.io/metrics" not in (stored["metadata"].get("annotations") or {})

    # a v2 memory metric rides in the v1 annotation and survives a v1 read-modify-write
    await api.patch(f"{v2}/old", json={"spec": {"metrics": [*stored["spec"]["metrics"], {
        "type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "200Mi"}}}]}},
        headers={"Content-Type": "application/merge-patch+json"})
    for _attempt in range(5):  # a read-modify-write, retried on 409 as clients do (the HPA controller writes status)
        seen = (await api.get(f"{v1}/old")).json()
        assert seen["metadata"]["annotations"]["autoscaling.alpha.kubernetes.io/metrics"] == (
            '[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"200Mi"}}]')
        seen["spec"]["maxReplicas"] = 6
        put = await api.put(f"{v1}/old", json=seen)
        if put.status_code != 409:
            break
    assert put.status_code == 200, put.text
    after = (await api.get(f"{v2}/old")).json()
    assert after["spec"]["maxReplicas"] == 6 and len(after["spec"]["metrics"]) == 2

    patched = await api.patch(f"{v1}/old", json={"spec": {"targetCPUUtilizationPercentage": 55}},
                              headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert patched.status_code == 200, patched.text
    assert (await api.get(f"{v2}/old")).json()["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 55

    listed = (await api.get(v1)).json()
    assert listed["apiVersion"] == "autoscaling/v1" and listed["items"][0]["spec"]["targetCPUUtilizationPercentage"] == 55
    async with api.stream("GET", v1, params={"watch": "true", "resourceVersion": "0", "timeoutSeconds": "2"}) as resp:
        first = await anext(resp.aiter_lines())
    assert '"targetCPUUtilizationPercentage":55' in first and '"apiVersion":"autoscaling/v1"' in first

    bad = await api.put(f"{v1}/old", json={**seen, "metadata": {**seen["metadata"], "annotations": {
        "autoscaling.alpha.kubernetes.io/metrics": "not json"}}})
    assert bad.status_code == 400 and "autoscaling.alpha.kubernetes.io/metrics" in bad.json()["message"]
    invalid = await api.patch(f"{v1}/old", json={"spec": {"maxReplicas": 0}},
                              headers={"Content-Type": "application/merge-patch+json"})
    assert invalid.status_code == 422, invalid.text
    assert (await api.get(f"{v2}/old")).json()["spec"]["maxReplicas"] == 6  # nothing changed

    group = (await api.get("/apis/autoscaling")).json()
    assert [v["version"] for v in group["versions"]] == ["v2", "v1"] and group["preferredVersion"]["version"] == "v2"
    resources = (await api.get("/apis/autoscaling/v1")).json()["resources"]
    assert {"horizontalpodautoscalers", "horizontalpodautoscalers/status"} <= {r["name"] for r in resources}
    assert (await api.get("/openapi/v3/apis/autoscaling/v1")).status_code == 200
    assert (await api.delete(f"{v1}/old")).status_code == 200


async def test_a_custom_resource_is_scaled_through_its_scale_subresource(
        api: httpx.AsyncClient, namespace: str, nats_client: Any, hpa_managers: ControllerManagers) -> None:
    """Any kind with a scale subresource: here a CRD's, whose selector picks the Deployment's busy pods."""
    import uuid

    ns, group = namespace, f"s{uuid.uuid4().hex[:6]}.example.com"
    schema = {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
        "status": {"type": "object", "properties": {"replicas": {"type": "integer"}, "selector": {"type": "string"}}}}}
    r = await api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json={
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"workers.{group}"},
        "spec": {"group": group, "scope": "Namespaced", "names": {"plural": "workers", "kind": "Worker"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema},
                               "subresources": {"status": {}, "scale": {
                                   "specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
                                   "labelSelectorPath": ".status.selector"}}}]}})
    assert r.status_code == 201, r.text
    base = f"/apis/{group}/v1/namespaces/{ns}/workers"

    async def served() -> bool:
        return (await api.get(base)).status_code == 200

    await eventually(served, timeout=10, message="the CRD was not served")
    load = Load(api, nats_client, ns)
    task = asyncio.ensure_future(load.run())
    try:
        assert (await api.post(f"/apis/apps/v1/namespaces/{ns}/deployments", json=deployment())).status_code == 201
        w = await api.post(base, json={"apiVersion": f"{group}/v1", "kind": "Worker", "metadata": {"name": "w"},
                                       "spec": {"replicas": 1}})
        assert w.status_code == 201, w.text
        status = await api.put(f"{base}/w/status", json={**w.json(), "status": {"replicas": 1,
                                                                                  "selector": "run=php-apache"}})
        assert status.status_code == 200, status.text
        body = hpa()
        body["spec"]["scaleTargetRef"] = {"apiVersion": f"{group}/v1", "kind": "Worker", "name": "w"}
        r = await api.post(f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers", json=body)
        assert r.status_code == 201, r.text
        load.millicores = 150  # ratio 3 against the 50 % target

        async def scaled() -> bool:
            return ((await api.get(f"{base}/w")).json()["spec"] or {}).get("replicas", 0) > 1

        await eventually(scaled, timeout=30, message="the HPA never scaled the custom resource")
    finally:
        await cancel_and_wait(task, "hpa load")
