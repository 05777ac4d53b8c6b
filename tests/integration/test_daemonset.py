# ruff: noqa: F811 - the shared fixtures are imported from test_replicaset and requested by name
"""apps/v1 DaemonSets against a real apiserver and a real `kubelite-controller-manager`. A
stand-in (below) plays scheduler and node agents: it binds each pod to the node its node
affinity names and reports it Running and Ready. Nodes are labelled with the test's
namespace and the DaemonSets select on that label, so other tests' nodes never count."""

from __future__ import annotations

import asyncio
import contextlib
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

pytestmark = pytest.mark.timeout(120)
HASH = "controller-revision-hash"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pinned_node(pod: dict[str, Any]) -> str:
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"]
    return terms[0]["matchFields"][0]["values"][0]


class Nodes:
    """Binds each pod to its pinned node, reports it Running and Ready, finishes deletions;
    records the most nodes of the set ever without a ready pod during an update."""

    def __init__(self, api: httpx.AsyncClient, namespace: str) -> None:
        self.api, self.namespace = api, namespace
        self.names: list[str] = []
        self.max_unready = 0
        self.watching = False
        self._task: asyncio.Task[None] | None = None

    async def add(self, name: str, *, taint: dict[str, str] | None = None, labelled: bool = True) -> None:
        labels = {"ds-test": self.namespace} if labelled else {}
        body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
                "spec": {"taints": [taint]} if taint else {}}
        r = await self.api.post("/api/v1/nodes", json=body)
        assert r.status_code == 201, r.text
        self.names.append(name)

    async def _step(self) -> None:
        pods = (await self.api.get(f"/api/v1/namespaces/{self.namespace}/pods")).json()["items"]
        ready_nodes = set()
        for pod in pods:
            name, meta, phase = pod["metadata"]["name"], pod["metadata"], pod["status"].get("phase")
            if meta.get("deletionTimestamp"):
                await self.api.delete(f"/api/v1/namespaces/{self.namespace}/pods/{name}",
                                      params={"gracePeriodSeconds": "0"})
            elif not pod["spec"].get("nodeName"):
                await self.api.post(f"/api/v1/namespaces/{self.namespace}/pods/{name}/binding", json={
                    "metadata": {"name": name}, "target": {"kind": "Node", "name": _pinned_node(pod)}})
            elif phase == "Pending":
                pod["status"].update(phase="Running", conditions=[
                    {"type": "Ready", "status": "True", "lastTransitionTime": _now()}])
                await self.api.put(f"/api/v1/namespaces/{self.namespace}/pods/{name}/status", json=pod)
            else:
                ready_nodes.add(pod["spec"]["nodeName"])
        if self.watching:
            wanted = [n for n in self.names if n.endswith("-ok")]
            self.max_unready = max(self.max_unready, len([n for n in wanted if n not in ready_nodes]))

    async def run(self) -> None:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                await self._step()
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await cancel_and_wait(self._task, "daemonset nodes")
        for name in self.names:
            await self.api.delete(f"/api/v1/nodes/{name}")


@pytest.fixture
async def nodes(api: httpx.AsyncClient, namespace: str,
                controller_managers: ControllerManagers) -> AsyncIterator[Nodes]:
    n = Nodes(api, namespace)
    n._task = asyncio.ensure_future(n.run())
    yield n
    await n.close()


def daemonset(namespace: str, name: str = "agent", image: str = "agent:v1", **spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name}, "spec": {
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {
            "nodeSelector": {"ds-test": namespace},
            "containers": [{"name": "main", "image": image}]}}, **spec}}


async def _pods(api: httpx.AsyncClient, ns: str) -> list[dict[str, Any]]:
    return [p for p in (await api.get(f"/api/v1/namespaces/{ns}/pods")).json()["items"]
            if not p["metadata"].get("deletionTimestamp")]


async def _ds(api: httpx.AsyncClient, ns: str, name: str = "agent") -> dict[str, Any]:
    return (await api.get(f"/apis/apps/v1/namespaces/{ns}/daemonsets/{name}")).json()


async def _revisions(api: httpx.AsyncClient, ns: str) -> dict[int, dict[str, Any]]:
    items = (await api.get(f"/apis/apps/v1/namespaces/{ns}/controllerrevisions")).json()["items"]
    return {r["revision"]: r for r in items}


async def _settled(api: httpx.AsyncClient, ns: str, want: int, image: str) -> dict[str, Any] | None:
    ds = await _ds(api, ns)
    st = ds.get("status", {})
    pods = await _pods(api, ns)
    images = {p["spec"]["containers"][0]["image"] for p in pods}
    counts = (st.get("desiredNumberScheduled"), st.get("currentNumberScheduled"), st.get("numberReady"),
              st.get("updatedNumberScheduled"), st.get("numberAvailable"))
    ok = counts == (want,) * 5 and len(pods) == want and images == {image} and \
        st.get("observedGeneration") == ds["metadata"]["generation"]
    return ds if ok else None


async def test_one_pod_per_eligible_node_and_new_nodes_get_theirs(api: httpx.AsyncClient, namespace: str,
                                                                   nodes: Nodes) -> None:
    ns = namespace
    await nodes.add(f"{ns}-a-ok")
    await nodes.add(f"{ns}-b-ok")
    await nodes.add(f"{ns}-tainted", taint={"key": "dedicated", "value": "db", "effect": "NoSchedule"})
    await nodes.add(f"{ns}-other", labelled=False)
    r = await api.post(f"/apis/apps/v1/namespaces/{ns}/daemonsets", json=daemonset(ns))
    assert r.status_code == 201, r.text
    assert r.json()["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                                  "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    await eventually(lambda: _settled(api, ns, 2, "agent:v1"), timeout=30, message="2 daemon pods never settled")
    pods = await _pods(api, ns)
    assert sorted(p["spec"]["nodeName"] for p in pods) == [f"{ns}-a-ok", f"{ns}-b-ok"]
    tolerated = {(t["key"], t["effect"]) for t in pods[0]["spec"]["tolerations"]}
    assert ("node.kubernetes.io/unreachable", "NoExecute") in tolerated
    assert ("node.kubernetes.io/unschedulable", "NoSchedule") in tolerated
    owner = pods[0]["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["controller"]) == ("DaemonSet", True)
    revs = await _revisions(api, ns)
    assert list(revs) == [1] and pods[0]["metadata"]["labels"][HASH] == revs[1]["metadata"]["labels"][HASH]

    await nodes.add(f"{ns}-c-ok")  # a new node gets its pod
    await eventually(lambda: _settled(api, ns, 3, "agent:v1"), timeout=30, message="the new node got no pod")

    # a node that stops matching the selector loses its pod
    r = await api.patch(f"/api/v1/nodes/{ns}-c-ok", json={"metadata": {"labels": {"ds-test": None}}},
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    await eventually(lambda: _settled(api, ns, 2, "agent:v1"), timeout=30, message="unlabelled node kept its pod")


async def test_rolling_update_within_max_unavailable_then_undo_renumbers(api: httpx.AsyncClient, namespace: str,
                                                                         nodes: Nodes) -> None:
    ns = namespace
    for i in range(4):
        await nodes.add(f"{ns}-{i}-ok")
    r = await api.post(f"/apis/apps/v1/namespaces/{ns}/daemonsets", json=daemonset(ns))
    assert r.status_code == 201, r.text
    await eventually(lambda: _settled(api, ns, 4, "agent:v1"), timeout=30, message="daemon pods never settled")
    v1_pods = {p["metadata"]["name"] for p in await _pods(api, ns)}

    nodes.watching = True
    r = await api.patch(f"/apis/apps/v1/namespaces/{ns}/daemonsets/agent",
                        json={"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "agent:v2"}]}}}},
                        headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert r.status_code == 200, r.text
    await eventually(lambda: _settled(api, ns, 4, "agent:v2"), timeout=60, message="rollout to v2 never finished")
    nodes.watching = False
    assert nodes.max_unready <= 1, f"{nodes.max_unready} nodes were without a ready pod (maxUnavailable 1)"
    assert not v1_pods & {p["metadata"]["name"] for p in await _pods(api, ns)}
    revs = await _revisions(api, ns)
    assert sorted(revs) == [1, 2]

    # kubectl rollout undo: patch the DaemonSet with revision 1's data
    r = await api.patch(f"/apis/apps/v1/namespaces/{ns}/daemonsets/agent", json=revs[1]["data"],
                        headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert r.status_code == 200, r.text
    await eventually(lambda: _settled(api, ns, 4, "agent:v1"), timeout=60, message="undo to v1 never finished")

    async def renumbered() -> bool:
        now = await _revisions(api, ns)
        return sorted(now) == [2, 3] and now[3]["metadata"]["name"] == revs[1]["metadata"]["name"]

    await eventually(renumbered, timeout=20, message="revision 1 was not renumbered 3 by the undo")


async def test_on_delete_replaces_only_deleted_pods(api: httpx.AsyncClient, namespace: str, nodes: Nodes) -> None:
    ns = namespace
    await nodes.add(f"{ns}-a-ok")
    await nodes.add(f"{ns}-b-ok")
    r = await api.post(f"/apis/apps/v1/namespaces/{ns}/daemonsets",
                       json=daemonset(ns, updateStrategy={"type": "OnDelete"}))
    assert r.status_code == 201, r.text
    await eventually(lambda: _settled(api, ns, 2, "agent:v1"), timeout=30, message="daemon pods never settled")
    r = await api.patch(f"/apis/apps/v1/namespaces/{ns}/daemonsets/agent",
                        json={"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "agent:v2"}]}}}},
                        headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert r.status_code == 200, r.text

    async def observed() -> dict[str, Any] | None:
        ds = await _ds(api, ns)
        st = ds.get("status", {})
        done = st.get("observedGeneration") == ds["metadata"]["generation"] and st.get("updatedNumberScheduled") == 0
        return ds if done else None

    await eventually(observed, timeout=20, message="status never showed 0 updated pods")
    assert {p["spec"]["containers"][0]["image"] for p in await _pods(api, ns)} == {"agent:v1"}
    victim = next(p for p in await _pods(api, ns) if p["spec"]["nodeName"] == f"{ns}-a-ok")
    await api.delete(f"/api/v1/namespaces/{ns}/pods/{victim['metadata']['name']}")

    async def replaced() -> bool:
        images = {p["spec"].get("nodeName"): p["spec"]["containers"][0]["image"] for p in await _pods(api, ns)}
        return images == {f"{ns}-a-ok": "agent:v2", f"{ns}-b-ok": "agent:v1"}

    await eventually(replaced, timeout=30, message="the deleted pod was not replaced from the new template")


async def test_invalid_daemonsets_are_refused(api: httpx.AsyncClient, namespace: str) -> None:
    bad = daemonset(namespace)
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    r = await api.post(f"/apis/apps/v1/namespaces/{namespace}/daemonsets", json=bad)
    assert r.status_code == 422, r.text
    assert r.json()["details"]["causes"][0]["field"] == "spec.template.metadata.labels"
    bad = daemonset(namespace, updateStrategy={"type": "Sometimes"})
    r = await api.post(f"/apis/apps/v1/namespaces/{namespace}/daemonsets", json=bad)
    assert r.status_code == 422 and "spec.updateStrategy.type" in r.text, r.text
    listed = (await api.get(f"/apis/apps/v1/namespaces/{namespace}/daemonsets")).json()["items"]
    assert listed == []
