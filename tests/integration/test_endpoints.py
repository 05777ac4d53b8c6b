"""The Endpoints controller in-process against the session's etcd, NATS and apiserver.

The test plays the node agents by writing pod status (podIP, Ready) through the
status subresource.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from kubelite.bus import changes as change_subjects
from kubelite_controller_manager.endpoints.controller import EndpointsController
from kubelite_controller_manager.endpoints.controller import (
    new_controller as new_endpoints_controller,
)
from tests.conftest import eventually
from tests.integration.test_garbagecollector import create, get, gone, running_controllers

pytestmark = pytest.mark.timeout(120)

LABELS = {"app": "web"}


@pytest.fixture
async def controller(etcd_url: str, nats_url: str, apiserver: Any, bus_creds: Any,
                     etcd_tls: Any) -> AsyncIterator[EndpointsController]:
    async with running_controllers(etcd_url, nats_url, bus_creds, etcd_tls, new_endpoints_controller) as (ctl,):
        yield ctl


async def make_pod(api: httpx.AsyncClient, ns: str, name: str, ip: str, *, ready: bool,
                   ports: list[dict[str, Any]] | None = None, node: str = "n1") -> None:
    container: dict[str, Any] = {"name": "c", "image": "busybox"}
    if ports:
        container["ports"] = ports
    await create(api, f"/api/v1/namespaces/{ns}/pods", {
        "metadata": {"name": name, "labels": LABELS}, "spec": {"nodeName": node, "containers": [container]}})
    await set_status(api, ns, name, ip=ip, ready=ready)


async def set_status(api: httpx.AsyncClient, ns: str, name: str, *, ip: str, ready: bool) -> None:
    for _ in range(10):
        pod = await get(api, f"/api/v1/namespaces/{ns}/pods/{name}")
        assert pod is not None
        pod["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                         "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
        r = await api.put(f"/api/v1/namespaces/{ns}/pods/{name}/status", json=pod)
        if r.status_code == 200:
            return
        assert r.status_code == 409, r.text
    raise AssertionError("could not write pod status")


def summary(ep: dict[str, Any] | None) -> list[tuple[list[str], list[str], list[tuple[str, int]]]]:
    """Each subset as (ready IPs, not-ready IPs, [(port name, port)])."""
    if ep is None:
        return []
    return [([a["ip"] for a in ss.get("addresses") or []],
             [a["ip"] for a in ss.get("notReadyAddresses") or []],
             [(p.get("name", ""), p["port"]) for p in ss.get("ports") or []])
            for ss in ep.get("subsets") or []]


async def endpoints_become(api: httpx.AsyncClient, ns: str, name: str, want: list[Any],
                           message: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        ep = await get(api, f"/api/v1/namespaces/{ns}/endpoints/{name}")
        assert summary(ep) == want, summary(ep)
        return ep

    return await eventually(check, timeout=10, message=message)


async def test_endpoints_follow_readiness_and_named_ports(
    api: httpx.AsyncClient, namespace: str, controller: EndpointsController, nats_client: Any,
) -> None:
    ns = namespace
    changes: list[dict[str, Any]] = []

    async def on_change(msg: Any) -> None:
        changes.append(json.loads(msg.data))

    sub = await nats_client.subscribe(change_subjects.subject("endpoints", ns, "web"), cb=on_change)
    await create(api, f"/api/v1/namespaces/{ns}/services", {
        "metadata": {"name": "web", "labels": {"tier": "front"}},
        "spec": {"selector": LABELS, "ports": [
            {"name": "http", "port": 80, "targetPort": "web"},
            {"name": "metrics", "port": 9100, "targetPort": 9100}]}})
    web = [{"name": "web", "containerPort": 8080}]
    await make_pod(api, ns, "a", "10.44.0.2", ready=True, ports=web)
    await make_pod(api, ns, "b", "10.44.0.3", ready=False, ports=web)
    await make_pod(api, ns, "c", "10.44.0.4", ready=True)  # no port named "web"
    await create(api, f"/api/v1/namespaces/{ns}/pods", {  # no IP yet: not listed at all
        "metadata": {"name": "pending", "labels": LABELS},
        "spec": {"containers": [{"name": "c", "image": "busybox", "ports": web}]}})

    ep = await endpoints_become(api, ns, "web", [
        (["10.44.0.2"], ["10.44.0.3"], [("http", 8080)]),
        (["10.44.0.2", "10.44.0.4"], ["10.44.0.3"], [("metrics", 9100)]),
    ], "endpoints do not list ready/not-ready pods with resolved ports")
    assert ep["metadata"]["labels"] == {"tier": "front"}
    addr = ep["subsets"][0]["addresses"][0]
    assert addr["nodeName"] == "n1"
    assert addr["targetRef"]["kind"] == "Pod" and addr["targetRef"]["name"] == "a"
    assert addr["targetRef"]["uid"]

    # b becomes ready: moves to addresses
    await set_status(api, ns, "b", ip="10.44.0.3", ready=True)
    await endpoints_become(api, ns, "web", [
        (["10.44.0.2", "10.44.0.3"], [], [("http", 8080)]),
        (["10.44.0.2", "10.44.0.3", "10.44.0.4"], [], [("metrics", 9100)]),
    ], "pod that became ready not moved to addresses")

    # a is being deleted (its node agent has not confirmed yet): out of addresses at once
    r = await api.delete(f"/api/v1/namespaces/{ns}/pods/a")
    assert r.status_code in (200, 202), r.text
    assert r.json()["metadata"].get("deletionTimestamp"), "bound pod should be deleted gracefully"
    ep = await endpoints_become(api, ns, "web", [
        (["10.44.0.3"], [], [("http", 8080)]),
        (["10.44.0.3", "10.44.0.4"], [], [("metrics", 9100)]),
    ], "terminating pod still listed")

    # a change that does not matter to the endpoints writes nothing
    rv = ep["metadata"]["resourceVersion"]
    pod = await get(api, f"/api/v1/namespaces/{ns}/pods/c")
    assert pod is not None
    pod["metadata"]["annotations"] = {"note": "irrelevant"}
    r = await api.put(f"/api/v1/namespaces/{ns}/pods/c", json=pod)
    assert r.status_code == 200, r.text
    await eventually(lambda: controller.pods.get(ns, "c").metadata.annotations, timeout=5,
                     message="pod change not seen")
    await eventually(lambda: len(controller.queue) == 0 and not controller.queue.is_processing(f"{ns}/web"),
                     timeout=5, message="controller busy")
    again = await get(api, f"/api/v1/namespaces/{ns}/endpoints/web")
    assert again is not None and again["metadata"]["resourceVersion"] == rv, "endpoints rewritten for nothing"

    # every change went out on NATS for the proxies
    await eventually(lambda: len(changes) >= 3, timeout=5, message="endpoints changes not published")
    assert changes[-1]["object"]["subsets"] == ep["subsets"]
    await sub.unsubscribe()

    # deleting the service deletes its endpoints
    r = await api.delete(f"/api/v1/namespaces/{ns}/services/web")
    assert r.status_code == 200, r.text
    await eventually(lambda: gone(api, f"/api/v1/namespaces/{ns}/endpoints/web"), timeout=10,
                     message="endpoints of a deleted service not deleted")


async def test_publish_not_ready_addresses(
    api: httpx.AsyncClient, namespace: str, controller: EndpointsController,
) -> None:
    ns = namespace
    await create(api, f"/api/v1/namespaces/{ns}/services", {
        "metadata": {"name": "peers"},
        "spec": {"clusterIP": "None", "publishNotReadyAddresses": True, "selector": LABELS,
                 "ports": [{"name": "p", "port": 7000}]}})
    await make_pod(api, ns, "x", "10.45.0.2", ready=False)
    await make_pod(api, ns, "y", "10.45.0.3", ready=True)
    ep = await endpoints_become(api, ns, "peers", [(["10.45.0.2", "10.45.0.3"], [], [("p", 7000)])],
                                "publishNotReadyAddresses not honoured")
    assert ep["metadata"]["labels"] == {"service.kubernetes.io/headless": ""}


async def test_endpoints_of_services_without_selector_are_left_alone(
    api: httpx.AsyncClient, namespace: str, controller: EndpointsController,
) -> None:
    ns = namespace
    await create(api, f"/api/v1/namespaces/{ns}/services", {
        "metadata": {"name": "external"}, "spec": {"ports": [{"port": 5432}]}})
    manual = [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 5432, "protocol": "TCP"}]}]
    await create(api, f"/api/v1/namespaces/{ns}/endpoints", {"metadata": {"name": "external"}, "subsets": manual})
    await make_pod(api, ns, "z", "10.46.0.2", ready=True)
    await eventually(lambda: controller.endpoints.get(ns, "external") is not None, timeout=5,
                     message="endpoints not seen by the controller")
    await eventually(lambda: controller.pods.get(ns, "z") is not None, timeout=5, message="pod not seen")
    await eventually(lambda: len(controller.queue) == 0, timeout=5, message="controller busy")
    ep = await get(api, f"/api/v1/namespaces/{ns}/endpoints/external")
    assert ep is not None and summary(ep) == [(["192.0.2.10"], [], [("", 5432)])]
