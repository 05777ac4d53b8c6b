"""Informer against a real etcd: ordered events, re-list after compaction and
after an etcd restart, indexes, resync, handler semantics.

Objects are written straight to etcd (as the apiserver stores them: JSON
without resourceVersion) so these tests need no apiserver. The module uses an
etcd of its own because it compacts history.
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubelite import codec, devservers
from kubelite.api.core_v1 import ConfigMap, Pod, PodSpec
from kubelite.api.meta import ObjectMeta, OwnerReference
from kubelite.api.scheme import ResourceInfo, by_kind
from kubelite.bus import changes
from kubelite.bus.identity import BusIdentity
from kubelite.client.nats import NatsAPIClient
from kubelite.devservers import ServerProcess
from kubelite.reconcile.controller import Controller
from kubelite.reconcile.informer import (
    INDEX_NAMESPACE,
    INDEX_NODE,
    INDEX_OWNER,
    Informer,
    split_key,
)
from kubelite.reconcile.nats_informer import NatsInformer
from kubelite.reconcile.transforms import drop_managed_fields
from kubelite.storage import Unavailable
from kubelite.storage.etcd import EtcdStore
from tests.conftest import eventually

CM = by_kind("v1", "ConfigMap")
POD = by_kind("v1", "Pod")
assert CM is not None and POD is not None


def _start_etcd(base: Path, client_port: int, peer_port: int) -> ServerProcess:
    return devservers.start_etcd(
        base / "data", client_port=client_port, peer_port=peer_port,
        log_path=base / "etcd.log", unsafe_no_fsync=True, die_with_parent=True,
    )


@pytest.fixture(scope="module")
def private_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = _start_etcd(tmp_path_factory.mktemp("informer-etcd"),
                         devservers.free_port(), devservers.free_port())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def etcd(private_etcd: ServerProcess) -> AsyncIterator[EtcdStore]:
    store = await EtcdStore.connect(private_etcd.url, wait_seconds=10)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def ns() -> str:
    return "ns-" + uuid.uuid4().hex[:8]


class Recorder:
    """Collects handler calls as (type, name, resourceVersion) tuples."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.objects: list[tuple[str, Any, Any]] = []

    def attach(self, informer: Informer) -> None:
        informer.add_handler(
            on_add=lambda o: self._record("ADDED", o, None),
            on_update=lambda old, new: self._record("MODIFIED", new, old),
            on_delete=lambda o: self._record("DELETED", o, None),
        )

    def _record(self, kind: str, obj: Any, old: Any) -> None:
        self.events.append((kind, obj.metadata.name, obj.metadata.resourceVersion))
        self.objects.append((kind, obj, old))

    def names(self) -> list[tuple[str, str]]:
        return [(t, n) for t, n, _ in self.events]


def cm(ns: str, name: str, value: str = "v") -> ConfigMap:
    return ConfigMap(
        apiVersion="v1", kind="ConfigMap",
        metadata=ObjectMeta(name=name, namespace=ns, uid=str(uuid.uuid4())),
        data={"k": value},
    )


async def put(store: EtcdStore, info: ResourceInfo, obj: Any) -> int:
    return await store.create(info.key(obj.metadata.namespace, obj.metadata.name), codec.encode(obj))


async def change(store: EtcdStore, info: ResourceInfo, obj: Any) -> int:
    key = info.key(obj.metadata.namespace, obj.metadata.name)
    kv = await store.get(key)
    assert kv is not None
    obj.metadata.uid = codec.decoder_for(info.type).decode(kv.value).metadata.uid  # same object
    return await store.update(key, codec.encode(obj), expected_revision=kv.mod_revision)


async def remove(store: EtcdStore, info: ResourceInfo, ns: str, name: str) -> int:
    rev, _ = await store.delete(info.key(ns, name))
    return rev


@pytest.fixture
async def stopper() -> AsyncIterator[list[Informer]]:
    informers: list[Informer] = []
    yield informers
    for inf in informers:
        await inf.stop()


async def started(informers: list[Informer], inf: Informer) -> Informer:
    informers.append(inf)
    inf.start()
    await inf.wait_synced(10)
    return inf


async def test_lists_then_delivers_every_change_in_revision_order(
    etcd: EtcdStore, ns: str, stopper: list[Informer]
) -> None:
    r_b = await put(etcd, CM, cm(ns, "b"))
    r_a = await put(etcd, CM, cm(ns, "a"))
    await put(etcd, CM, cm("other-" + ns, "elsewhere"))  # another namespace: not ours
    rec = Recorder()
    inf = Informer(etcd, CM, namespace=ns, resync_seconds=0)
    rec.attach(inf)
    await started(stopper, inf)
    assert rec.events == [("ADDED", "a", str(r_a)), ("ADDED", "b", str(r_b))]

    expected = list(rec.events)
    r = await put(etcd, CM, cm(ns, "c", "1"))
    expected.append(("ADDED", "c", str(r)))
    for value in ("2", "3"):
        r = await change(etcd, CM, cm(ns, "c", value))
        expected.append(("MODIFIED", "c", str(r)))
    r = await remove(etcd, CM, ns, "a")
    expected.append(("DELETED", "a", str(r)))
    r = await put(etcd, CM, cm(ns, "a", "again"))
    expected.append(("ADDED", "a", str(r)))

    await eventually(lambda: len(rec.events) >= len(expected), timeout=10,
                     message=f"informer delivered {len(expected)} events")
    assert rec.events == expected
    # MODIFIED carries the previous object as `old`
    modified = [(o, n) for t, n, o in rec.objects if t == "MODIFIED"]
    assert [(old.data["k"], new.data["k"]) for old, new in modified] == [("1", "2"), ("2", "3")]
    # the cache reflects the end state, typed and with resourceVersion
    assert sorted(o.metadata.name for o in inf.list()) == ["a", "b", "c"]
    c = inf.get(ns, "c")
    assert isinstance(c, ConfigMap) and c.data == {"k": "3"}
    assert inf.get(ns, "a").data == {"k": "again"}
    assert inf.list("nope") == []
    assert inf.revision == int(expected[-1][2])


async def test_resumes_after_compaction_while_stopped_and_reports_the_difference(
    etcd: EtcdStore, ns: str, stopper: list[Informer]
) -> None:
    for name in ("keep", "gone", "changed"):
        await put(etcd, CM, cm(ns, name))
    rec = Recorder()
    inf = Informer(etcd, CM, namespace=ns, resync_seconds=0)
    rec.attach(inf)
    await started(stopper, inf)
    assert sorted(rec.names()) == [("ADDED", "changed"), ("ADDED", "gone"), ("ADDED", "keep")]
    assert inf.relists == 1
    await inf.stop()
    rec.events.clear()

    # while it is stopped: delete, update, create, then compact the history away
    await remove(etcd, CM, ns, "gone")
    r_changed = await change(etcd, CM, cm(ns, "changed", "new"))
    r_new = await put(etcd, CM, cm(ns, "new"))
    await etcd.compact(await etcd.current_revision())

    inf.start()
    await eventually(lambda: len(rec.events) >= 3, message="difference reported after re-list")
    await eventually(lambda: inf.relists == 2, message="informer re-listed after Compacted")
    assert sorted(rec.names()) == [("ADDED", "new"), ("DELETED", "gone"), ("MODIFIED", "changed")]
    assert ("MODIFIED", "changed", str(r_changed)) in rec.events
    assert ("ADDED", "new", str(r_new)) in rec.events
    assert sorted(o.metadata.name for o in inf.list()) == ["changed", "keep", "new"]

    # and it watches again afterwards
    rec.events.clear()
    r = await put(etcd, CM, cm(ns, "after"))
    await eventually(lambda: rec.events == [("ADDED", "after", str(r))],
                     message="events flow after the re-list")


async def test_recovers_when_history_is_compacted_while_it_is_behind(
    etcd: EtcdStore, ns: str, stopper: list[Informer]
) -> None:
    """Handlers still busy with the initial list while the changes after it are
    compacted away: the watch from R+1 fails with Compacted and a re-list reports
    the difference."""
    await put(etcd, CM, cm(ns, "a"))
    await put(etcd, CM, cm(ns, "b"))
    release = asyncio.Event()
    seen: list[tuple[str, str]] = []

    async def slow_add(obj: Any) -> None:
        seen.append(("ADDED", obj.metadata.name))
        await release.wait()

    inf = Informer(etcd, CM, namespace=ns, resync_seconds=0)
    inf.add_handler(on_add=slow_add, on_update=lambda o, n: seen.append(("MODIFIED", n.metadata.name)),
                    on_delete=lambda o: seen.append(("DELETED", o.metadata.name)))
    stopper.append(inf)
    inf.start()
    await eventually(lambda: seen == [("ADDED", "a")], message="informer busy with its list")
    await remove(etcd, CM, ns, "b")
    await change(etcd, CM, cm(ns, "a", "2"))
    await put(etcd, CM, cm(ns, "c"))
    await etcd.compact(await etcd.current_revision())
    release.set()
    await eventually(lambda: inf.relists == 2 and len(seen) >= 5,
                     message="re-listed after falling behind compaction")
    assert seen == [("ADDED", "a"), ("ADDED", "b"),
                    ("DELETED", "b"), ("MODIFIED", "a"), ("ADDED", "c")]
    assert sorted(o.metadata.name for o in inf.list()) == ["a", "c"]


async def test_relists_after_etcd_restart(tmp_path: Path, ns: str) -> None:
    ports = devservers.free_port(), devservers.free_port()
    server = _start_etcd(tmp_path, *ports)
    store = await EtcdStore.connect(server.url, wait_seconds=10)
    inf = Informer(store, CM, namespace=ns, resync_seconds=0)
    rec = Recorder()
    rec.attach(inf)
    try:
        await put(store, CM, cm(ns, "before"))
        inf.start()
        await inf.wait_synced(10)
        server.stop()
        await asyncio.sleep(0.5)  # let the watch notice; what follows must not depend on it
        server = _start_etcd(tmp_path, *ports)

        async def store_answers() -> bool:  # our own client's channel reconnects with back-off too
            try:
                return await store.current_revision() > 0
            except Unavailable:
                return False

        await eventually(store_answers, timeout=20, message="etcd answers after restart")
        r = await put(store, CM, cm(ns, "after-restart"))
        await eventually(lambda: ("ADDED", "after-restart", str(r)) in rec.events, timeout=20,
                         message="informer recovered from the etcd restart")
        assert inf.relists >= 2, "an Unavailable watch makes the informer re-list"
        assert rec.names() == [("ADDED", "before"), ("ADDED", "after-restart")]
    finally:
        await inf.stop()
        await store.close()
        server.stop()


def pod(ns: str, name: str, node: str | None, owner: str | None) -> Pod:
    refs = [OwnerReference(apiVersion="apps/v1", kind="ReplicaSet", name="rs", uid=owner)] if owner else None
    return Pod(
        apiVersion="v1", kind="Pod",
        metadata=ObjectMeta(name=name, namespace=ns, uid=str(uuid.uuid4()), ownerReferences=refs,
                            labels={"app": name[:1]}),
        spec=PodSpec(nodeName=node),
    )


async def test_indexes_follow_changes(etcd: EtcdStore, ns: str, stopper: list[Informer]) -> None:
    await put(etcd, POD, pod(ns, "a1", "n1", "rs-1"))
    await put(etcd, POD, pod(ns, "a2", "n2", "rs-1"))
    await put(etcd, POD, pod(ns, "b1", None, "rs-2"))
    await put(etcd, POD, pod(ns + "x", "c1", "n1", None))
    inf = Informer(etcd, POD, resync_seconds=0)  # all namespaces
    await started(stopper, inf)
    inf.add_index("app", lambda p: [p.metadata.labels.get("app", "")] if p.metadata.labels else [])

    def names(index: str, value: str) -> list[str]:
        return sorted(p.metadata.name for p in inf.by_index(index, value))

    assert names(INDEX_NODE, "n1") == ["a1", "c1"]
    assert names(INDEX_OWNER, "rs-1") == ["a1", "a2"]
    assert names(INDEX_NAMESPACE, ns) == ["a1", "a2", "b1"]
    assert sorted(p.metadata.name for p in inf.list(ns + "x")) == ["c1"]
    assert names("app", "a") == ["a1", "a2"]
    with pytest.raises(KeyError, match="no index named 'nope'"):
        inf.by_index("nope", "x")

    await change(etcd, POD, pod(ns, "b1", "n1", "rs-1"))  # scheduled and adopted
    await remove(etcd, POD, ns, "a1")
    await eventually(lambda: names(INDEX_NODE, "n1") == ["b1", "c1"],
                     message="node index follows binding and deletion")
    assert names(INDEX_OWNER, "rs-1") == ["a2", "b1"]
    assert names(INDEX_OWNER, "rs-2") == []
    assert names("app", "a") == ["a2"]


async def test_resync_calls_update_with_the_same_object(
    etcd: EtcdStore, ns: str, stopper: list[Informer]
) -> None:
    await put(etcd, CM, cm(ns, "x"))
    same: list[str] = []
    inf = Informer(etcd, CM, namespace=ns, resync_seconds=0.2)
    inf.add_handler(on_update=lambda old, new: same.append(new.metadata.name) if old is new else None)
    await started(stopper, inf)
    await eventually(lambda: same.count("x") >= 2, timeout=5, message="two resyncs of x")


async def test_late_handlers_get_the_cache_and_bad_handlers_do_not_stop_others(
    etcd: EtcdStore, ns: str, stopper: list[Informer]
) -> None:
    await put(etcd, CM, cm(ns, "early"))
    inf = Informer(etcd, CM, namespace=ns, resync_seconds=0)

    def broken(obj: Any) -> None:
        raise RuntimeError("handler bug")

    inf.add_handler(on_add=broken)
    await started(stopper, inf)
    seen: list[str] = []

    async def async_add(obj: Any) -> None:
        await asyncio.sleep(0)
        seen.append(obj.metadata.name)

    inf.add_handler(on_add=async_add)  # registered after sync: replays what is cached
    await eventually(lambda: seen == ["early"], message="late handler replayed the cache")
    await put(etcd, CM, cm(ns, "later"))
    await eventually(lambda: seen == ["early", "later"],
                     message="events keep flowing past a failing handler")


async def test_two_informers_share_one_store(etcd: EtcdStore, ns: str, stopper: list[Informer]) -> None:
    cms = await started(stopper, Informer(etcd, CM, namespace=ns, resync_seconds=0))
    pods = await started(stopper, Informer(etcd, POD, namespace=ns, resync_seconds=0))
    await put(etcd, CM, cm(ns, "c"))
    await put(etcd, POD, pod(ns, "p", None, None))
    await eventually(lambda: cms.get(ns, "c") and pods.get(ns, "p"), message="both informers updated")
    assert cms.get(ns, "p") is None and pods.get(ns, "c") is None


# --------------------------------------------------------------------------
# NatsInformer, against the real apiserver (which publishes every change)


@pytest.fixture
async def nats_informers() -> AsyncIterator[list[NatsInformer]]:
    informers: list[NatsInformer] = []
    yield informers
    for inf in informers:
        await inf.stop()


def cm_body(name: str, value: str = "1", **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": labels or None}, "data": {"k": value}}


async def test_nats_informer_follows_the_apiserver(
    apiserver: Any, api: httpx.AsyncClient, namespace: str, nats_client: Any,
    nats_informers: list[NatsInformer],
) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    await api.delete(f"{base}/kube-root-ca.crt")  # the one every namespace starts with (no publisher runs here)
    assert (await api.post(base, json=cm_body("pre"))).status_code == 201
    inf = NatsInformer(nats_client, NatsAPIClient(nats_client, caller=BusIdentity("admin")), CM,
                       subject=changes.of("configmaps"), namespace=namespace)
    rec = Recorder()
    rec.attach(inf)
    nats_informers.append(inf)
    inf.start()
    await inf.wait_synced(10)
    assert rec.names() == [("ADDED", "pre")]

    a = (await api.post(base, json=cm_body("a"))).json()
    a["data"]["k"] = "2"
    a2 = (await api.put(f"{base}/a", json=a)).json()
    deleted = (await api.delete(f"{base}/pre")).json()
    await api.post("/api/v1/namespaces/default/configmaps", json=cm_body("x-" + namespace))
    await eventually(lambda: len(rec.events) >= 4, message="NATS events reached the informer")
    assert rec.events[1:] == [
        ("ADDED", "a", a["metadata"]["resourceVersion"]),
        ("MODIFIED", "a", a2["metadata"]["resourceVersion"]),
        ("DELETED", "pre", deleted["metadata"]["resourceVersion"]),
    ]
    assert inf.get(namespace, "a").data == {"k": "2"}
    assert inf.get(namespace, "pre") is None
    await api.delete(f"/api/v1/namespaces/default/configmaps/x-{namespace}")


async def test_nats_informer_drops_stale_events_and_relists_missed_changes(
    apiserver: Any, api: httpx.AsyncClient, namespace: str, nats_client: Any, store: EtcdStore,
    nats_informers: list[NatsInformer],
) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    old = (await api.post(base, json=cm_body("s", "old"))).json()
    inf = NatsInformer(nats_client, NatsAPIClient(nats_client, caller=BusIdentity("admin")), CM,
                       subject=changes.of("configmaps"), namespace=namespace,
                       resync_seconds=0)
    rec = Recorder()
    rec.attach(inf)
    nats_informers.append(inf)
    inf.start()
    await inf.wait_synced(10)
    new = dict(old, data={"k": "new"})
    new = (await api.put(f"{base}/s", json=new)).json()
    await eventually(lambda: inf.get(namespace, "s").data == {"k": "new"}, message="update seen")

    dropped_before = inf.dropped_stale  # (the create's own event may have raced the list)
    # a replayed old event (another apiserver replica, a redelivery) must not win
    stale = json.dumps({"type": "MODIFIED", "object": old}).encode()
    await nats_client.publish(changes.subject("configmaps", namespace, "s"), stale)
    await nats_client.flush()  # the server has it, so it reaches us before later events
    deleted = (await api.delete(f"{base}/s")).json()
    await eventually(lambda: inf.get(namespace, "s") is None, message="delete seen")
    # ... nor resurrect a deleted object
    await nats_client.publish(changes.subject("configmaps", namespace, "s"),
                              json.dumps({"type": "ADDED", "object": new}).encode())
    await nats_client.flush()
    probe = (await api.post(base, json=cm_body("probe"))).json()  # ordered after the stale ones
    await eventually(lambda: inf.get(namespace, "probe") is not None, message="probe seen")
    assert inf.dropped_stale - dropped_before == 2
    assert [e for e in rec.events if e[1] == "s"][1:] == [
        ("MODIFIED", "s", new["metadata"]["resourceVersion"]),
        ("DELETED", "s", deleted["metadata"]["resourceVersion"]),
    ]

    # a change nobody published (written behind the apiserver's back) is found by a re-list,
    # which is what a NATS reconnect or the resync period triggers
    await store.delete(CM.key(namespace, "probe"))
    inf.request_relist()
    await eventually(lambda: inf.get(namespace, "probe") is None, message="re-list found the delete")
    assert rec.events[-1][:2] == ("DELETED", "probe")
    assert int(rec.events[-1][2]) >= int(probe["metadata"]["resourceVersion"])


async def test_nats_informer_selectors_and_node_subject(
    apiserver: Any, api: httpx.AsyncClient, namespace: str, nats_client: Any,
    nats_informers: list[NatsInformer],
) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    client = NatsAPIClient(nats_client, caller=BusIdentity("admin"))
    web = NatsInformer(nats_client, client, CM, subject=changes.of("configmaps"),
                       namespace=namespace, label_selector="app=web")
    node = "node-" + namespace
    pods = NatsInformer(nats_client, client, POD, subject=changes.node_pods(node),
                        field_selector=f"spec.nodeName={node}")
    rec = Recorder()
    rec.attach(web)
    for inf in (web, pods):
        nats_informers.append(inf)
        inf.start()
        await inf.wait_synced(10)

    await api.post(base, json=cm_body("w", app="web"))
    await api.post(base, json=cm_body("o", app="other"))
    w = (await api.get(f"{base}/w")).json()
    w["metadata"]["labels"] = {"app": "other"}
    await api.put(f"{base}/w", json=w)
    await eventually(lambda: len(rec.events) >= 2, message="web informer saw w come and go")
    assert rec.names() == [("ADDED", "w"), ("DELETED", "w")]
    assert web.list() == []

    body = {"metadata": {"name": "p"}, "spec": {"nodeName": node,
            "containers": [{"name": "c", "image": "busybox"}]}}
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=body)
    assert r.status_code == 201, r.text
    await eventually(lambda: pods.get(namespace, "p") is not None, message="node's pod arrived")
    assert [p.metadata.name for p in pods.by_index(INDEX_NODE, node)] == ["p"]


# --------------------------------------------------------------------------
# Controller: informer -> queue -> workers


class CountingController(Controller):
    name = "counting"

    def __init__(self, informer: Informer) -> None:
        super().__init__(workers=2, base_delay=0.01, max_delay=0.1)
        self.informer = informer
        self.reconciled: list[tuple[str, str | None]] = []
        self.failures_left = {"flaky": 2}
        self.watch(informer)

    async def reconcile(self, key: str) -> None:
        ns, name = split_key(key)
        if self.failures_left.get(name, 0) > 0:
            self.failures_left[name] -= 1
            raise RuntimeError(f"{name} is flaky")
        obj = self.informer.get(ns, name)
        self.reconciled.append((key, obj.data["k"] if obj is not None else None))


async def test_controller_reconciles_keys_retries_failures_and_stops(
    etcd: EtcdStore, ns: str, stopper: list[Informer]
) -> None:
    await put(etcd, CM, cm(ns, "existing"))
    inf = Informer(etcd, CM, namespace=ns, resync_seconds=0)
    stopper.append(inf)
    ctl = CountingController(inf)
    running = asyncio.create_task(ctl.run(sync_timeout=10))
    await eventually(lambda: (f"{ns}/existing", "v") in ctl.reconciled, message="initial list reconciled")

    await put(etcd, CM, cm(ns, "flaky", "1"))
    await eventually(lambda: (f"{ns}/flaky", "1") in ctl.reconciled, message="flaky retried to success")
    assert ctl.failures_left["flaky"] == 0
    await remove(etcd, CM, ns, "existing")
    await eventually(lambda: ctl.reconciled[-1] == (f"{ns}/existing", None),
                     message="deletion reconciled (object gone from the cache)")

    await ctl.stop(grace_seconds=5)
    await asyncio.wait_for(running, 5)
    assert ctl.queue.shutting_down


async def test_a_copy_without_managed_fields_updates_without_losing_them(
    etcd: EtcdStore, ns: str, stopper: list[Informer], nats_client: Any,
) -> None:
    """The scheduler's and controller-manager's informers drop managedFields (memory); a PUT of
    such a copy must keep the stored ones, as Kubernetes keeps them for an update without any."""
    from kubelite_apiserver.events import Publisher
    from kubelite_apiserver.registry import Registry

    reg = Registry(etcd, Publisher(nats_client))
    namespaces = by_kind("v1", "Namespace")
    assert namespaces is not None
    await reg.create(namespaces, "", codec.convert({"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": ns}}, namespaces.type))
    await reg.create(CM, ns, cm(ns, "owned"), manager="kubectl-client-side-apply")
    inf = await started(stopper, Informer(etcd, CM, namespace=ns, transform=lambda obj, _previous: drop_managed_fields(obj)))
    # a copy, as a controller takes one: the registry fills the body it is given, and the cache's
    # own instance, changed in place, would pass for the watched update before the event came
    cached = copy.deepcopy(inf.get(ns, "owned"))
    assert cached is not None and cached.metadata.managedFields is None
    cached.data = {"k": "changed"}
    await reg.update(CM, ns, "owned", cached, manager="kube-controller-manager")
    stored = await reg.get(CM, ns, "owned")
    managers = {entry.manager for entry in stored.metadata.managedFields or ()}
    assert stored.data == {"k": "changed"}
    assert managers == {"kubectl-client-side-apply", "kube-controller-manager"}, stored.metadata.managedFields

    async def seen() -> Any:
        obj = inf.get(ns, "owned")
        return obj if obj is not None and obj.data == {"k": "changed"} else None

    assert (await eventually(seen, timeout=5, message="the informer never saw the update")).metadata.managedFields is None
