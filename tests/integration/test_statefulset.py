# ruff: noqa: F811 - the shared fixtures are imported from test_replicaset and requested by name
"""apps/v1 StatefulSets against a real apiserver and a real `kubelite-controller-manager`. A
stand-in node binds each pod and reports it Running, then Ready a moment later (or never,
while `hold` is set), and records what was Ready when each pod first appeared, so the
ordering guarantees are checked from what the API showed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.conftest import eventually
from tests.integration.test_replicaset import (  # noqa: F401 - fixtures
    ControllerManagers,
    cancel_and_wait,
    controller_managers,
)

pytestmark = pytest.mark.timeout(150)
HASH = "controller-revision-hash"
READY_AFTER = 0.3  # seconds from Running to Ready


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Node:
    def __init__(self, api: httpx.AsyncClient, namespace: str) -> None:
        self.api, self.namespace = api, namespace
        self.hold = False  # keep pods Running but not Ready
        self.seen: dict[str, set[str]] = {}  # pod uid -> names Ready when it first appeared
        self.deleted_while: list[tuple[str, set[str]]] = []  # (pod, pods present) at each deletion seen
        self.running_since: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def _step(self) -> None:
        pods = (await self.api.get(f"/api/v1/namespaces/{self.namespace}/pods")).json()["items"]
        ready = {p["metadata"]["name"] for p in pods if any(
            c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])}
        present = {p["metadata"]["name"] for p in pods}
        for pod in pods:
            meta, name, phase = pod["metadata"], pod["metadata"]["name"], pod["status"].get("phase")
            if meta["uid"] not in self.seen:
                self.seen[meta["uid"]] = set(ready)
            if meta.get("deletionTimestamp"):
                self.deleted_while.append((name, set(present)))
                await self.api.delete(f"/api/v1/namespaces/{self.namespace}/pods/{name}",
                                      params={"gracePeriodSeconds": "0"})
            elif not pod["spec"].get("nodeName"):
                await self.api.post(f"/api/v1/namespaces/{self.namespace}/pods/{name}/binding", json={
                    "metadata": {"name": name}, "target": {"kind": "Node", "name": "sts-node"}})
            elif phase == "Pending":
                pod["status"]["phase"] = "Running"
                self.running_since[meta["uid"]] = time.monotonic()
                await self.api.put(f"/api/v1/namespaces/{self.namespace}/pods/{name}/status", json=pod)
            elif name not in ready and not self.hold and \
                    time.monotonic() - self.running_since.get(meta["uid"], 0) >= READY_AFTER:
                pod["status"]["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": _now()}]
                await self.api.put(f"/api/v1/namespaces/{self.namespace}/pods/{name}/status", json=pod)

    async def run(self) -> None:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                await self._step()
            await asyncio.sleep(0.05)


@pytest.fixture
async def node(api: httpx.AsyncClient, namespace: str,
               controller_managers: ControllerManagers) -> AsyncIterator[Node]:
    n = Node(api, namespace)
    n._task = asyncio.ensure_future(n.run())
    yield n
    await cancel_and_wait(n._task, "statefulset node")


def statefulset(name: str = "web", image: str = "web:v1", replicas: int = 3, **spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name}, "spec": {
        "serviceName": "nginx", "replicas": replicas, "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {
            "containers": [{"name": "main", "image": image,
                            "volumeMounts": [{"name": "www", "mountPath": "/data"}]}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}}}],
        **spec}}


async def _pods(api: httpx.AsyncClient, ns: str) -> dict[str, dict[str, Any]]:
    items = (await api.get(f"/api/v1/namespaces/{ns}/pods")).json()["items"]
    return {p["metadata"]["name"]: p for p in items if not p["metadata"].get("deletionTimestamp")}


async def _sts(api: httpx.AsyncClient, ns: str, name: str = "web") -> dict[str, Any]:
    return (await api.get(f"/apis/apps/v1/namespaces/{ns}/statefulsets/{name}")).json()


async def _settled(api: httpx.AsyncClient, ns: str, n: int, image: str) -> dict[str, Any] | None:
    sts, pods = await _sts(api, ns), await _pods(api, ns)
    st = sts.get("status", {})
    images = {p["spec"]["containers"][0]["image"] for p in pods.values()}
    ok = sorted(pods) == [f"web-{i}" for i in range(n)] and (n == 0 or images == {image}) \
        and st.get("readyReplicas", 0) == n and st.get("replicas") == n \
        and st.get("observedGeneration") == sts["metadata"]["generation"] \
        and st.get("currentRevision") == st.get("updateRevision")
    return sts if ok else None


async def _patch(api: httpx.AsyncClient, ns: str, body: dict[str, Any], status: int = 200) -> None:
    r = await api.patch(f"/apis/apps/v1/namespaces/{ns}/statefulsets/web", json=body,
                        headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert r.status_code == status, r.text


async def test_ordered_creation_identity_claims_and_ordered_scale_down(api: httpx.AsyncClient, namespace: str,
                                                                      node: Node) -> None:
    ns = namespace
    r = await api.post(f"/apis/apps/v1/namespaces/{ns}/statefulsets", json=statefulset())
    assert r.status_code == 201, r.text
    sts = await eventually(lambda: _settled(api, ns, 3, "web:v1"), timeout=60, message="3 pods never settled")
    pods = await _pods(api, ns)
    for i in range(3):
        pod = pods[f"web-{i}"]
        assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == (f"web-{i}", "nginx")
        assert pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == f"web-{i}"
        assert pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == str(i)
        assert pod["metadata"]["labels"][HASH] == sts["status"]["updateRevision"]
        claim = next(v for v in pod["spec"]["volumes"] if v["name"] == "www")
        assert claim["persistentVolumeClaim"]["claimName"] == f"www-web-{i}"
        # OrderedReady: when web-i appeared, web-0..i-1 were all Ready
        assert node.seen[pod["metadata"]["uid"]] >= {f"web-{j}" for j in range(i)}, (i, node.seen)
    claims = (await api.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims")).json()["items"]
    assert sorted(c["metadata"]["name"] for c in claims) == ["www-web-0", "www-web-1", "www-web-2"]
    assert claims[0]["metadata"]["labels"] == {"app": "web"}

    await _patch(api, ns, {"spec": {"replicas": 1}})
    await eventually(lambda: _settled(api, ns, 1, "web:v1"), timeout=60, message="never scaled down to 1")
    deleted = [name for name, _ in node.deleted_while]
    assert deleted.index("web-2") < deleted.index("web-1"), deleted
    assert all("web-2" not in present for name, present in node.deleted_while if name == "web-1"), \
        "web-1 was deleted while web-2 was still there"
    claims = (await api.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims")).json()["items"]
    assert len(claims) == 3, "claims are retained on scale-down by default"


async def test_rolling_update_respects_the_partition(api: httpx.AsyncClient, namespace: str, node: Node) -> None:
    ns = namespace
    r = await api.post(f"/apis/apps/v1/namespaces/{ns}/statefulsets", json=statefulset(
        updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}))
    assert r.status_code == 201, r.text
    first = await eventually(lambda: _settled(api, ns, 3, "web:v1"), timeout=60, message="3 pods never settled")
    old_rev = first["status"]["currentRevision"]
    await _patch(api, ns, {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "web:v2"}]}}}})

    async def partial() -> dict[str, Any] | None:
        sts, pods = await _sts(api, ns), await _pods(api, ns)
        images = {n: p["spec"]["containers"][0]["image"] for n, p in pods.items()}
        st = sts.get("status", {})
        done = images == {"web-0": "web:v1", "web-1": "web:v2", "web-2": "web:v2"} and \
            st.get("updatedReplicas") == 2 and st.get("readyReplicas") == 3
        return sts if done else None

    sts = await eventually(partial, timeout=60, message="web-2 and web-1 were not updated above the partition")
    assert sts["status"]["currentRevision"] == old_rev != sts["status"]["updateRevision"]
    deleted = [name for name, _ in node.deleted_while]
    assert deleted.index("web-2") < deleted.index("web-1") and "web-0" not in deleted, deleted

    await _patch(api, ns, {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}})
    sts = await eventually(lambda: _settled(api, ns, 3, "web:v2"), timeout=60, message="web-0 never updated")
    assert sts["status"]["currentRevision"] != old_rev
    revs = (await api.get(f"/apis/apps/v1/namespaces/{ns}/controllerrevisions")).json()["items"]
    assert sorted(r["revision"] for r in revs) == [1, 2]


async def test_parallel_creates_without_waiting_and_claims_follow_the_policy(
        api: httpx.AsyncClient, namespace: str, node: Node) -> None:
    ns = namespace
    node.hold = True  # nothing becomes Ready: OrderedReady would stop at web-0
    r = await api.post(f"/apis/apps/v1/namespaces/{ns}/statefulsets", json=statefulset(
        podManagementPolicy="Parallel",
        persistentVolumeClaimRetentionPolicy={"whenScaled": "Delete", "whenDeleted": "Retain"}))
    assert r.status_code == 201, r.text

    async def all_three() -> bool:
        return sorted(await _pods(api, ns)) == ["web-0", "web-1", "web-2"]

    await eventually(all_three, timeout=30, message="Parallel did not create all pods at once")
    node.hold = False
    await eventually(lambda: _settled(api, ns, 3, "web:v1"), timeout=60, message="3 pods never settled")
    await _patch(api, ns, {"spec": {"replicas": 1}})
    await eventually(lambda: _settled(api, ns, 1, "web:v1"), timeout=60, message="never scaled down to 1")

    async def claims_left() -> list[str]:
        items = (await api.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims")).json()["items"]
        names = sorted(c["metadata"]["name"] for c in items if not c["metadata"].get("deletionTimestamp"))
        return names if names == ["www-web-0"] else []

    await eventually(claims_left, timeout=30, message="whenScaled: Delete left the condemned claims")


async def test_invalid_statefulsets_are_refused(api: httpx.AsyncClient, namespace: str) -> None:
    ns = namespace
    bad = statefulset()
    del bad["spec"]["serviceName"]
    r = await api.post(f"/apis/apps/v1/namespaces/{ns}/statefulsets", json=bad)
    assert r.status_code == 422 and r.json()["details"]["causes"][0]["field"] == "spec.serviceName", r.text
    bad = statefulset(podManagementPolicy="Random")
    r = await api.post(f"/apis/apps/v1/namespaces/{ns}/statefulsets", json=bad)
    assert r.status_code == 422 and "spec.podManagementPolicy" in r.text, r.text
    r = await api.post(f"/apis/apps/v1/namespaces/{ns}/statefulsets", json=statefulset(replicas=0))
    assert r.status_code == 201, r.text
    r = await api.patch(f"/apis/apps/v1/namespaces/{ns}/statefulsets/web", json={"spec": {"serviceName": "other"}},
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 422 and "updates to statefulset spec for fields other than" in r.text, r.text
    assert (await _sts(api, ns))["spec"]["serviceName"] == "nginx"
