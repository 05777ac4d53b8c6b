"""EventRecorder against the real apiserver: Event shape, aggregation, never raising."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from kubelite import codec
from kubelite.api.core_v1 import ConfigMap, Node
from kubelite.api.meta import ObjectMeta
from kubelite.bus.identity import BusIdentity
from kubelite.client.nats import NatsAPIClient
from kubelite.reconcile.recorder import DROP_LOG_SECONDS, MAX_PENDING, EventRecorder
from tests.fakeclock import FakeClock


async def events_about(api: httpx.AsyncClient, namespace: str, name: str) -> list[dict]:
    r = await api.get(f"/api/v1/namespaces/{namespace}/events")
    assert r.status_code == 200, r.text
    items = [e for e in r.json()["items"] if e["involvedObject"].get("name") == name]
    return sorted(items, key=lambda e: e["metadata"]["name"])


async def create_cm(api: httpx.AsyncClient, namespace: str, name: str) -> ConfigMap:
    r = await api.post(f"/api/v1/namespaces/{namespace}/configmaps",
                       json={"metadata": {"name": name}, "data": {"a": "b"}})
    assert r.status_code == 201, r.text
    return codec.decode_json(r.content, ConfigMap)


async def test_event_shape_and_aggregation_of_repeats(
    api: httpx.AsyncClient, namespace: str, nats_client: Any
) -> None:
    cm = await create_cm(api, namespace, "target")
    clock = FakeClock()
    rec = EventRecorder(NatsAPIClient(nats_client, caller=BusIdentity("controller-manager")), "test-controller", "host-1", clock=clock)
    for _ in range(3):
        rec.event(cm, "Normal", "Synced", "all good")
        clock.now += 60
    rec.event(cm, "Warning", "Failed", "something broke")
    await asyncio.wait_for(rec.flush(), 10)

    events = await events_about(api, namespace, "target")
    by_reason = {e["reason"]: e for e in events}
    assert sorted(by_reason) == ["Failed", "Synced"], events
    synced = by_reason["Synced"]
    assert synced["count"] == 3, "repeats within 10 minutes aggregate into one Event"
    assert synced["type"] == "Normal" and synced["message"] == "all good"
    assert synced["metadata"]["name"].startswith("target.")
    int(synced["metadata"]["name"].split(".", 1)[1], 16)  # <name>.<hex>
    assert synced["involvedObject"] == {
        "kind": "ConfigMap", "apiVersion": "v1", "namespace": namespace, "name": "target",
        "uid": cm.metadata.uid, "resourceVersion": cm.metadata.resourceVersion,
    }
    assert synced["source"] == {"component": "test-controller", "host": "host-1"}
    assert synced["firstTimestamp"] <= synced["lastTimestamp"]
    assert by_reason["Failed"]["type"] == "Warning" and by_reason["Failed"]["count"] == 1

    # after the 10-minute window the same event starts a new Event
    clock.now += 601
    rec.event(cm, "Normal", "Synced", "all good")
    await asyncio.wait_for(rec.flush(), 10)
    synced_events = [e for e in await events_about(api, namespace, "target") if e["reason"] == "Synced"]
    assert sorted(e["count"] for e in synced_events) == [1, 3]
    await rec.close()


async def test_deleted_event_is_recreated_and_cluster_scoped_objects_go_to_default(
    api: httpx.AsyncClient, namespace: str, nats_client: Any
) -> None:
    cm = await create_cm(api, namespace, "gone")
    rec = EventRecorder(NatsAPIClient(nats_client, caller=BusIdentity("controller-manager")), "test-controller")
    rec.event(cm, "Normal", "Once", "x")
    await asyncio.wait_for(rec.flush(), 10)
    [first] = await events_about(api, namespace, "gone")
    r = await api.delete(f"/api/v1/namespaces/{namespace}/events/{first['metadata']['name']}")
    assert r.status_code == 200, r.text
    rec.event(cm, "Normal", "Once", "x")
    await asyncio.wait_for(rec.flush(), 10)
    [again] = await events_about(api, namespace, "gone")
    assert again["count"] == 1 and again["metadata"]["name"] != first["metadata"]["name"]
    assert rec.dropped == 0

    node = Node(metadata=ObjectMeta(name="node-" + namespace, uid="u-1"))  # no kind set: from scheme
    rec.event(node, "Warning", "NodeNotReady", "kubelet stopped posting status")
    await asyncio.wait_for(rec.flush(), 10)
    [ev] = await events_about(api, "default", "node-" + namespace)
    assert ev["involvedObject"]["kind"] == "Node" and ev["involvedObject"]["apiVersion"] == "v1"
    await api.delete(f"/api/v1/namespaces/default/events/{ev['metadata']['name']}")
    await rec.close()


async def test_errors_are_logged_and_dropped_never_raised(
    api: httpx.AsyncClient, namespace: str, nats_client: Any
) -> None:
    rec = EventRecorder(NatsAPIClient(nats_client, caller=BusIdentity("controller-manager")), "test-controller")
    missing_ns = ConfigMap(metadata=ObjectMeta(name="x", namespace="no-such-ns-" + namespace))
    rec.event(missing_ns, "Normal", "R", "the namespace does not exist")  # the apiserver refuses
    rec.event(missing_ns, "Bogus", "R", "not a valid type")
    await asyncio.wait_for(rec.flush(), 10)
    assert rec.dropped == 2
    cm = await create_cm(api, namespace, "still-works")
    rec.event(cm, "Normal", "R", "after errors")
    await asyncio.wait_for(rec.flush(), 10)
    assert len(await events_about(api, namespace, "still-works")) == 1
    await rec.close()


async def test_aggregation_cache_is_bounded(
    api: httpx.AsyncClient, namespace: str, nats_client: Any
) -> None:
    cm = await create_cm(api, namespace, "many")
    rec = EventRecorder(NatsAPIClient(nats_client, caller=BusIdentity("controller-manager")), "test-controller", max_entries=2)
    for i in range(4):
        rec.event(cm, "Normal", "R", f"message {i}")
    await asyncio.wait_for(rec.flush(), 10)
    assert rec.cached() == 2
    rec.event(cm, "Normal", "R", "message 0")  # evicted: a new Event, not an increment
    await asyncio.wait_for(rec.flush(), 10)
    counts = sorted(e["count"] for e in await events_about(api, namespace, "many"))
    assert counts == [1, 1, 1, 1, 1]
    await rec.close()


async def test_a_burst_of_dropped_events_logs_a_few_lines_not_one_each(
    namespace: str, nats_client: Any, caplog: Any
) -> None:
    """A full queue drops events (client-go's broadcaster does too) but says so about once per
    DROP_LOG_SECONDS, with a count, instead of once per event."""
    now = [1000.0]
    rec = EventRecorder(NatsAPIClient(nats_client, caller=BusIdentity("controller-manager")), "burst",
                        clock=lambda: now[0])
    cm = ConfigMap(metadata=ObjectMeta(name="x", namespace="no-such-ns-" + namespace))  # writes fail fast
    with caplog.at_level("WARNING", logger="kubelite.reconcile.recorder"):
        for i in range(MAX_PENDING + 300):  # no await: the worker cannot drain the queue meanwhile
            rec.event(cm, "Normal", "Burst", f"event {i}")
        now[0] += DROP_LOG_SECONDS
        rec.event(cm, "Normal", "Burst", "one more")
    drops = [r.getMessage() for r in caplog.records if "event queue full" in r.getMessage()]
    assert rec.dropped == 301
    assert len(drops) == 2, drops
    assert drops[1].endswith("(and 299 more since the last report)"), drops[1]
    await asyncio.wait_for(rec.close(), 60)
