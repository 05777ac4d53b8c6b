"""Group commit of compare-and-swap updates (storage/batching.py) on a real etcd: updates that
arrive together are one transaction (they share its revision), each caller still hears its own
outcome, and a lost race, a deleted key or a repeated key in a batch costs only that update.
Then through the registry: Lease renewals of many nodes reach etcd together. The same for
creates (Events): one transaction, an existing key costs only its own create (409). In the
in-flight mode (pods) a lone write goes at once and the writes that arrive meanwhile go together."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import yaml

from kubelite import codec
from kubelite.api.coordination_v1 import Lease
from kubelite.api.core_v1 import EVENTS
from kubelite.api.scheme import by_plural
from kubelite.errors import APIError
from kubelite.storage import KeyExists, KeyNotFound, RevisionMismatch
from kubelite.storage.batching import Create, CreateBatcher, Update, UpdateBatcher
from kubelite.storage.encryption import AESGCM_PREFIX, EncryptedStore, new_config, parse_config
from kubelite_apiserver.events import Publisher
from kubelite_apiserver.registry import COALESCED_CREATES, COALESCED_UPDATES, Registry
from tests.conftest import eventually
from tests.etcd_support import lease_of as _lease_of


class CountingSend:
    """EtcdStore.update_many, counting the batches it is handed."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.batches: list[int] = []

    async def __call__(self, updates: list[Update]) -> list[Any]:
        self.batches.append(len(updates))
        return await self.store.update_many(updates)


async def _keys(store: Any, n: int) -> dict[str, int]:
    prefix = f"/batching/{uuid.uuid4().hex[:8]}"
    return {f"{prefix}/{i}": await store.create(f"{prefix}/{i}", b"v0") for i in range(n)}


async def test_updates_waiting_together_are_one_transaction(store: Any) -> None:
    keys = await _keys(store, 30)
    send = CountingSend(store)
    batcher = UpdateBatcher(send, linger=0.05)
    revs = await asyncio.gather(*(batcher.update(Update(k, b"v1", r)) for k, r in keys.items()))
    assert send.batches == [30] and len(set(revs)) == 1, (send.batches, revs)
    for key in keys:
        kv = await store.get(key)
        assert kv is not None and kv.value == b"v1" and kv.mod_revision == revs[0]


class HeldSend(CountingSend):
    """CountingSend whose first batch waits for `release` before it reaches etcd."""

    def __init__(self, store: Any) -> None:
        super().__init__(store)
        self.release = asyncio.Event()

    async def __call__(self, updates: list[Update]) -> list[Any]:
        self.batches.append(len(updates))
        if len(self.batches) == 1:
            await self.release.wait()
        return await self.store.update_many(updates)


async def test_in_flight_mode_sends_a_lone_write_at_once_and_gathers_the_rest(store: Any) -> None:
    keys = await _keys(store, 11)
    (first, first_rev), *rest = keys.items()
    send = HeldSend(store)
    batcher = UpdateBatcher(send, max_in_flight=1)
    lone = asyncio.create_task(batcher.update(Update(first, b"v1", first_rev)))
    await eventually(lambda: send.batches == [1], interval=0.001, message="a lone write is sent at once")
    others = [asyncio.create_task(batcher.update(Update(k, b"v1", r))) for k, r in rest]
    await eventually(lambda: batcher.waiting == 10, interval=0.001,
                     message="writes arriving while a batch is in flight wait for it")
    assert send.batches == [1], send.batches
    send.release.set()
    lone_rev, revs = await lone, await asyncio.gather(*others)
    assert send.batches == [1, 10], send.batches
    assert len(set(revs)) == 1 and revs[0] > lone_rev, (lone_rev, revs)
    with pytest.raises(ValueError):
        UpdateBatcher(send, linger=0.01, max_in_flight=1)  # one way of gathering, not two


async def test_a_lost_race_or_a_deleted_key_costs_only_that_update(store: Any) -> None:
    keys = await _keys(store, 5)
    stale, gone, *fine = keys
    newer = await store.update(stale, b"someone else", expected_revision=keys[stale])
    await store.delete(gone)
    send = CountingSend(store)
    batcher = UpdateBatcher(send, linger=0.05)
    results = await asyncio.gather(*(batcher.update(Update(k, b"v1", r)) for k, r in keys.items()),
                                   return_exceptions=True)
    lost, missing, *written = results
    assert isinstance(lost, RevisionMismatch) and lost.current is not None, lost
    assert lost.current.mod_revision == newer and lost.current.value == b"someone else"
    assert isinstance(missing, KeyNotFound), missing
    assert len(set(written)) == 1 and all(isinstance(r, int) for r in written), written
    # one batch, sent twice: the first transaction wrote nothing, the second the three left
    assert send.batches == [5]
    for key in fine:
        kv = await store.get(key)
        assert kv is not None and kv.value == b"v1"
    kv = await store.get(stale)
    assert kv is not None and kv.value == b"someone else"


async def test_a_key_updated_twice_goes_in_two_transactions(store: Any) -> None:
    keys = await _keys(store, 1)
    (key, rev), = keys.items()
    send = CountingSend(store)
    batcher = UpdateBatcher(send, linger=0.05)
    first, second = await asyncio.gather(batcher.update(Update(key, b"a", rev)), batcher.update(Update(key, b"b", rev)),
                                         return_exceptions=True)
    assert send.batches == [1, 1], send.batches
    assert isinstance(first, int) and isinstance(second, RevisionMismatch), (first, second)


async def test_full_batches_go_at_once_and_a_cancelled_caller_writes_nothing(store: Any) -> None:
    keys = await _keys(store, 7)
    send = CountingSend(store)
    batcher = UpdateBatcher(send, linger=30, max_batch=3)  # the timer never fires in this test
    items = list(keys.items())
    written = await asyncio.gather(*(batcher.update(Update(k, b"v1", r)) for k, r in items[:6]))
    assert send.batches == [3, 3] and len(set(written)) == 2, (send.batches, written)
    (key, rev) = items[6]
    waiting = asyncio.create_task(batcher.update(Update(key, b"never", rev)))
    await asyncio.sleep(0)  # it joins the batch
    waiting.cancel()
    batcher.flush()
    await asyncio.sleep(0.1)
    assert send.batches == [3, 3], send.batches  # nothing left to send
    kv = await store.get(key)
    assert kv is not None and kv.value == b"v0"


async def test_an_encrypted_resource_is_encrypted_in_a_batch_too(store: Any) -> None:
    doc = new_config()
    doc["resources"][0]["resources"] = ["leases"]
    encrypted = EncryptedStore(store, parse_config(yaml.safe_dump(doc)))
    key = f"/registry/leases/batching/{uuid.uuid4().hex[:8]}"
    rev = await encrypted.create(key, b"plain")
    stale = await encrypted.create(key + "-2", b"plain")
    await encrypted.update(key + "-2", b"newer", expected_revision=stale)
    batcher = UpdateBatcher(encrypted.update_many, linger=0.01)
    written, lost = await asyncio.gather(batcher.update(Update(key, b"renewed", rev)),
                                         batcher.update(Update(key + "-2", b"lost", stale)), return_exceptions=True)
    assert isinstance(written, int) and isinstance(lost, RevisionMismatch), (written, lost)
    assert lost.current is not None and lost.current.value == b"newer"  # decrypted for the caller
    raw = await store.get(key)
    assert raw is not None and raw.value.startswith(AESGCM_PREFIX) and b"renewed" not in raw.value
    kv = await encrypted.get(key)
    assert kv is not None and kv.value == b"renewed"


def _lease(node: str, ns: str) -> Lease:
    return codec.convert({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                          "metadata": {"name": node, "namespace": ns},
                          "spec": {"holderIdentity": node, "leaseDurationSeconds": 40}}, Lease)


async def test_lease_renewals_of_many_nodes_reach_etcd_together(store: Any, nats_client: Any) -> None:
    assert COALESCED_UPDATES["leases.coordination.k8s.io"]["linger"] > 0
    reg = Registry(store, Publisher(nats_client))
    info = by_plural("coordination.k8s.io", "leases")
    assert info is not None
    ns = f"leases-{uuid.uuid4().hex[:6]}"
    namespaces = by_plural("", "namespaces")
    assert namespaces is not None
    await reg.create(namespaces, "", codec.convert({"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": ns}}, namespaces.type))
    made = [await reg.create(info, ns, _lease(f"node-{i}", ns)) for i in range(40)]
    first_version = made[0].metadata.resourceVersion

    async def renew(lease: Lease) -> Lease:
        lease.spec.renewTime = "2026-12-04T10:00:00.000000Z"
        new, _ = await reg.update(info, ns, lease.metadata.name, lease)
        return new

    renewed = await asyncio.gather(*(renew(lease) for lease in made))
    versions = {lease.metadata.resourceVersion for lease in renewed}
    assert len(versions) == 1, f"40 renewals at once took {len(versions)} etcd transactions"
    for lease in renewed:
        stored = await reg.get(info, ns, lease.metadata.name)
        assert stored.spec.renewTime == "2026-12-04T10:00:00.000000Z"
        assert stored.metadata.resourceVersion == lease.metadata.resourceVersion
    # a stale renewal is still a 409, alone
    stale = _lease("node-0", ns)
    stale.metadata.resourceVersion = first_version
    stale.spec.renewTime = "2026-12-04T10:00:10.000000Z"
    with pytest.raises(APIError) as caught:
        await reg.update(info, ns, stale.metadata.name, stale)
    assert caught.value.code == 409, caught.value


async def test_creates_together_are_one_transaction_and_an_existing_key_costs_only_its_own(store: Any) -> None:
    prefix = f"/batching/{uuid.uuid4().hex[:8]}"
    taken = await store.create(f"{prefix}/taken", b"first")
    lease = await store.lease_grant(60)
    batcher = CreateBatcher(store.create_many, linger=0.05)
    results = await asyncio.gather(batcher.create(Create(f"{prefix}/taken", b"second", lease)),
                                   *(batcher.create(Create(f"{prefix}/{i}", b"new", lease)) for i in range(20)),
                                   return_exceptions=True)
    exists, *written = results
    assert isinstance(exists, KeyExists), exists
    assert len(set(written)) == 1 and all(isinstance(r, int) for r in written), written
    kv = await store.get(f"{prefix}/taken")
    assert kv is not None and kv.value == b"first" and kv.mod_revision == taken
    for i in range(20):
        kv = await store.get(f"{prefix}/{i}")
        assert kv is not None and kv.value == b"new" and kv.mod_revision == written[0]
        assert await _lease_of(store, f"{prefix}/{i}") == lease  # etcd deletes them with it
    await store.lease_revoke(lease)


def _event(name: str, ns: str) -> Any:
    return codec.convert({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": ns},
                          "involvedObject": {"kind": "Pod", "namespace": ns, "name": name},
                          "reason": "Scheduled", "message": "assigned", "type": "Normal"}, EVENTS.type)


async def test_events_created_together_reach_etcd_together(store: Any, nats_client: Any) -> None:
    assert COALESCED_CREATES["events"]["linger"] > 0
    reg = Registry(store, Publisher(nats_client), ttls={"events": 3600})
    info, namespaces = EVENTS, by_plural("", "namespaces")
    assert namespaces is not None
    ns = f"events-{uuid.uuid4().hex[:6]}"
    await reg.create(namespaces, "", codec.convert({"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": ns}}, namespaces.type))
    made = await asyncio.gather(*(reg.create(info, ns, _event(f"pod-{i}.1", ns)) for i in range(30)))
    versions = {event.metadata.resourceVersion for event in made}
    assert len(versions) == 1, f"30 Events at once took {len(versions)} etcd transactions"
    assert await _lease_of(store, info.key(ns, "pod-0.1")), "an Event keeps its --event-ttl lease in a batch"
    # a name taken, in a batch with a new one: 409 for that create alone, the other is written
    taken, fresh = await asyncio.gather(reg.create(info, ns, _event("pod-0.1", ns)),
                                        reg.create(info, ns, _event("pod-30.1", ns)), return_exceptions=True)
    assert isinstance(taken, APIError) and taken.code == 409, taken
    assert not isinstance(fresh, BaseException), fresh
    assert (await reg.get(info, ns, "pod-30.1")).metadata.resourceVersion == fresh.metadata.resourceVersion


async def test_pods_created_at_once_share_transactions(store: Any, nats_client: Any) -> None:
    assert COALESCED_CREATES["pods"]["max_in_flight"] > 0
    reg = Registry(store, Publisher(nats_client))
    pods, namespaces = by_plural("", "pods"), by_plural("", "namespaces")
    assert pods is not None and namespaces is not None
    ns = f"pods-{uuid.uuid4().hex[:6]}"
    await reg.create(namespaces, "", codec.convert({"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": ns}}, namespaces.type))
    await reg.create(by_plural("", "serviceaccounts"), ns, codec.convert(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}},
        by_plural("", "serviceaccounts").type))
    made = await asyncio.gather(*(reg.create(pods, ns, _pod(f"p{i}", ns)) for i in range(20)))
    versions = {pod.metadata.resourceVersion for pod in made}
    assert len(versions) < 20, "20 pods created at once went to etcd one transaction each"
    for pod in made:
        stored = await store.get(pods.key(ns, pod.metadata.name))
        assert stored is not None and str(stored.mod_revision) == pod.metadata.resourceVersion


def _pod(name: str, ns: str) -> Any:
    return codec.convert({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
                          "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, by_plural("", "pods").type)
