"""The ReplicaSet controller in a real controller-manager process, on real etcd, NATS and
apiserver. Pods are bound and made Running/Ready by `FakeKubelet` (a tiny stand-in for
scheduler + node agent that writes through the API), so the tests decide which pods
ever become ready. The helpers here are shared with test_deployment.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kubelite import codec
from kubelite.api.apps_v1 import DEPLOYMENTS, REPLICASETS, ReplicaSet
from kubelite.api.core_v1 import (
    PODS,
    ContainerState,
    ContainerStateRunning,
    ContainerStatus,
    Pod,
    PodCondition,
    PodStatus,
)
from kubelite.bus.connection import connect_nats
from kubelite.bus.identity import BusIdentity
from kubelite.client.nats import NatsAPIClient
from kubelite.errors import APIError
from kubelite.reconcile.leader import current_holder
from kubelite.storage.etcd import EtcdStore
from tests.conftest import eventually

ELECTION = "kube-controller-manager"
NEVER_READY = "never-ready"  # pods whose image contains this run but never become Ready


# --------------------------------------------------------------------------
# controller-manager processes
# --------------------------------------------------------------------------


class ControllerManagers:
    """Real `kubelite-controller-manager` processes with short leader leases."""

    def __init__(self, etcd_url: str, nats_url: str, log_dir: Path, pki_dir: Path,
                 extra: tuple[str, ...] = ()) -> None:
        self.etcd_url = etcd_url
        self.nats_url = nats_url
        self.log_dir = log_dir
        self.pki_dir = pki_dir
        self.extra = extra  # more flags for every process (e.g. a short HPA sync period)
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, identity: str | None = None) -> str:
        identity = identity or "cm-" + uuid.uuid4().hex[:6]
        exe = Path(sys.executable).with_name("kubelite-controller-manager")
        log = (self.log_dir / f"{identity}.log").open("ab")
        self.procs[identity] = subprocess.Popen(
            [str(exe), "--etcd", self.etcd_url, "--nats", self.nats_url, "--pki-dir", str(self.pki_dir),
             "--identity", identity,
             "--leader-elect-lease-duration", "3s", "--leader-elect-retry-period", "1s",
             "--resync-period", "30s", "--log-level", "info", *self.extra],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        return identity

    def log_tail(self, identity: str, lines: int = 40) -> str:
        try:
            return "".join((self.log_dir / f"{identity}.log").read_text().splitlines(True)[-lines:])
        except OSError:
            return ""

    def kill(self, identity: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(identity)
        proc.send_signal(sig)
        proc.wait(10)

    def alive(self) -> list[str]:
        return [i for i, p in self.procs.items() if p.poll() is None]

    def stop_all(self) -> None:
        for identity in list(self.procs):
            proc = self.procs.pop(identity)
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


async def wait_leader(store: EtcdStore, cms: ControllerManagers, timeout: float = 20) -> str:  # noqa: ASYNC109
    async def leader() -> str | None:
        holder = await current_holder(store, ELECTION)
        return holder if holder in cms.alive() else None

    return await eventually(leader, timeout=timeout, message="no controller-manager became leader")


@pytest.fixture(scope="module")
async def controller_managers(etcd_url: str, nats_url: str, apiserver: Any, cluster_pki: Any,
                              tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ControllerManagers]:
    cms = ControllerManagers(etcd_url, nats_url, tmp_path_factory.mktemp("controller-manager"), cluster_pki.root)
    cms.start()
    try:
        yield cms
    finally:
        cms.stop_all()


@pytest.fixture
async def cm(controller_managers: ControllerManagers, store: EtcdStore) -> ControllerManagers:
    """A leading controller-manager (started again if a test killed it)."""
    if not controller_managers.alive():
        controller_managers.start()
    await wait_leader(store, controller_managers)
    return controller_managers


# --------------------------------------------------------------------------
# a fake node: binds pods and reports them Running/Ready through the API
# --------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def cancel_and_wait(task: asyncio.Task[Any] | None, what: str, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Cancel a helper task and wait for it, but never forever: a teardown that hangs (a
    client call that ignores cancellation) would stall the whole suite, not fail one test."""
    if task is None:
        return
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        print(f"{what}: task still running {timeout:g}s after cancel; left behind")


class FakeKubelet:
    """Level-triggered: on every pod change in its namespace (and twice a second) it binds
    unbound pods to `node`, marks bound pods Running and Ready (Running and not Ready for
    images containing NEVER_READY), and confirms graceful deletions."""

    def __init__(self, api: NatsAPIClient, nc: Any, namespace: str, node: str = "fake-node") -> None:
        self.api = api
        self.nc = nc
        self.namespace = namespace
        self.node = node
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sub: Any = None

    async def start(self) -> None:
        async def on_msg(_msg: Any) -> None:
            self._wake.set()

        self._sub = await self.nc.subscribe(f"kubelite.changes.pods.{self.namespace}.>", cb=on_msg)
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        await cancel_and_wait(self._task, "fake kubelet")

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    await self._wake.wait()
            self._wake.clear()
            try:
                pods, _ = await self.api.list(PODS, self.namespace)
                await asyncio.gather(*(self._handle(p) for p in pods))
            except Exception as exc:  # keep going: the next pass retries
                print(f"fake kubelet: {exc!r}")

    async def _handle(self, pod: Pod) -> None:
        ns, name = self.namespace, pod.metadata.name or ""
        try:
            if pod.metadata.deletionTimestamp is not None:
                await self.api.delete(PODS, ns, name, grace_period=0)
                return
            if not (pod.spec and pod.spec.nodeName):
                await self.api.bind(ns, name, self.node)
                return
            ready = not any(NEVER_READY in (c.image or "") for c in pod.spec.containers or [])
            if pod.status and pod.status.phase == "Running":
                return
            now = _now()
            status = msgspec.structs.replace(
                pod.status if pod.status is not None else PodStatus(),
                phase="Running", podIP="10.0.0.1", startTime=now,
                conditions=[
                    PodCondition(type="PodScheduled", status="True", lastTransitionTime=now),
                    PodCondition(type="Initialized", status="True", lastTransitionTime=now),
                    PodCondition(type="ContainersReady", status="True" if ready else "False", lastTransitionTime=now),
                    PodCondition(type="Ready", status="True" if ready else "False", lastTransitionTime=now),
                ],
                containerStatuses=[
                    ContainerStatus(name=c.name, image=c.image, ready=ready, restartCount=0, started=True,
                                    state=ContainerState(running=ContainerStateRunning(startedAt=now)))
                    for c in pod.spec.containers or []
                ],
            )
            await self.api.update_status(msgspec.structs.replace(pod, apiVersion="v1", kind="Pod", status=status))
        except APIError as exc:
            if exc.code not in (404, 409):
                raise


@pytest.fixture
async def nats_api(nats_url: str, bus_creds: Any) -> AsyncIterator[tuple[Any, NatsAPIClient]]:
    nc = await connect_nats(nats_url, name="test-controllers", wait_seconds=10, credentials=bus_creds)
    try:
        # the fake kubelet plays scheduler and node at once: it calls as the admin
        yield nc, NatsAPIClient(nc, caller=BusIdentity("admin"))
    finally:
        await nc.close()


@pytest.fixture
async def kubelet(nats_api: tuple[Any, NatsAPIClient], namespace: str) -> AsyncIterator[FakeKubelet]:
    nc, api = nats_api
    k = FakeKubelet(api, nc, namespace)
    await k.start()
    try:
        yield k
    finally:
        await k.stop()


# --------------------------------------------------------------------------
# watching what happens, in etcd revision order
# --------------------------------------------------------------------------


class Observer:
    """Replays every change of pods, replica sets and deployments in one namespace in etcd
    revision order, keeping the current objects and calling `check()` after each change."""

    def __init__(self, store: EtcdStore, namespace: str) -> None:
        self.store = store
        self.namespace = namespace
        self.pods: dict[str, Pod] = {}
        self.rss: dict[str, ReplicaSet] = {}
        self.deployments: dict[str, Any] = {}
        self.checks: list[Callable[[Observer], None]] = []
        self.failures: list[str] = []
        self.events = 0
        self.max_active_pods = 0
        self._task: asyncio.Task[None] | None = None
        self._decoders = {
            PODS.key_prefix(namespace): (self.pods, codec.decoder_for(Pod)),
            REPLICASETS.key_prefix(namespace): (self.rss, codec.decoder_for(ReplicaSet)),
            DEPLOYMENTS.key_prefix(namespace): (self.deployments, codec.decoder_for(DEPLOYMENTS.type)),
        }

    async def start(self) -> None:
        revision = await self.store.current_revision()
        for prefix, (target, decoder) in self._decoders.items():
            kvs, _, _ = await self.store.list(prefix, revision=revision)
            for kv in kvs:
                target[kv.key] = decoder.decode(kv.value)
        self._task = asyncio.ensure_future(self._run(revision + 1))

    async def stop(self) -> None:
        await cancel_and_wait(self._task, "observer")

    async def _run(self, start: int) -> None:
        async with contextlib.aclosing(self.store.watch("/registry/", start_revision=start)) as events:
            async for ev in events:
                for prefix, (target, decoder) in self._decoders.items():
                    if not ev.kv.key.startswith(prefix):
                        continue
                    if ev.type == "DELETE":
                        target.pop(ev.kv.key, None)
                    else:
                        target[ev.kv.key] = decoder.decode(ev.kv.value)
                    self.events += 1
                    self.max_active_pods = max(self.max_active_pods, len(self.active_pods()))
                    for check in self.checks:
                        try:
                            check(self)
                        except AssertionError as exc:
                            self.failures.append(f"rev {ev.kv.mod_revision}: {exc}")

    def active_pods(self, selector: dict[str, str] | None = None) -> list[Pod]:
        return [p for p in self.pods.values() if p.metadata.deletionTimestamp is None
                and (p.status is None or p.status.phase not in ("Succeeded", "Failed"))
                and all((p.metadata.labels or {}).get(k) == v for k, v in (selector or {}).items())]

    def ready_pods(self, selector: dict[str, str] | None = None) -> list[Pod]:
        return [p for p in self.active_pods(selector) if any(
            c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []) if p.status)]


@pytest.fixture
async def observer(store: EtcdStore, namespace: str) -> AsyncIterator[Observer]:
    obs = Observer(store, namespace)
    await obs.start()
    try:
        yield obs
    finally:
        await obs.stop()


# --------------------------------------------------------------------------
# manifests
# --------------------------------------------------------------------------


def pod_template(app: str, image: str = "nginx:1.25") -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "web", "image": image}]}}


def replicaset_manifest(name: str, replicas: int, app: str | None = None) -> dict[str, Any]:
    app = app or name
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                     "template": pod_template(app)}}


async def create(api: Any, namespace: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.post(f"/apis/apps/v1/namespaces/{namespace}/{path}", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def scale(api: Any, namespace: str, plural: str, name: str, replicas: int) -> None:
    r = await api.patch(f"/apis/apps/v1/namespaces/{namespace}/{plural}/{name}/scale",
                        json={"spec": {"replicas": replicas}},
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text


async def get(api: Any, path: str) -> dict[str, Any] | None:
    r = await api.get(path)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return r.json()


def rs_ready(obs: Observer, app: str, n: int) -> bool:
    return len(obs.active_pods({"app": app})) == n and len(obs.ready_pods({"app": app})) == n


# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------


async def test_replicaset_creates_replaces_and_scales(cm: ControllerManagers, kubelet: FakeKubelet,
                                                      observer: Observer, api: Any, namespace: str) -> None:
    rs = await create(api, namespace, "replicasets", replicaset_manifest("web", 3))
    uid = rs["metadata"]["uid"]
    await eventually(lambda: rs_ready(observer, "web", 3), timeout=20, message="3 ready pods")
    for p in observer.active_pods({"app": "web"}):
        assert p.metadata.name.startswith("web-")
        (ref,) = p.metadata.ownerReferences
        assert (ref.kind, ref.name, ref.uid, ref.controller, ref.blockOwnerDeletion) == \
            ("ReplicaSet", "web", uid, True, True)

    async def status_is(ready: int, replicas: int) -> bool:
        st = (await get(api, f"/apis/apps/v1/namespaces/{namespace}/replicasets/web") or {}).get("status") or {}
        return (st.get("replicas"), st.get("readyReplicas"), st.get("availableReplicas"),
                st.get("fullyLabeledReplicas"), st.get("observedGeneration")) == \
            (replicas, ready, ready, replicas, st.get("observedGeneration")) and st.get("observedGeneration")

    await eventually(lambda: status_is(3, 3), timeout=10, message="status 3/3")

    # a deleted pod is replaced
    victim = observer.active_pods({"app": "web"})[0].metadata.name
    r = await api.delete(f"/api/v1/namespaces/{namespace}/pods/{victim}")
    assert r.status_code == 200, r.text
    await eventually(lambda: rs_ready(observer, "web", 3) and victim not in
                     {p.metadata.name for p in observer.active_pods({"app": "web"})},
                     timeout=20, message="replacement pod")

    await scale(api, namespace, "replicasets", "web", 5)
    await eventually(lambda: rs_ready(observer, "web", 5), timeout=20, message="scaled up to 5")
    await scale(api, namespace, "replicasets", "web", 1)
    await eventually(lambda: len(observer.active_pods({"app": "web"})) == 1, timeout=20, message="scaled down to 1")
    await eventually(lambda: status_is(1, 1), timeout=10, message="status 1/1")
    assert observer.max_active_pods <= 5, "never more pods than asked for"

    async def reasons() -> set[str]:
        events = await get(api, f"/api/v1/namespaces/{namespace}/events")
        return {e["reason"] for e in events["items"] if e["involvedObject"]["name"] == "web"}

    # Events are written by the controller-manager's recorder in the background (batched,
    # aggregated): the last SuccessfulDelete may land a moment after the scale-down.
    await eventually(lambda: _has(reasons(), {"SuccessfulCreate", "SuccessfulDelete"}), timeout=10,
                     message="SuccessfulCreate and SuccessfulDelete events")


async def _has(got: Any, wanted: set[str]) -> bool:
    return wanted <= await got


async def test_replicaset_adopts_orphans_and_releases_relabelled_pods(
        cm: ControllerManagers, kubelet: FakeKubelet, observer: Observer, api: Any, namespace: str) -> None:
    orphan = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orphan", "labels": {"app": "adopt"}},
              "spec": pod_template("adopt")["spec"]}
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=orphan)
    assert r.status_code == 201, r.text
    await eventually(lambda: len(observer.ready_pods({"app": "adopt"})) == 1, timeout=20, message="orphan ready")
    rs = await create(api, namespace, "replicasets", replicaset_manifest("adopt", 2))

    def adopted() -> bool:
        pod = observer.pods.get(PODS.key(namespace, "orphan"))
        refs = pod.metadata.ownerReferences if pod else None
        return bool(refs) and refs[0].uid == rs["metadata"]["uid"] and refs[0].controller is True

    await eventually(adopted, timeout=20, message="orphan adopted")
    await eventually(lambda: rs_ready(observer, "adopt", 2), timeout=20, message="one more pod, not two")

    # relabel one owned pod: it is released and replaced
    r = await api.patch(f"/api/v1/namespaces/{namespace}/pods/orphan",
                        json={"metadata": {"labels": {"app": "elsewhere"}}},
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text

    def released() -> bool:
        pod = observer.pods.get(PODS.key(namespace, "orphan"))
        return pod is not None and not pod.metadata.ownerReferences

    await eventually(released, timeout=20, message="relabelled pod released")
    await eventually(lambda: rs_ready(observer, "adopt", 2), timeout=20, message="released pod replaced")


async def test_leader_handover_creates_no_duplicates(
        cm: ControllerManagers, kubelet: FakeKubelet, observer: Observer, store: EtcdStore,
        api: Any, namespace: str) -> None:
    standby = cm.start()
    leader = await wait_leader(store, cm)
    assert leader != standby
    await create(api, namespace, "replicasets", replicaset_manifest("ha", 3))
    await eventually(lambda: rs_ready(observer, "ha", 3), timeout=20, message="3 ready pods before the kill")

    killed_at = time.monotonic()
    cm.kill(leader)  # SIGKILL: no release, the lease must lapse
    await scale(api, namespace, "replicasets", "ha", 4)  # work that only the new leader can do
    new_leader = await wait_leader(store, cm, timeout=20)
    assert new_leader == standby
    await eventually(lambda: rs_ready(observer, "ha", 4), timeout=20,
                     message=f"new leader scales to 4\n{cm.log_tail(standby)}")
    assert time.monotonic() - killed_at < 3 + 15, "took over within the lease (plus sync time)"
    # no duplicate pods at any moment
    assert len(observer.active_pods({"app": "ha"})) == 4
    assert observer.max_active_pods <= 4


async def test_lost_leadership_stops_and_campaigns_again(
        cm: ControllerManagers, kubelet: FakeKubelet, observer: Observer, store: EtcdStore,
        api: Any, namespace: str) -> None:
    from kubelite.reconcile.leader import leader_key

    leader = await wait_leader(store, cm)
    await create(api, namespace, "replicasets", replicaset_manifest("relead", 2))
    await eventually(lambda: rs_ready(observer, "relead", 2), timeout=20, message="2 ready pods")
    await store.delete(leader_key(ELECTION))  # as if the lease had lapsed
    # the process keeps running, stands down, and leads again
    await eventually(lambda: "lost leadership" in cm.log_tail(leader, 200), timeout=10,
                     message="leader noticed the loss")
    assert leader in cm.alive()
    assert await wait_leader(store, cm) == leader
    await scale(api, namespace, "replicasets", "relead", 3)
    await eventually(lambda: rs_ready(observer, "relead", 3), timeout=20,
                     message=f"leads again and scales\n{cm.log_tail(leader)}")
    assert observer.max_active_pods <= 3


async def test_replication_controller_is_a_replica_set_with_a_label_map(
        cm: ControllerManagers, kubelet: FakeKubelet, observer: Observer, api: Any, namespace: str) -> None:
    """core/v1 ReplicationController: the selector defaults to the template's labels, the same
    controller keeps its replicas and status, the scale subresource moves it, deleting it
    collects its pods."""
    base = f"/api/v1/namespaces/{namespace}/replicationcontrollers"
    r = await api.post(base, json={"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "old"},
                                   "spec": {"replicas": 2, "template": pod_template("old")}})
    assert r.status_code == 201, r.text
    rc = r.json()
    assert rc["spec"]["selector"] == {"app": "old"}  # defaulted from the template
    await eventually(lambda: rs_ready(observer, "old", 2), timeout=20, message="2 ready pods")
    (ref,) = observer.active_pods({"app": "old"})[0].metadata.ownerReferences
    assert (ref.apiVersion, ref.kind, ref.uid) == ("v1", "ReplicationController", rc["metadata"]["uid"])

    async def ready(n: int) -> bool:
        st = ((await get(api, f"{base}/old")) or {}).get("status") or {}
        return st.get("readyReplicas") == n and st.get("replicas") == n

    await eventually(lambda: ready(2), timeout=10, message="status 2/2")
    scaled = await api.patch(f"{base}/old/scale", json={"spec": {"replicas": 3}},
                             headers={"Content-Type": "application/merge-patch+json"})
    assert scaled.status_code == 200 and scaled.json()["status"]["selector"] == "app=old", scaled.text
    await eventually(lambda: rs_ready(observer, "old", 3), timeout=20, message="scaled to 3")
    bad = await api.post(base, json={"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "bad"},
                                     "spec": {"selector": {"app": "x"}, "template": pod_template("y")}})
    assert bad.status_code == 422 and "selector` does not match template" in bad.text, bad.text
    assert (await api.delete(f"{base}/old")).status_code == 200
    await eventually(lambda: not observer.active_pods({"app": "old"}), timeout=20,
                     message="the garbage collector removed the pods")
