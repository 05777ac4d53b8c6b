# ruff: noqa: F811 - the shared fixtures are imported from test_replicaset and requested by name
"""PodDisruptionBudgets and the eviction subresource against a real apiserver and a real
controller-manager (ReplicaSet and disruption controllers). A stand-in node binds the
namespace's pods and reports them Running and Ready; deletions finish at once."""

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

pytestmark = pytest.mark.timeout(90)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _node_loop(api: httpx.AsyncClient, ns: str) -> None:
    while True:
        with contextlib.suppress(httpx.HTTPError):
            for pod in (await api.get(f"/api/v1/namespaces/{ns}/pods")).json()["items"]:
                name = pod["metadata"]["name"]
                if pod["metadata"].get("deletionTimestamp"):
                    await api.delete(f"/api/v1/namespaces/{ns}/pods/{name}", params={"gracePeriodSeconds": "0"})
                elif not pod["spec"].get("nodeName"):
                    await api.post(f"/api/v1/namespaces/{ns}/pods/{name}/binding", json={
                        "metadata": {"name": name}, "target": {"kind": "Node", "name": "pdb-node"}})
                elif pod["status"].get("phase") == "Pending":
                    pod["status"].update(phase="Running", conditions=[
                        {"type": "Ready", "status": "True", "lastTransitionTime": _now()}])
                    await api.put(f"/api/v1/namespaces/{ns}/pods/{name}/status", json=pod)
        await asyncio.sleep(0.05)


@pytest.fixture
async def node(api: httpx.AsyncClient, namespace: str,
               controller_managers: ControllerManagers) -> AsyncIterator[None]:
    task = asyncio.ensure_future(_node_loop(api, namespace))
    yield
    await cancel_and_wait(task, "pdb node")


async def _pdb(api: httpx.AsyncClient, ns: str, **spec: Any) -> None:
    r = await api.post(f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets", json={
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}})
    assert r.status_code == 201, r.text


async def _replicaset(api: httpx.AsyncClient, ns: str, replicas: int) -> None:
    r = await api.post(f"/apis/apps/v1/namespaces/{ns}/replicasets", json={
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"}, "spec": {
            "replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                "containers": [{"name": "c", "image": "web"}]}}}})
    assert r.status_code == 201, r.text


async def _allowed(api: httpx.AsyncClient, ns: str, want: int, healthy: int) -> dict[str, Any] | None:
    pdb = (await api.get(f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/web")).json()
    st = pdb.get("status", {})
    ok = st.get("disruptionsAllowed") == want and st.get("currentHealthy") == healthy and \
        st.get("observedGeneration") == pdb["metadata"]["generation"]
    return pdb if ok else None


async def _ready_pods(api: httpx.AsyncClient, ns: str) -> list[str]:
    pods = (await api.get(f"/api/v1/namespaces/{ns}/pods")).json()["items"]
    return sorted(p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp")
                  and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or []))


async def _evict(api: httpx.AsyncClient, ns: str, pod: str) -> httpx.Response:
    return await api.post(f"/api/v1/namespaces/{ns}/pods/{pod}/eviction", json={
        "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": ns}})


async def test_eviction_honours_min_available(api: httpx.AsyncClient, namespace: str, node: None) -> None:
    ns = namespace
    await _replicaset(api, ns, 3)
    await _pdb(api, ns, minAvailable=2)
    pdb = await eventually(lambda: _allowed(api, ns, 1, 3), timeout=30, message="budget never allowed 1")
    assert (pdb["status"]["desiredHealthy"], pdb["status"]["expectedPods"]) == (2, 3)
    assert {"type": "DisruptionAllowed", "status": "True"}.items() <= pdb["status"]["conditions"][0].items()
    first, second = (await _ready_pods(api, ns))[:2]
    r = await _evict(api, ns, first)
    assert r.status_code == 201 and r.json()["status"] == "Success", r.text
    r = await _evict(api, ns, second)
    assert r.status_code == 429, r.text
    body = r.json()
    assert body["reason"] == "TooManyRequests"
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert body["details"]["causes"][0]["reason"] == "DisruptionBudget"
    still = (await api.get(f"/api/v1/namespaces/{ns}/pods/{second}")).json()
    assert not still["metadata"].get("deletionTimestamp"), "a refused eviction must not delete the pod"

    # the ReplicaSet replaces the evicted pod; once it is ready the budget allows one again
    await eventually(lambda: _allowed(api, ns, 1, 3), timeout=30, message="budget never recovered")
    r = await _evict(api, ns, second)
    assert r.status_code == 201, r.text


async def test_evictions_at_once_all_pass_a_budget_that_allows_them(api: httpx.AsyncClient, namespace: str,
                                                                     node: None) -> None:
    """`kubectl drain` evicts a node's pods concurrently: each eviction that loses the race for
    the budget's compare-and-swap (to another eviction, to the controller's status write)
    decides again after a pause, as Kubernetes' EvictionsRetry, rather than failing with 409."""
    ns = namespace
    await _replicaset(api, ns, 4)
    await _pdb(api, ns, maxUnavailable=4)
    await eventually(lambda: _allowed(api, ns, 4, 4), timeout=30, message="budget never allowed 4")
    pods = await _ready_pods(api, ns)
    answers = await asyncio.gather(*(_evict(api, ns, pod) for pod in pods))
    assert [r.status_code for r in answers] == [201] * 4, [r.text for r in answers]


async def test_max_unavailable_percent_uses_the_controllers_scale(api: httpx.AsyncClient, namespace: str,
                                                                  node: None) -> None:
    ns = namespace
    await _replicaset(api, ns, 4)
    await _pdb(api, ns, maxUnavailable="25%")
    pdb = await eventually(lambda: _allowed(api, ns, 1, 4), timeout=30, message="budget never allowed 1")
    assert (pdb["status"]["expectedPods"], pdb["status"]["desiredHealthy"]) == (4, 3)


async def test_eviction_without_a_budget_and_bad_budgets(api: httpx.AsyncClient, namespace: str) -> None:
    ns = namespace
    r = await api.post(f"/api/v1/namespaces/{ns}/pods", json={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "lone"},
        "spec": {"containers": [{"name": "c", "image": "x"}]}})
    assert r.status_code == 201, r.text
    r = await _evict(api, ns, "lone")
    assert r.status_code == 201, r.text
    r = await _evict(api, ns, "missing")
    assert r.status_code == 404, r.text
    # a running pod is marked DisruptionTarget before it goes (what podFailurePolicy rules match)
    r = await api.post(f"/api/v1/namespaces/{ns}/pods", json={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "busy"},
        "spec": {"nodeName": "nowhere", "containers": [{"name": "c", "image": "x"}]}})
    assert r.status_code == 201, r.text
    busy = r.json()
    busy["status"]["phase"] = "Running"
    r = await api.put(f"/api/v1/namespaces/{ns}/pods/busy/status", json=busy)
    assert r.status_code == 200, r.text
    r = await _evict(api, ns, "busy")
    assert r.status_code == 201, r.text
    going = (await api.get(f"/api/v1/namespaces/{ns}/pods/busy")).json()
    assert going["metadata"]["deletionTimestamp"]
    target = next(c for c in going["status"]["conditions"] if c["type"] == "DisruptionTarget")
    assert (target["status"], target["reason"]) == ("True", "EvictionByEvictionAPI"), target
    r = await api.post(f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets", json={
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "both"},
        "spec": {"minAvailable": 1, "maxUnavailable": 1, "selector": {"matchLabels": {"a": "b"}}}})
    assert r.status_code == 422 and "cannot be both set" in r.text, r.text
    r = await api.post(f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets", json={
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "pct"},
        "spec": {"minAvailable": "120%", "selector": {"matchLabels": {"a": "b"}}}})
    assert r.status_code == 422 and "spec.minAvailable" in r.text, r.text
