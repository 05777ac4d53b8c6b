"""The garbage collector in-process against the session's etcd, NATS and apiserver:
background, foreground and orphan deletion, dangling references, multi-level cascades."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from kubelite.bus.connection import connect_nats
from kubelite.client.nats import NatsAPIClient
from kubelite.storage.etcd import EtcdStore
from kubelite_controller_manager import app
from kubelite_controller_manager.garbagecollector.controller import GarbageCollector
from kubelite_controller_manager.garbagecollector.controller import new_controller as new_gc
from tests.conftest import eventually

pytestmark = pytest.mark.timeout(120)


@asynccontextmanager
async def running_controllers(etcd_url: str, nats_url: str, creds: Any, etcd_tls: Any,
                              *factories: Callable[[app.ControllerContext], Any]) -> AsyncIterator[list[Any]]:
    """Run controllers in this process as the controller-manager would, until the block ends."""
    store = await EtcdStore.connect(etcd_url, wait_seconds=10, tls=etcd_tls)
    nc = await connect_nats(nats_url, name="controller-test", wait_seconds=10, credentials=creds)
    api = NatsAPIClient(nc, caller=app.IDENTITY)  # authorized as the controller-manager
    informers = app.InformerFactory(store, resync_seconds=30, nc=nc, api=api)
    ctx = app.ControllerContext(options=app.Options(), store=store, nc=nc, api=api, informers=informers,
                                recorder=app.EventRecorder(api, app.COMPONENT),
                                decisions=app.DecisionPublisher(nc))
    controllers = [f(ctx) for f in factories]
    tasks = [asyncio.get_running_loop().create_task(c.run(sync_timeout=30)) for c in controllers]
    try:
        for c in controllers:
            for inf in c.informers:
                await inf.wait_synced(30)
        yield controllers
    finally:
        for c in controllers:
            await c.stop(grace_seconds=2)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await informers.stop()
        with contextlib.suppress(Exception):
            await nc.close()
        await store.close()


@pytest.fixture
async def gc(etcd_url: str, nats_url: str, apiserver: Any, bus_creds: Any,
                     etcd_tls: Any) -> AsyncIterator[GarbageCollector]:
    async with running_controllers(etcd_url, nats_url, bus_creds, etcd_tls, new_gc) as (collector,):
        yield collector


def owner_ref(obj: dict[str, Any], *, block: bool | None = None) -> dict[str, Any]:
    ref = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
           "uid": obj["metadata"]["uid"]}
    if block is not None:
        ref["blockOwnerDeletion"] = block
    return ref


async def create(api: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.post(path, json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def configmap(api: httpx.AsyncClient, ns: str, name: str, owners: list[dict[str, Any]] | None = None,
                    finalizers: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if owners:
        meta["ownerReferences"] = owners
    if finalizers:
        meta["finalizers"] = finalizers
    return await create(api, f"/api/v1/namespaces/{ns}/configmaps", {"metadata": meta, "data": {"k": "v"}})


async def get(api: httpx.AsyncClient, path: str) -> dict[str, Any] | None:
    r = await api.get(path)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return r.json()


async def gone(api: httpx.AsyncClient, path: str) -> bool:
    return await get(api, path) is None


async def delete(api: httpx.AsyncClient, path: str, propagation: str | None = None) -> dict[str, Any]:
    params = {"propagationPolicy": propagation} if propagation else {}
    r = await api.delete(path, params=params)
    assert r.status_code in (200, 202), r.text
    return r.json()


async def test_background_deletion_removes_dependents(
    api: httpx.AsyncClient, namespace: str, gc: GarbageCollector,
) -> None:
    ns = namespace
    owner = await configmap(api, ns, "owner")
    await configmap(api, ns, "dep-cm", [owner_ref(owner)])
    await create(api, f"/api/v1/namespaces/{ns}/secrets",
                 {"metadata": {"name": "dep-secret", "ownerReferences": [owner_ref(owner)]}})
    await configmap(api, ns, "bystander")
    await delete(api, f"/api/v1/namespaces/{ns}/configmaps/owner")
    await eventually(lambda: gone(api, f"/api/v1/namespaces/{ns}/configmaps/dep-cm"), timeout=10,
                     message="configmap dependent not collected")
    await eventually(lambda: gone(api, f"/api/v1/namespaces/{ns}/secrets/dep-secret"), timeout=10,
                     message="secret dependent not collected")
    assert await get(api, f"/api/v1/namespaces/{ns}/configmaps/bystander") is not None


async def test_cascade_goes_down_several_levels(
    api: httpx.AsyncClient, namespace: str, gc: GarbageCollector,
) -> None:
    ns = namespace
    labels = {"app": "cascade"}
    template = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    deploy = await create(api, f"/apis/apps/v1/namespaces/{ns}/deployments", {
        "metadata": {"name": "d"}, "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                                            "template": template}})
    rs = await create(api, f"/apis/apps/v1/namespaces/{ns}/replicasets", {
        "metadata": {"name": "d-rs", "ownerReferences": [owner_ref(deploy, block=True) | {"controller": True}]},
        "spec": {"replicas": 0, "selector": {"matchLabels": labels}, "template": template}})
    await create(api, f"/api/v1/namespaces/{ns}/pods", {
        "metadata": {"name": "d-rs-pod", "labels": labels,
                     "ownerReferences": [owner_ref(rs, block=True) | {"controller": True}]},
        "spec": template["spec"]})
    await delete(api, f"/apis/apps/v1/namespaces/{ns}/deployments/d")
    await eventually(lambda: gone(api, f"/apis/apps/v1/namespaces/{ns}/replicasets/d-rs"), timeout=10,
                     message="replicaset of deleted deployment not collected")
    await eventually(lambda: gone(api, f"/api/v1/namespaces/{ns}/pods/d-rs-pod"), timeout=10,
                     message="pod of collected replicaset not collected")


async def test_foreground_deletion_waits_for_blocking_dependents(
    api: httpx.AsyncClient, namespace: str, gc: GarbageCollector,
) -> None:
    ns = namespace
    owner = await configmap(api, ns, "owner")
    # a dependent that cannot go yet (a finalizer of its own holds it) and blocks its owner
    await configmap(api, ns, "held", [owner_ref(owner, block=True)], finalizers=["example.com/hold"])
    await configmap(api, ns, "free", [owner_ref(owner, block=False)])
    deleted = await delete(api, f"/api/v1/namespaces/{ns}/configmaps/owner", "Foreground")
    assert "foregroundDeletion" in deleted["metadata"]["finalizers"]

    async def held_deleting() -> bool:
        held = await get(api, f"/api/v1/namespaces/{ns}/configmaps/held")
        return held is not None and bool(held["metadata"].get("deletionTimestamp"))

    await eventually(held_deleting, timeout=10, message="blocking dependent not deleted")
    await eventually(lambda: gone(api, f"/api/v1/namespaces/{ns}/configmaps/free"), timeout=10,
                     message="non-blocking dependent not deleted")
    owner_now = await get(api, f"/api/v1/namespaces/{ns}/configmaps/owner")
    assert owner_now is not None, "owner went before its blocking dependent"
    assert owner_now["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in owner_now["metadata"]["finalizers"]

    # release the held dependent: it goes, then the owner
    held = await get(api, f"/api/v1/namespaces/{ns}/configmaps/held")
    assert held is not None
    held["metadata"]["finalizers"] = []
    r = await api.put(f"/api/v1/namespaces/{ns}/configmaps/held", json=held)
    assert r.status_code == 200, r.text
    await eventually(lambda: gone(api, f"/api/v1/namespaces/{ns}/configmaps/held"), timeout=10,
                     message="released dependent not gone")
    await eventually(lambda: gone(api, f"/api/v1/namespaces/{ns}/configmaps/owner"), timeout=10,
                     message="owner not removed after its dependents")


async def test_orphan_deletion_keeps_dependents_without_the_reference(
    api: httpx.AsyncClient, namespace: str, gc: GarbageCollector,
) -> None:
    ns = namespace
    owner = await configmap(api, ns, "owner")
    other = await configmap(api, ns, "other-owner")
    await configmap(api, ns, "dep", [owner_ref(owner, block=True), owner_ref(other)])
    await configmap(api, ns, "only-child", [owner_ref(owner)])
    deleted = await delete(api, f"/api/v1/namespaces/{ns}/configmaps/owner", "Orphan")
    assert "orphan" in deleted["metadata"]["finalizers"]
    await eventually(lambda: gone(api, f"/api/v1/namespaces/{ns}/configmaps/owner"), timeout=10,
                     message="orphaning owner not removed")
    dep = await get(api, f"/api/v1/namespaces/{ns}/configmaps/dep")
    assert dep is not None, "orphaned dependent was deleted"
    assert [r["uid"] for r in dep["metadata"]["ownerReferences"]] == [other["metadata"]["uid"]]
    child = await get(api, f"/api/v1/namespaces/{ns}/configmaps/only-child")
    assert child is not None, "orphaned dependent was deleted"
    assert not child["metadata"].get("ownerReferences")
    # and it stays: nothing dangles any more
    await eventually(lambda: gc.queue.pending_delayed() == 0 and len(gc.queue) == 0, timeout=5,
                     message="collector still busy")
    assert await get(api, f"/api/v1/namespaces/{ns}/configmaps/only-child") is not None


async def test_dangling_reference_is_collected_but_a_fresh_owner_is_not_mistaken_for_one(
    api: httpx.AsyncClient, namespace: str, gc: GarbageCollector,
) -> None:
    ns = namespace
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "00000000-dead-beef-0000-000000000000"}
    await configmap(api, ns, "dangling", [ghost])
    # an owner the collector's cache has not seen yet (its informer is held back here) must be
    # looked up, not taken for absent
    secrets_informer = gc.resources["secrets"][1]
    await secrets_informer.stop()
    try:
        for i in range(5):
            owner = await create(api, f"/api/v1/namespaces/{ns}/secrets", {"metadata": {"name": f"fresh-{i}"}})
            await configmap(api, ns, f"fresh-dep-{i}", [owner_ref(owner)])
        for i in range(5):
            await eventually(lambda i=i: gc.resources["configmaps"][1].get(ns, f"fresh-dep-{i}"), timeout=5,
                             message="dependent not seen by the collector")
        await eventually(lambda: len(gc.queue) == 0 and not any(
            gc.queue.is_processing(("configmaps", ns, f"fresh-dep-{i}")) for i in range(5)),
            timeout=5, message="collector did not look at the dependents")
        assert secrets_informer.get(ns, "fresh-0") is None  # really not cached
    finally:
        secrets_informer.start()
    await eventually(lambda: gone(api, f"/api/v1/namespaces/{ns}/configmaps/dangling"), timeout=10,
                     message="dependent with a dangling owner reference not collected")
    # a reference to a name whose uid differs (owner re-created) dangles too
    old = await configmap(api, ns, "reborn")
    await configmap(api, ns, "reborn-dep", [owner_ref(old)])
    await delete(api, f"/api/v1/namespaces/{ns}/configmaps/reborn")
    await configmap(api, ns, "reborn")
    await eventually(lambda: gone(api, f"/api/v1/namespaces/{ns}/configmaps/reborn-dep"), timeout=10,
                     message="dependent of a re-created owner not collected")
    for i in range(5):
        assert await get(api, f"/api/v1/namespaces/{ns}/configmaps/fresh-dep-{i}") is not None, \
            "dependent of a living owner collected"
