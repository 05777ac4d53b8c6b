"""The namespace controller in-process against the session's etcd, NATS and apiserver:
a deleted namespace is emptied, waits for pods still terminating, then goes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from kubelite_controller_manager.namespace.controller import NamespaceController
from kubelite_controller_manager.namespace.controller import (
    new_controller as new_namespace_controller,
)
from tests.conftest import eventually
from tests.integration.test_garbagecollector import create, get, gone, running_controllers

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def controller(etcd_url: str, nats_url: str, apiserver: Any, bus_creds: Any,
                     etcd_tls: Any) -> AsyncIterator[NamespaceController]:
    async with running_controllers(etcd_url, nats_url, bus_creds, etcd_tls, new_namespace_controller) as (ctl,):
        yield ctl


async def test_deleting_a_namespace_removes_its_content_then_itself(
    api: httpx.AsyncClient, controller: NamespaceController,
) -> None:
    ns = "doomed-" + uuid.uuid4().hex[:8]
    await create(api, "/api/v1/namespaces", {"metadata": {"name": ns}})
    base = f"/api/v1/namespaces/{ns}"
    labels = {"app": "x"}
    pod_spec = {"containers": [{"name": "c", "image": "busybox"}]}
    await create(api, f"{base}/configmaps", {"metadata": {"name": "cm"}, "data": {"a": "b"}})
    await create(api, f"{base}/secrets", {"metadata": {"name": "s"}, "stringData": {"a": "b"}})
    await create(api, f"{base}/services", {"metadata": {"name": "svc"},
                                           "spec": {"selector": labels, "ports": [{"port": 80}]}})
    await create(api, f"{base}/pods", {"metadata": {"name": "unbound", "labels": labels}, "spec": pod_spec})
    # a pod on a node: deleted gracefully, it stays until its node agent confirms
    await create(api, f"{base}/pods", {"metadata": {"name": "bound"}, "spec": {**pod_spec, "nodeName": "far-away"}})
    await create(api, f"/apis/apps/v1/namespaces/{ns}/deployments", {
        "metadata": {"name": "d"}, "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                                            "template": {"metadata": {"labels": labels}, "spec": pod_spec}}})
    await create(api, f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases", {"metadata": {"name": "l"}})

    r = await api.delete(f"/api/v1/namespaces/{ns}")
    assert r.status_code in (200, 202), r.text
    assert r.json()["status"]["phase"] == "Terminating"

    for path in (f"{base}/configmaps/cm", f"{base}/secrets/s", f"{base}/services/svc", f"{base}/pods/unbound",
                 f"/apis/apps/v1/namespaces/{ns}/deployments/d",
                 f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/l"):
        await eventually(lambda path=path: gone(api, path), timeout=10, message=f"{path} not deleted")

    async def bound_terminating() -> bool:
        pod = await get(api, f"{base}/pods/bound")
        return pod is not None and bool(pod["metadata"].get("deletionTimestamp"))

    await eventually(bound_terminating, timeout=10, message="bound pod not deleted gracefully")
    namespace = await get(api, f"/api/v1/namespaces/{ns}")
    assert namespace is not None, "namespace went while a pod was still terminating"
    assert namespace["status"]["phase"] == "Terminating"
    assert namespace["spec"]["finalizers"] == ["kubernetes"]
    # nothing new may be created meanwhile
    r = await api.post(f"{base}/configmaps", json={"metadata": {"name": "late"}})
    assert r.status_code == 403, r.text

    # the node agent confirms the pod stopped; then the namespace goes
    r = await api.delete(f"{base}/pods/bound", params={"gracePeriodSeconds": "0"})
    assert r.status_code in (200, 202), r.text
    await eventually(lambda: gone(api, f"/api/v1/namespaces/{ns}"), timeout=10,
                     message="empty terminating namespace not removed")


async def test_active_namespaces_are_left_alone(
    api: httpx.AsyncClient, namespace: str, controller: NamespaceController,
) -> None:
    await create(api, f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "keep"}})
    await eventually(lambda: controller.namespaces.get("", namespace) is not None, timeout=5,
                     message="namespace not in the controller's cache")
    await eventually(lambda: len(controller.queue) == 0, timeout=5, message="controller busy")
    assert await get(api, f"/api/v1/namespaces/{namespace}/configmaps/keep") is not None
    ns = await get(api, f"/api/v1/namespaces/{namespace}")
    assert ns is not None and ns["status"]["phase"] == "Active"
