"""The scheduler against a real etcd, NATS and apiserver, with Node objects
created through the API as fake nodes (no node agents).

Nodes are cluster-wide, so this module runs its own etcd, NATS and apiserver:
other tests' nodes must not change what the scheduler sees, and its nodes must
not attract other tests' pods.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubelite import devservers
from kubelite.bus import decisions as decision_subjects
from kubelite.bus.connection import connect_nats
from kubelite.pki import ClusterPKI
from tests.conftest import as_bus, eventually, start_cluster_nats
from tests.integration.conftest import APIServerProcess, start_apiserver, stop_process

pytestmark = pytest.mark.timeout(120)


class Cluster:
    def __init__(self, etcd_url: str, nats_url: str, apiserver: APIServerProcess, base: Path) -> None:
        self.etcd_url = etcd_url
        self.nats_url = nats_url
        self.apiserver = apiserver
        self.base = base


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, cluster_pki: ClusterPKI) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("sched")
    etcd = devservers.start_etcd(base / "etcd", client_port=devservers.free_port(),
                                 peer_port=devservers.free_port(), log_path=base / "etcd.log",
                                 unsafe_no_fsync=True, die_with_parent=True)
    nats = start_cluster_nats(base / "nats", cluster_pki, die_with_parent=True)
    try:
        api = start_apiserver(etcd.url, nats.url, base / "apiserver.log", pki=cluster_pki)
        try:
            yield Cluster(etcd.url, nats.url, api, base)
        finally:
            stop_process(api.popen)
    finally:
        nats.stop()
        etcd.stop()


class SchedulerProcess:
    def __init__(self, popen: subprocess.Popen, log_path: Path) -> None:
        self.popen = popen
        self.log_path = log_path

    def log(self) -> str:
        try:
            return "".join(self.log_path.read_text().splitlines(keepends=True)[-30:])
        except OSError:
            return ""


def start_scheduler(cluster: Cluster, name: str, *extra: str) -> SchedulerProcess:
    log_path = cluster.base / f"scheduler-{name}-{uuid.uuid4().hex[:6]}.log"
    exe = Path(sys.executable).with_name("kubelite-scheduler")
    popen = subprocess.Popen(
        [str(exe), "--etcd", cluster.etcd_url, "--nats", cluster.nats_url, "--pki-dir", str(cluster.apiserver.pki.root),
         "--scheduler-name", name,
         "--log-level", "info", *extra],
        stdout=log_path.open("ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return SchedulerProcess(popen, log_path)


@pytest.fixture
async def api(cluster: Cluster) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=cluster.apiserver.url, timeout=20, verify=cluster.apiserver.tls) as client:
        yield client


@pytest.fixture
async def namespace(api: httpx.AsyncClient) -> str:
    name = "t-" + uuid.uuid4().hex[:10]
    r = await api.post("/api/v1/namespaces", json={"metadata": {"name": name}})
    assert r.status_code == 201, r.text
    return name


@pytest.fixture
def scheduler_name() -> str:
    """Each test schedules its own pods only: a scheduler name of its own."""
    return "sched-" + uuid.uuid4().hex[:8]


@pytest.fixture
def scheduler(cluster: Cluster, scheduler_name: str) -> Iterator[SchedulerProcess]:
    proc = start_scheduler(cluster, scheduler_name, "--leader-elect-lease-duration", "3")
    try:
        yield proc
    finally:
        stop_process(proc.popen)


async def add_node(api: httpx.AsyncClient, name: str, *, cpu: str = "2", memory: str = "4Gi",
                   labels: dict[str, str] | None = None, taints: list[dict[str, str]] | None = None,
                   ready: bool = True) -> None:
    body: dict[str, Any] = {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                                   **(labels or {})}}}
    if taints:
        body["spec"] = {"taints": taints}
    r = await api.post("/api/v1/nodes", json=body)
    assert r.status_code == 201, r.text
    status = {"status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
                         "capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
                         "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                         "reason": "KubeletReady"}]}}
    r = await api.patch(f"/api/v1/nodes/{name}/status", content=json.dumps(status),
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text


async def add_pod(api: httpx.AsyncClient, ns: str, name: str, scheduler_name: str, *, cpu: str = "100m",
                  labels: dict[str, str] | None = None, **spec: Any) -> None:
    body = {"metadata": {"name": name, "labels": labels or {}},
            "spec": {"schedulerName": scheduler_name,
                     "containers": [{"name": "c", "image": "busybox",
                                     "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}],
                     **spec}}
    r = await api.post(f"/api/v1/namespaces/{ns}/pods", json=body)
    assert r.status_code == 201, r.text


async def node_of(api: httpx.AsyncClient, ns: str, name: str) -> str | None:
    r = await api.get(f"/api/v1/namespaces/{ns}/pods/{name}")
    assert r.status_code == 200, r.text
    return r.json()["spec"].get("nodeName")


async def wait_bound(api: httpx.AsyncClient, ns: str, name: str, sched: SchedulerProcess,
                     timeout: float = 20) -> str:  # noqa: ASYNC109
    async def bound() -> str | None:
        assert sched.popen.poll() is None, f"scheduler exited:\n{sched.log()}"
        return await node_of(api, ns, name)
    try:
        return await eventually(bound, timeout=timeout, message=f"pod {ns}/{name} never bound")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nscheduler log:\n{sched.log()}") from None


async def events_for(api: httpx.AsyncClient, ns: str, pod: str) -> list[dict[str, Any]]:
    r = await api.get(f"/api/v1/namespaces/{ns}/events")
    assert r.status_code == 200, r.text
    return [e for e in r.json()["items"] if e["involvedObject"]["name"] == pod]


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


# -------------------------------------------------------------------------------------


async def test_pod_is_bound_with_a_scheduled_event_and_a_published_decision(
    api: httpx.AsyncClient, namespace: str, scheduler_name: str, scheduler: SchedulerProcess, cluster: Cluster,
) -> None:
    node = uniq("n")
    await add_node(api, node, labels={"only-for": scheduler_name})
    nc = await connect_nats(cluster.nats_url, name="test", wait_seconds=10, credentials=as_bus(cluster.apiserver.pki))
    decisions: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def on_msg(msg: Any) -> None:
        await decisions.put(json.loads(msg.data))

    await nc.subscribe(decision_subjects.scheduler(namespace, "web"), cb=on_msg)
    try:
        await add_pod(api, namespace, "web", scheduler_name, nodeSelector={"only-for": scheduler_name})
        assert await wait_bound(api, namespace, "web", scheduler) == node
        decision = await asyncio.wait_for(decisions.get(), 10)
    finally:
        await nc.close()
    assert decision["result"] == "Scheduled" and decision["node"] == node
    assert decision["scheduler"] == scheduler_name and decision["pod"] == "web"
    # every other node was rejected by the node selector, with Kubernetes' reason
    assert all(r == ["node(s) didn't match Pod's node affinity/selector"] for r in decision.get("rejected", {}).values())
    assert decision["nodes"] >= 1 and decision["feasible"] == 1
    pod = (await api.get(f"/api/v1/namespaces/{namespace}/pods/web")).json()
    conds = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert conds["PodScheduled"] == "True"

    async def scheduled_event() -> list[dict[str, Any]]:
        return [e for e in await events_for(api, namespace, "web") if e["reason"] == "Scheduled"]
    [event] = await eventually(scheduled_event, message="no Scheduled event")
    assert event["type"] == "Normal"
    assert event["message"] == f"Successfully assigned {namespace}/web to {node}"
    assert event["source"]["component"] == scheduler_name


async def test_pods_spread_over_two_nodes(
    api: httpx.AsyncClient, namespace: str, scheduler_name: str, scheduler: SchedulerProcess,
) -> None:
    label = {"spread-" + scheduler_name[-8:]: "yes"}
    nodes = [uniq("spread"), uniq("spread")]
    for n in nodes:
        await add_node(api, n, labels=label)
    owner = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": str(uuid.uuid4()),
              "controller": True}]
    for i in range(6):
        body = {"metadata": {"name": f"r{i}", "ownerReferences": owner},
                "spec": {"schedulerName": scheduler_name, "nodeSelector": label,
                         "containers": [{"name": "c", "image": "busybox"}]}}
        r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=body)
        assert r.status_code == 201, r.text
    placed = [await wait_bound(api, namespace, f"r{i}", scheduler) for i in range(6)]
    assert sorted(placed.count(n) for n in nodes) == [3, 3], placed


async def test_unschedulable_pod_says_why_and_is_bound_when_a_fitting_node_registers(
    api: httpx.AsyncClient, namespace: str, scheduler_name: str, scheduler: SchedulerProcess,
) -> None:
    key = "pool-" + scheduler_name[-8:]
    small, tainted = uniq("small"), uniq("tainted")
    await add_node(api, small, cpu="1", labels={key: "a"})
    await add_node(api, tainted, cpu="8", labels={key: "a"},
                   taints=[{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}])
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": key, "operator": "In", "values": ["a"]}]}]}}}
    await add_pod(api, namespace, "big", scheduler_name, cpu="2", affinity=affinity)

    async def unschedulable() -> dict[str, Any] | None:
        pod = (await api.get(f"/api/v1/namespaces/{namespace}/pods/big")).json()
        for c in (pod.get("status") or {}).get("conditions") or []:
            if c["type"] == "PodScheduled" and c["status"] == "False":
                return c
        return None
    cond = await eventually(unschedulable, timeout=15, message="PodScheduled=False never set")
    assert cond["reason"] == "Unschedulable"
    # Every other node of this shared apiserver fails the node affinity; ours say why they fail.
    msg = cond["message"]
    assert msg.startswith("0/") and msg.endswith(".")
    assert "1 Insufficient cpu" in msg
    assert "1 node(s) had untolerated taint {dedicated: infra}" in msg

    async def warning() -> list[dict[str, Any]]:
        return [e for e in await events_for(api, namespace, "big") if e["reason"] == "FailedScheduling"]
    [event] = await eventually(warning, message="no FailedScheduling event")
    assert event["type"] == "Warning" and event["message"] == msg

    # a fitting node registers: the pod is retried and bound there, not in a busy loop
    big = uniq("big")
    await add_node(api, big, cpu="4", labels={key: "a"})
    assert await wait_bound(api, namespace, "big", scheduler, timeout=15) == big


async def test_taints_and_tolerations(
    api: httpx.AsyncClient, namespace: str, scheduler_name: str, scheduler: SchedulerProcess,
) -> None:
    label = {"tt-" + scheduler_name[-8:]: "yes"}
    gpu = uniq("gpu")
    await add_node(api, gpu, labels=label, taints=[{"key": "gpu", "value": "true", "effect": "NoSchedule"}])
    await add_pod(api, namespace, "tolerant", scheduler_name, nodeSelector=label,
                  tolerations=[{"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}])
    assert await wait_bound(api, namespace, "tolerant", scheduler) == gpu
    await add_pod(api, namespace, "intolerant", scheduler_name, nodeSelector=label)

    async def reason() -> str | None:
        pod = (await api.get(f"/api/v1/namespaces/{namespace}/pods/intolerant")).json()
        for c in (pod.get("status") or {}).get("conditions") or []:
            if c["type"] == "PodScheduled" and c["status"] == "False":
                return c["message"]
        return None
    msg = await eventually(reason, timeout=15, message="intolerant pod never reported unschedulable")
    assert "1 node(s) had untolerated taint {gpu: true}" in msg
    assert await node_of(api, namespace, "intolerant") is None


async def test_two_schedulers_only_the_leader_binds(
    api: httpx.AsyncClient, namespace: str, scheduler_name: str, cluster: Cluster,
) -> None:
    label = {"le-" + scheduler_name[-8:]: "yes"}
    await add_node(api, uniq("le"), labels=label)
    first = start_scheduler(cluster, scheduler_name, "--leader-elect-lease-duration", "3")
    second = None
    try:
        await add_pod(api, namespace, "p1", scheduler_name, nodeSelector=label)
        await wait_bound(api, namespace, "p1", first)
        second = start_scheduler(cluster, scheduler_name, "--leader-elect-lease-duration", "3")
        await eventually(lambda: "standing by" in second.log_path.read_text(), timeout=15,
                         message="second scheduler never stood by")
        await add_pod(api, namespace, "p2", scheduler_name, nodeSelector=label)
        await wait_bound(api, namespace, "p2", first)
        assert "Successfully" not in second.log() and "became leader" not in second.log_path.read_text()
        # the leader goes away hard: the standby takes over once the lease lapses
        first.popen.kill()
        first.popen.wait()
        await add_pod(api, namespace, "p3", scheduler_name, nodeSelector=label)
        await wait_bound(api, namespace, "p3", second, timeout=30)
        assert "became leader" in second.log_path.read_text()
    finally:
        stop_process(first.popen)
        if second is not None:
            stop_process(second.popen)


async def test_scheduling_gates_hold_a_pod_back_until_removed(
    api: httpx.AsyncClient, namespace: str, scheduler_name: str, scheduler: SchedulerProcess,
) -> None:
    label = {"gate-" + scheduler_name[-8:]: "yes"}
    node = uniq("gate")
    await add_node(api, node, labels=label)
    await add_pod(api, namespace, "gated", scheduler_name, nodeSelector=label,
                  schedulingGates=[{"name": "example.com/wait"}])
    await add_pod(api, namespace, "marker", scheduler_name, nodeSelector=label)
    await wait_bound(api, namespace, "marker", scheduler)  # the scheduler has seen both by now
    assert await node_of(api, namespace, "gated") is None
    r = await api.patch(f"/api/v1/namespaces/{namespace}/pods/gated", content=json.dumps(
        {"spec": {"schedulingGates": None}}), headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert await wait_bound(api, namespace, "gated", scheduler) == node
