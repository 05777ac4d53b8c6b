"""The EndpointSlice controller in-process against the session's etcd, NATS and apiserver.

The test plays the node agents by writing pod status (podIP, Ready) through the
status subresource, as test_endpoints.py does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from kubelite_controller_manager.endpointslices.controller import (
    EndpointSliceController,
)
from kubelite_controller_manager.endpointslices.controller import (
    new_controller as new_endpointslice_controller,
)
from tests.conftest import eventually
from tests.integration.test_endpoints import LABELS, make_pod, set_status
from tests.integration.test_garbagecollector import create, get, running_controllers

pytestmark = pytest.mark.timeout(120)

MANAGED = "endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io"


@pytest.fixture
async def controller(etcd_url: str, nats_url: str, apiserver: Any, bus_creds: Any,
                     etcd_tls: Any) -> AsyncIterator[EndpointSliceController]:
    async with running_controllers(etcd_url, nats_url, bus_creds, etcd_tls, new_endpointslice_controller) as (ctl,):
        yield ctl


async def slices_of(api: httpx.AsyncClient, ns: str, service: str) -> list[dict[str, Any]]:
    r = await api.get(f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices",
                      params={"labelSelector": f"kubernetes.io/service-name={service},{MANAGED}"})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def summary(eps: dict[str, Any]) -> tuple[list[tuple[str, bool, bool, bool]], list[tuple[str, int]]]:
    """(addresses with ready/serving/terminating, [(port name, port)])."""
    return ([(e["addresses"][0], e["conditions"]["ready"], e["conditions"]["serving"],
              e["conditions"]["terminating"]) for e in eps["endpoints"]],
            [(p.get("name", ""), p["port"]) for p in eps.get("ports") or []])


async def slice_becomes(api: httpx.AsyncClient, ns: str, service: str, want: Any, message: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        slices = await slices_of(api, ns, service)
        assert len(slices) == 1, [s["metadata"]["name"] for s in slices]
        assert summary(slices[0]) == want, summary(slices[0])
        return slices[0]

    return await eventually(check, timeout=10, message=message)


async def test_slice_follows_pods_and_goes_with_the_service(
    api: httpx.AsyncClient, namespace: str, controller: EndpointSliceController,
) -> None:
    ns = namespace
    svc = await create(api, f"/api/v1/namespaces/{ns}/services", {
        "metadata": {"name": "web", "labels": {"tier": "front"}},
        "spec": {"selector": LABELS, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
    eps = await slice_becomes(api, ns, "web", ([], []),
                              "service without pods does not get its (empty) slice")
    assert eps["addressType"] == "IPv4" and eps["endpoints"] == []
    meta = eps["metadata"]
    assert meta["name"].startswith("web-")
    assert meta["labels"]["tier"] == "front" and meta["labels"]["kubernetes.io/service-name"] == "web"
    owner = meta["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == \
        ("Service", "web", svc["metadata"]["uid"], True)

    await make_pod(api, ns, "a", "10.47.0.2", ready=True)
    await make_pod(api, ns, "b", "10.47.0.3", ready=False)
    eps = await slice_becomes(api, ns, "web", (
        [("10.47.0.2", True, True, False), ("10.47.0.3", False, False, False)], [("http", 8080)]),
        "slice does not list ready/not-ready pods")
    first = eps["endpoints"][0]
    assert first["nodeName"] == "n1" and first["targetRef"]["name"] == "a" and first["targetRef"]["uid"]

    await set_status(api, ns, "b", ip="10.47.0.3", ready=True)
    await slice_becomes(api, ns, "web", (
        [("10.47.0.2", True, True, False), ("10.47.0.3", True, True, False)], [("http", 8080)]),
        "pod that became ready not ready in the slice")

    # a is being deleted (bound: graceful): still listed, terminating and not ready
    r = await api.delete(f"/api/v1/namespaces/{ns}/pods/a")
    assert r.status_code in (200, 202), r.text
    eps = await slice_becomes(api, ns, "web", (
        [("10.47.0.2", False, True, True), ("10.47.0.3", True, True, False)], [("http", 8080)]),
        "terminating pod not marked terminating")

    # a change that does not matter to the slice writes nothing
    rv = eps["metadata"]["resourceVersion"]
    pod = await get(api, f"/api/v1/namespaces/{ns}/pods/b")
    assert pod is not None
    pod["metadata"]["annotations"] = {"note": "irrelevant"}
    r = await api.put(f"/api/v1/namespaces/{ns}/pods/b", json=pod)
    assert r.status_code == 200, r.text
    await eventually(lambda: controller.pods.get(ns, "b").metadata.annotations, timeout=5,
                     message="pod change not seen")
    await eventually(lambda: len(controller.queue) == 0 and not controller.queue.is_processing(f"{ns}/web"),
                     timeout=5, message="controller busy")
    again = await slices_of(api, ns, "web")
    assert [s["metadata"]["resourceVersion"] for s in again] == [rv], "slice rewritten for nothing"

    # a slice someone else broke is put right
    broken = dict(again[0], endpoints=[])
    r = await api.put(f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices/{meta['name']}", json=broken)
    assert r.status_code == 200, r.text
    await slice_becomes(api, ns, "web", (
        [("10.47.0.2", False, True, True), ("10.47.0.3", True, True, False)], [("http", 8080)]),
        "slice changed by someone else not restored")

    # deleting the service deletes its slice
    r = await api.delete(f"/api/v1/namespaces/{ns}/services/web")
    assert r.status_code == 200, r.text

    async def no_slices() -> bool:
        return await slices_of(api, ns, "web") == []

    await eventually(no_slices, timeout=10, message="slice of a deleted service not deleted")


async def test_invalid_slice_is_rejected(api: httpx.AsyncClient, namespace: str) -> None:
    r = await api.post(f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices", json={
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "bad"},
        "addressType": "IPv5", "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 70000}]})
    assert r.status_code == 422, r.text
    causes = {(c["reason"], c["field"]) for c in r.json()["details"]["causes"]}
    assert causes == {("FieldValueNotSupported", "addressType"), ("FieldValueInvalid", "ports[0].port")}
