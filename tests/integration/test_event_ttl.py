"""Events expire --event-ttl after their last write (kube-apiserver's default: 1h), through etcd
leases shared by the Events written close together (kubelite.storage.leases): on a real etcd,
with a TTL of a few seconds."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from kubelite import codec
from kubelite.api.core_v1 import EVENTS
from kubelite.api.scheme import by_kind
from kubelite.storage.etcd import rpc
from kubelite_apiserver.events import Publisher
from kubelite_apiserver.registry import Registry
from tests.etcd_support import lease_of as _lease_of

TTL = 3  # seconds: above etcd's minimum lease TTL (its election timeout × 1.5, 1.5 s by default)


def _event(ns: str, name: str) -> Any:
    return codec.convert({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": ns},
                          "involvedObject": {"kind": "Pod", "namespace": ns, "name": "web"},
                          "reason": "Started", "message": "Started container c", "type": "Normal",
                          "count": 1}, EVENTS.type)  # fmt: skip


async def _gone(store: Any, key: str, deadline: float) -> float:
    while await _lease_of(store, key) is not None:
        assert time.monotonic() < deadline, f"{key} outlived its TTL"
        await asyncio.sleep(0.1)
    return time.monotonic()


async def test_events_expire_after_the_ttl_and_each_write_renews_it(store: Any, nats_client: Any) -> None:
    reg = Registry(store, Publisher(nats_client), ttls={EVENTS.group_resource: TTL})
    ns = f"ttl-{uuid.uuid4().hex[:8]}"
    namespaces = by_kind("v1", "Namespace")
    await reg.create(namespaces, "", codec.convert({"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": ns}}, namespaces.type))
    started = time.monotonic()
    await reg.create(EVENTS, ns, _event(ns, "a"))
    await reg.create(EVENTS, ns, _event(ns, "b"))
    lease_a, lease_b = await _lease_of(store, EVENTS.key(ns, "a")), await _lease_of(store, EVENTS.key(ns, "b"))
    assert lease_a and lease_b, "an Event was stored without a lease"
    # the window at a TTL of 3 s is 0 s: these two were a lease each; at an hour they share one
    assert reg.leases.reuse_seconds == 60
    # b is written again (an aggregated repeat: count 2): its life starts over
    await asyncio.sleep(1.5)
    b = await reg.get(EVENTS, ns, "b")
    b.count = 2
    await reg.update(EVENTS, ns, "b", b)
    renewed = time.monotonic()
    assert await _lease_of(store, EVENTS.key(ns, "b")) not in (None, 0, lease_b)
    # a non-expiring object in the same namespace keeps no lease
    assert await _lease_of(store, namespaces.key(None, ns)) == 0
    gone_a = await _gone(store, EVENTS.key(ns, "a"), started + TTL + 10)
    assert gone_a - started >= TTL - 0.5, "a was deleted before its TTL"
    assert await _lease_of(store, EVENTS.key(ns, "b")) is not None, "b expired with a though written since"
    gone_b = await _gone(store, EVENTS.key(ns, "b"), renewed + TTL + 10)
    assert gone_b - renewed >= TTL - 0.5


async def test_events_written_together_share_a_lease(store: Any, nats_client: Any) -> None:
    """At a TTL of an hour the reuse window is a minute: one lease grant for a burst of Events."""
    reg = Registry(store, Publisher(nats_client), ttls={EVENTS.group_resource: 3600})
    ns = f"ttl-{uuid.uuid4().hex[:8]}"
    namespaces = by_kind("v1", "Namespace")
    await reg.create(namespaces, "", codec.convert({"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": ns}}, namespaces.type))
    await asyncio.gather(*(reg.create(EVENTS, ns, _event(ns, f"e{i}")) for i in range(20)))
    leases = {await _lease_of(store, EVENTS.key(ns, f"e{i}")) for i in range(20)}
    assert len(leases) == 1 and 0 not in leases, leases
    resp = await store._lease.LeaseTimeToLive(rpc.LeaseTimeToLiveRequest(ID=leases.pop()), timeout=10)
    assert 3600 <= resp.grantedTTL <= 3660 and resp.TTL > 3590, resp
    await store.lease_revoke(int(resp.ID))  # the Events go with it; nothing outlives the test


async def test_a_revoked_shared_lease_costs_no_write(store: Any, nats_client: Any) -> None:
    """etcd no longer has the lease the Events share (revoked here; an etcd restored from an
    older backup would not have it either): the next write gets a new lease instead of failing
    for the rest of the reuse window."""
    reg = Registry(store, Publisher(nats_client), ttls={EVENTS.group_resource: 3600})
    ns = f"ttl-{uuid.uuid4().hex[:8]}"
    namespaces = by_kind("v1", "Namespace")
    await reg.create(namespaces, "", codec.convert({"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": ns}}, namespaces.type))
    await reg.create(EVENTS, ns, _event(ns, "first"))
    shared = await _lease_of(store, EVENTS.key(ns, "first"))
    assert shared
    await store.lease_revoke(shared)  # and "first" with it
    await reg.create(EVENTS, ns, _event(ns, "second"))
    b = await reg.get(EVENTS, ns, "second")
    b.count = 2
    await reg.update(EVENTS, ns, "second", b)
    lease = await _lease_of(store, EVENTS.key(ns, "second"))
    assert lease not in (None, 0, shared), lease
    await store.lease_revoke(lease)
