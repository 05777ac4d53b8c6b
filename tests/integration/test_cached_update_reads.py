"""Pod and Lease updates and deletes start from a cached copy (Registry.read_for_update), on a
real etcd.

The copy may be behind etcd. Only a successful compare-and-swap is trusted; a conflict, an
error or a no-op found on a stale copy is decided again on etcd's. Each test hands the registry
a copy that is stale in one such way (the cache itself is tested in test_pod_cache.py)."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest

from kubelite import codec
from kubelite.api.coordination_v1 import LEASES, Lease
from kubelite.api.core_v1 import PODS, Pod
from kubelite.errors import APIError
from kubelite.storage import KV
from kubelite_apiserver import dispatch
from kubelite_apiserver.events import Publisher
from kubelite_apiserver.podcache import PodCache
from kubelite_apiserver.registry import Registry
from kubelite_apiserver.updatecopies import UpdateCopies


class CopyCache:
    """Answers read_for_update with a fixed copy (a cache that has fallen behind)."""

    def __init__(self, kv: KV | None) -> None:
        self.kv = kv

    def current(self, key: str, namespace: str, name: str) -> KV | None:
        return self.kv if self.kv is not None and self.kv.key == key else None

    async def list(self, *args: Any) -> None:
        return None

    def written(self, *args: Any) -> None:
        """What the registry wrote: not kept (these tests hand the copy in themselves)."""


class CountingStore:
    """The real store, counting reads of single keys."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.gets = 0

    async def get(self, key: str) -> KV | None:
        self.gets += 1
        return await self._store.get(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _pod(name: str, **status: Any) -> Pod:
    return codec.convert({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "uid": uuid.uuid4().hex},
                          "spec": {"containers": [{"name": "c", "image": "busybox"}]},
                          "status": status or {"phase": "Pending"}}, Pod)  # fmt: skip


def _bound_pod(name: str) -> Pod:
    """A pod on a node: Kubernetes deletes it gracefully (an unscheduled one at once)."""
    pod = _pod(name)
    pod.spec.nodeName = "n1"
    return pod


async def _put(store: Any, ns: str, pod: Pod, rev: int = 0) -> KV:
    """Write `pod` as the apiserver stores it; its KV as read back."""
    pod.metadata.namespace, pod.metadata.resourceVersion = ns, None
    key = PODS.key(ns, pod.metadata.name)
    if rev:
        await store.update(key, codec.encode(pod), expected_revision=rev)
    else:
        await store.create(key, codec.encode(pod))
    kv = await store.get(key)
    assert kv is not None
    return kv


@pytest.fixture
async def reg(store: Any, nats_client: Any) -> tuple[Registry, CountingStore, str]:
    counting = CountingStore(store)
    return Registry(counting, Publisher(nats_client)), counting, f"cached-{uuid.uuid4().hex[:8]}"


def _stored(kv: KV) -> Pod:
    return msgspec.json.decode(kv.value, type=Pod)


async def test_a_current_copy_saves_the_read_from_etcd(reg: tuple[Registry, CountingStore, str]) -> None:
    registry, store, ns = reg
    kv = await _put(store, ns, _pod("p"))
    registry.caches[PODS.group_resource] = CopyCache(kv)
    store.gets = 0
    new = _pod("p", phase="Running")
    updated, _ = await registry.update(PODS, ns, "p", new, subresource="status")
    assert store.gets == 0, "a pod update with a current cached copy still read etcd"
    assert updated.status.phase == "Running" and int(updated.metadata.resourceVersion) > kv.mod_revision


async def test_an_update_from_a_stale_copy_keeps_the_newer_write(reg: tuple[Registry, CountingStore, str]) -> None:
    registry, store, ns = reg
    stale = await _put(store, ns, _pod("p"))
    newer = _pod("p")
    newer.metadata.labels = {"written": "meanwhile"}
    await _put(store, ns, newer, stale.mod_revision)
    registry.caches[PODS.group_resource] = CopyCache(stale)
    updated, _ = await registry.update(PODS, ns, "p", _pod("p", phase="Running"), subresource="status")
    now = _stored(await store.get(PODS.key(ns, "p")))
    assert (now.metadata.labels, now.status.phase) == ({"written": "meanwhile"}, "Running")
    assert updated.metadata.labels == {"written": "meanwhile"}


async def test_a_no_op_against_a_stale_copy_is_decided_on_etcds(reg: tuple[Registry, CountingStore, str]) -> None:
    registry, store, ns = reg
    first = await _put(store, ns, _pod("p"))
    running = await _put(store, ns, _pod("p", phase="Running"), first.mod_revision)
    await _put(store, ns, _pod("p", phase="Pending"), running.mod_revision)  # the cache missed this
    registry.caches[PODS.group_resource] = CopyCache(running)
    await registry.update(PODS, ns, "p", _pod("p", phase="Running"), subresource="status")
    assert _stored(await store.get(PODS.key(ns, "p"))).status.phase == "Running", "the update was taken for a no-op"


async def test_a_precondition_newer_than_the_copy_is_no_conflict(reg: tuple[Registry, CountingStore, str]) -> None:
    registry, store, ns = reg
    stale = await _put(store, ns, _pod("p"))
    current = await _put(store, ns, _pod("p", phase="Running"), stale.mod_revision)
    registry.caches[PODS.group_resource] = CopyCache(stale)
    new = _pod("p", phase="Succeeded")
    new.metadata.resourceVersion = str(current.mod_revision)  # the client saw etcd's version
    updated, _ = await registry.update(PODS, ns, "p", new, subresource="status")
    assert updated.status.phase == "Succeeded"
    new.metadata.resourceVersion = str(stale.mod_revision)  # an old version is still a conflict
    with pytest.raises(APIError) as err:
        await registry.update(PODS, ns, "p", new, subresource="status")
    assert err.value.code == 409


async def test_binding_a_pod_whose_namesake_the_copy_shows_bound(reg: tuple[Registry, CountingStore, str]) -> None:
    registry, store, ns = reg
    old = _pod("p")
    old.spec.nodeName = "n1"
    bound = await _put(store, ns, old)
    await store.delete(bound.key)
    await _put(store, ns, _pod("p"))  # deleted and made again; the cache has not seen it yet
    registry.caches[PODS.group_resource] = CopyCache(bound)
    body = codec.encode({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
                         "target": {"kind": "Node", "name": "n2"}})  # fmt: skip
    code, _ = await dispatch.bind_pod(registry, PODS, ns, "p", body, "application/json")
    assert code == 201
    assert _stored(await store.get(PODS.key(ns, "p"))).spec.nodeName == "n2"


async def test_a_pods_two_deletes_read_nothing_from_etcd_with_a_current_copy(
        reg: tuple[Registry, CountingStore, str]) -> None:
    """The user's graceful delete marks the pod, the node agent's grace-0 delete removes it:
    both start from the copy (which a real cache would follow between them)."""
    registry, store, ns = reg
    kv = await _put(store, ns, _bound_pod("p"))
    cache = CopyCache(kv)
    registry.caches[PODS.group_resource] = cache
    store.gets = 0
    marked = await registry.delete(PODS, ns, "p", grace=30)
    assert marked.metadata.deletionTimestamp and marked.metadata.deletionGracePeriodSeconds == 30
    cache.kv = await store.get(PODS.key(ns, "p"))  # what the cache's watch would bring
    assert cache.kv is not None and _stored(cache.kv).metadata.deletionTimestamp
    store.gets = 0
    await registry.delete(PODS, ns, "p", grace=0)
    assert store.gets == 0, "a delete with a current cached copy still read etcd"
    assert await store.get(PODS.key(ns, "p")) is None


async def test_a_delete_from_a_stale_copy_is_decided_on_etcds(reg: tuple[Registry, CountingStore, str]) -> None:
    """Every way a stale copy could mislead a delete: the swap fails and etcd's copy decides."""
    registry, store, ns = reg
    stale = await _put(store, ns, _bound_pod("p"))
    newer = _bound_pod("p")
    newer.metadata.uid = _stored(stale).metadata.uid
    newer.metadata.labels = {"written": "meanwhile"}
    current = await _put(store, ns, newer, stale.mod_revision)
    registry.caches[PODS.group_resource] = CopyCache(stale)
    # a precondition on etcd's resourceVersion holds, though the copy is older
    marked = await registry.delete(PODS, ns, "p", grace=30,
                                   preconditions={"resourceVersion": str(current.mod_revision)})
    assert marked.metadata.labels == {"written": "meanwhile"} and marked.metadata.deletionTimestamp
    # the copy shows the pod not yet being deleted; etcd's is: a second graceful delete writes nothing
    before = await store.get(PODS.key(ns, "p"))
    again = await registry.delete(PODS, ns, "p", grace=30)
    assert again.metadata.resourceVersion == str(before.mod_revision)
    assert (await store.get(PODS.key(ns, "p"))).mod_revision == before.mod_revision
    # the copy shows the pod, etcd has a namesake with another uid: the uid precondition fails on etcd's
    await store.delete(PODS.key(ns, "p"))
    namesake = await _put(store, ns, _bound_pod("p"))
    with pytest.raises(APIError) as err:
        await registry.delete(PODS, ns, "p", preconditions={"uid": _stored(stale).metadata.uid})
    assert err.value.code == 409 and "Precondition failed" in err.value.message
    assert await store.get(PODS.key(ns, "p")) is not None
    # and a uid precondition naming etcd's pod holds, though the copy shows another
    await registry.delete(PODS, ns, "p", grace=0, preconditions={"uid": _stored(namesake).metadata.uid})
    assert await store.get(PODS.key(ns, "p")) is None
    # gone from etcd, still in the copy: 404
    with pytest.raises(APIError) as err:
        await registry.delete(PODS, ns, "p", grace=0)
    assert err.value.code == 404


async def test_this_apiservers_own_writes_are_the_starting_point_while_the_watch_is_behind(
        reg: tuple[Registry, CountingStore, str]) -> None:
    """The real pod cache with its watch stopped (a watch running behind the writes): a pod
    bound and then updated by this apiserver reads etcd once, for the binding; the status
    update starts from the binding it noted (ownwrites.py). A write by someone else meanwhile
    makes that swap fail, and etcd's copy decides."""
    registry, store, ns = reg
    cache = PodCache(store)
    cache.start()
    await cache.informer.wait_synced(timeout=10)
    await cache.stop()  # it still answers, as it last was: it misses everything below
    registry.caches[PODS.group_resource] = cache
    await _put(store, ns, _pod("p"))  # written without the registry: neither copy nor note has it
    store.gets = 0
    body = codec.encode({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
                         "target": {"kind": "Node", "name": "n2"}})  # fmt: skip
    assert (await dispatch.bind_pod(registry, PODS, ns, "p", body, "application/json"))[0] == 201
    assert store.gets == 1, "the binding should have read the pod the cache lacks"
    running, _ = await registry.update(PODS, ns, "p", _pod("p", phase="Running"), subresource="status")
    assert store.gets == 1, "the status update read etcd though this apiserver had just written the pod"
    assert running.spec.nodeName == "n2" and running.status.phase == "Running"
    assert cache.latest(ns, "p").metadata.resourceVersion == running.metadata.resourceVersion
    # someone else's write: the noted copy is one behind now
    other = _stored(await store.get(PODS.key(ns, "p")))
    other.metadata.labels = {"written": "elsewhere"}
    await _put(store, ns, other, int(running.metadata.resourceVersion))
    store.gets = 0
    done, _ = await registry.update(PODS, ns, "p", _pod("p", phase="Succeeded"), subresource="status")
    assert store.gets == 1 and done.metadata.labels == {"written": "elsewhere"}
    assert _stored(await store.get(PODS.key(ns, "p"))).status.phase == "Succeeded"
    # a delete by this apiserver is noted too: the copy's pod is gone for the updates that follow
    await registry.delete(PODS, ns, "p", grace=0)
    assert cache.latest(ns, "p") is None and cache.current(PODS.key(ns, "p"), ns, "p") is None
    with pytest.raises(APIError) as err:
        await registry.update(PODS, ns, "p", _pod("p", phase="Running"), subresource="status")
    assert err.value.code == 404


async def test_lease_renewals_start_from_the_watched_copy(reg: tuple[Registry, CountingStore, str]) -> None:
    """UpdateCopies (what the apiserver keeps for Leases, renewed by every node every 10 s) on
    a real etcd watch: a renewal with the current resourceVersion reads nothing from etcd."""
    registry, store, ns = reg
    lease = codec.convert({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                           "metadata": {"name": "n7", "namespace": ns},
                           "spec": {"holderIdentity": "n7", "leaseDurationSeconds": 40}}, Lease)  # fmt: skip
    await store.create(LEASES.key(ns, "n7"), codec.encode(lease))
    kv = await store.get(LEASES.key(ns, "n7"))
    assert kv is not None
    created = registry.decode(LEASES, kv)
    copies = UpdateCopies(store, LEASES)
    registry.caches[LEASES.group_resource] = copies
    copies.start()
    try:
        await copies.informer.wait_synced(timeout=10)
        assert await copies.informer.wait_fresh(10), "the lease copies never caught up with etcd"
        for renewal in range(3):
            store.gets = 0
            created.spec.renewTime = f"2026-12-05T07:00:0{renewal}.000000Z"
            updated, _ = await registry.update(LEASES, ns, "n7", created)
            assert store.gets == 0, f"renewal {renewal} read etcd though the copy was current"
            assert updated.spec.renewTime == created.spec.renewTime
            assert await copies.informer.wait_fresh(10), "the copies never saw the renewal"
            created = updated
        stale = msgspec.structs.replace(created, metadata=msgspec.structs.replace(
            created.metadata, resourceVersion=str(int(created.metadata.resourceVersion) - 1)))
        with pytest.raises(APIError) as err:  # an old resourceVersion is still a conflict
            await registry.update(LEASES, ns, "n7", stale)
        assert err.value.code == 409
    finally:
        await copies.stop()
