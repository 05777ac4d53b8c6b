"""The node agent with the fake runtime against a real apiserver, etcd and NATS.

The agent runs in-process (start_agents), so tests can also reach into its
fake runtime to make containers exit.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubelite.bus.connection import connect_nats
from kubelite.client.logs import LogRequest, stream_logs
from kubelite.errors import APIError
from kubelite_nodeagent.__main__ import start_agents, stop_agents
from kubelite_nodeagent.agent import NodeAgent
from kubelite_nodeagent.config import parse_args
from kubelite_nodeagent.rootca import RootCACache
from kubelite_nodeagent.runtime.base import ContainerState
from kubelite_nodeagent.runtime.fake import FakeRuntime
from kubelite_nodeagent.shared import SharedWatches
from tests.conftest import eventually


class Agents:
    def __init__(self, nats_url: str, root: Path, creds: Any) -> None:
        self.nats_url = nats_url
        self.creds = creds
        self.root = root
        self.running: list[tuple[Any, list[NodeAgent]]] = []

    async def start(self, *flags: str, root_ca: bool = False) -> list[NodeAgent]:
        """`root_ca`: the process follows kube-root-ca.crt on the bus, as `kubelite-nodeagent` does."""
        cfg = parse_args(["--nats", self.nats_url, "--runtime", "fake", "--root-dir", str(self.root),
                          "--node-status-update-frequency", "1s", "--restart-backoff-base", "0.5",
                          "--restart-backoff-max", "2", *flags])
        nc = await connect_nats(self.nats_url, name="test-nodeagent", wait_seconds=10, credentials=self.creds)
        shared = None
        if root_ca:
            shared = SharedWatches(root_ca=RootCACache(nc))
            await shared.root_ca.start()
        agents = await start_agents(cfg, nc, shared)
        self.running.append((nc, agents))
        return agents

    async def stop(self, agents: list[NodeAgent]) -> None:
        for entry in list(self.running):
            if entry[1] is agents:
                self.running.remove(entry)
                await stop_agents(agents)
                await entry[0].close()


@pytest.fixture
async def agents(nats_url: str, apiserver: Any, tmp_path: Path, bus_creds: Any) -> AsyncIterator[Agents]:
    a = Agents(nats_url, tmp_path, bus_creds)
    try:
        yield a
    finally:
        for nc, running in a.running:
            await stop_agents(running)
            await nc.close()


def node_name() -> str:
    return "fake-" + uuid.uuid4().hex[:8]


def pod_manifest(name: str, node: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "busybox:1.36",
                                                   "command": ["sleep", "3600"]}], **spec},
    }
    return body


async def get_json(api: httpx.AsyncClient, path: str) -> dict[str, Any] | None:
    r = await api.get(path)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return r.json()


def condition(obj: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for c in obj.get("status", {}).get("conditions") or []:
        if c["type"] == ctype:
            return c
    return None


async def test_registration_and_lease_renewal(agents: Agents, api: httpx.AsyncClient) -> None:
    name = node_name()
    await agents.start("--node-name", name, "--node-labels", "zone=a,tier=web",
                       "--register-with-taints", "dedicated=infra:NoSchedule",
                       "--system-reserved", "cpu=100m,memory=256Mi")
    node = await get_json(api, f"/api/v1/nodes/{name}")
    assert node is not None, "the node was not registered"
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == name
    assert labels["kubernetes.io/os"] == "linux"
    assert labels["zone"] == "a" and labels["tier"] == "web"
    assert node["spec"]["taints"] == [{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}]
    assert node["spec"]["podCIDR"].endswith("/24")
    status = node["status"]
    assert status["capacity"]["pods"] == "110"
    assert status["allocatable"]["pods"] == "110"
    assert status["capacity"]["cpu"] != status["allocatable"]["cpu"], "system-reserved cpu not subtracted"
    assert {a["type"] for a in status["addresses"]} == {"InternalIP", "Hostname"}
    ready = condition(node, "Ready")
    assert ready is not None and ready["status"] == "True" and ready["reason"] == "KubeletReady"
    for ctype in ("MemoryPressure", "DiskPressure", "PIDPressure"):
        c = condition(node, ctype)
        assert c is not None and c["status"] == "False", ctype

    lease = await eventually(lambda: get_json(api, f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"),
                             message="no lease")
    assert lease["spec"]["holderIdentity"] == name
    assert lease["spec"]["leaseDurationSeconds"] == 40
    first = lease["spec"]["renewTime"]

    async def renewed() -> bool:
        again = await get_json(api, f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}")
        return again is not None and again["spec"]["renewTime"] != first

    await eventually(renewed, timeout=10, message="the lease was not renewed")


async def test_pod_runs_with_conditions_and_deletion_is_confirmed(
    agents: Agents, api: httpx.AsyncClient, namespace: str
) -> None:
    name = node_name()
    await agents.start("--node-name", name)
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=pod_manifest("web", name))
    assert r.status_code == 201, r.text

    async def running() -> dict[str, Any] | None:
        pod = await get_json(api, f"/api/v1/namespaces/{namespace}/pods/web")
        return pod if pod and pod["status"].get("phase") == "Running" and (
            (condition(pod, "Ready") or {}).get("status") == "True") else None

    pod = await eventually(running, timeout=15, message="pod did not become Running and Ready")
    st = pod["status"]
    assert st["podIP"] and st["hostIP"] and st["startTime"]
    assert st["podIP"].startswith(".".join(
        (await get_json(api, f"/api/v1/nodes/{name}"))["spec"]["podCIDR"].split(".")[:3]))
    for ctype in ("Initialized", "ContainersReady", "Ready", "PodScheduled"):
        assert (condition(pod, ctype) or {}).get("status") == "True", ctype
    [cs] = st["containerStatuses"]
    assert cs["name"] == "app" and cs["ready"] is True and cs["started"] is True
    assert cs["restartCount"] == 0 and "running" in cs["state"]
    assert cs["containerID"].startswith("fake://")

    r = await api.delete(f"/api/v1/namespaces/{namespace}/pods/web")
    assert r.status_code == 200, r.text
    await eventually(lambda: _gone(api, f"/api/v1/namespaces/{namespace}/pods/web"), timeout=15,
                     message="the agent did not confirm the deletion")


async def test_readiness_gate_holds_ready_until_its_condition_is_true(
    agents: Agents, api: httpx.AsyncClient, namespace: str
) -> None:
    """A condition another component writes in the pod's status (here: the test, as a load
    balancer controller would) is synced on by the agent, which recomputes Ready from it."""
    name = node_name()
    await agents.start("--node-name", name)
    body = pod_manifest("gated", name, readinessGates=[{"conditionType": "example.com/lb"}])
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=body)
    assert r.status_code == 201, r.text
    path = f"/api/v1/namespaces/{namespace}/pods/gated"

    async def ready_is(status: str) -> dict[str, Any] | None:
        pod = await get_json(api, path)
        ready = condition(pod, "Ready") if pod else None
        return pod if pod and pod["status"].get("phase") == "Running" and ready and ready["status"] == status else None

    pod = await eventually(lambda: ready_is("False"), timeout=15, message="the gated pod never ran")
    assert (condition(pod, "ContainersReady") or {}).get("status") == "True"
    ready = condition(pod, "Ready") or {}
    assert ready.get("reason") == "ReadinessGatesNotReady"
    assert ready.get("message") == 'corresponding condition of pod readiness gate "example.com/lb" does not exist.'

    async def set_gate() -> bool:
        current = await get_json(api, path)
        assert current is not None
        current["status"]["conditions"].append({"type": "example.com/lb", "status": "True"})
        put = await api.put(f"{path}/status", json=current)
        assert put.status_code in (200, 409), put.text
        return put.status_code == 200  # 409: the agent wrote meanwhile; read again

    await eventually(set_gate, timeout=10, message="could not write the gate's condition")
    pod = await eventually(lambda: ready_is("True"), timeout=15,
                           message="Ready did not follow the readiness gate's condition")
    assert (condition(pod, "example.com/lb") or {}).get("status") == "True", "the agent dropped the gate condition"


async def _gone(api: httpx.AsyncClient, path: str) -> bool:
    return (await api.get(path)).status_code == 404


async def test_crashing_container_backs_off_and_never_policy_fails(
    agents: Agents, api: httpx.AsyncClient, namespace: str
) -> None:
    name = node_name()
    [agent] = await agents.start("--node-name", name)
    runtime = agent.runtime
    assert isinstance(runtime, FakeRuntime)
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=pod_manifest("crash", name))
    assert r.status_code == 201, r.text
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods",
                       json=pod_manifest("once", name, restartPolicy="Never"))
    assert r.status_code == 201, r.text

    def running_container(pod: str) -> str | None:
        for c in runtime.containers.values():
            if c.pod_name == pod and c.namespace == namespace and c.state == ContainerState.RUNNING:
                return c.id
        return None

    for _ in range(3):
        cid = await eventually(lambda: running_container("crash"), timeout=10, message="no running container")
        runtime.exit_container(cid, 1)
        await eventually(lambda cid=cid: running_container("crash") not in (None, cid), timeout=10,
                         message="container was not restarted")

    cid = await eventually(lambda: running_container("crash"), timeout=10, message="no running container")
    runtime.exit_container(cid, 2)

    async def crash_looping() -> dict[str, Any] | None:
        pod = await get_json(api, f"/api/v1/namespaces/{namespace}/pods/crash")
        cs = (pod or {}).get("status", {}).get("containerStatuses") or [{}]
        waiting = cs[0].get("state", {}).get("waiting", {})
        last = cs[0].get("lastState", {}).get("terminated", {})
        # (the exit code tells this back-off from the one before the last restart)
        return cs[0] if waiting.get("reason") == "CrashLoopBackOff" and last.get("exitCode") == 2 else None

    cs = await eventually(crash_looping, timeout=10, message="no CrashLoopBackOff after the last exit")
    assert cs["restartCount"] == 3
    assert "back-off" in cs["state"]["waiting"]["message"]

    cid = await eventually(lambda: running_container("once"), timeout=10, message="no running container")
    runtime.exit_container(cid, 3)

    async def failed() -> dict[str, Any] | None:
        pod = await get_json(api, f"/api/v1/namespaces/{namespace}/pods/once")
        return pod if pod and pod["status"].get("phase") == "Failed" else None

    pod = await eventually(failed, timeout=10, message="restartPolicy Never pod did not fail")
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 3 and term["reason"] == "Error"
    assert (condition(pod, "Ready") or {}).get("reason") == "PodFailed"


async def test_missing_configmap_then_created_starts_the_pod(
    agents: Agents, api: httpx.AsyncClient, namespace: str
) -> None:
    name = node_name()
    await agents.start("--node-name", name)
    manifest = pod_manifest("cfg", name)
    manifest["spec"]["containers"][0]["env"] = [
        {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}}}]
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=manifest)
    assert r.status_code == 201, r.text

    async def waiting_reason() -> dict[str, Any] | None:
        pod = await get_json(api, f"/api/v1/namespaces/{namespace}/pods/cfg")
        cs = (pod or {}).get("status", {}).get("containerStatuses") or [{}]
        return cs[0].get("state", {}).get("waiting")

    waiting = await eventually(waiting_reason, timeout=10, message="no waiting state")
    assert waiting["reason"] == "CreateContainerConfigError"
    assert waiting["message"] == 'configmap "settings" not found'

    r = await api.post(f"/api/v1/namespaces/{namespace}/configmaps",
                       json={"metadata": {"name": "settings"}, "data": {"greeting": "hi"}})
    assert r.status_code == 201, r.text

    async def running() -> bool:
        pod = await get_json(api, f"/api/v1/namespaces/{namespace}/pods/cfg")
        return bool(pod and pod["status"].get("phase") == "Running")

    await eventually(running, timeout=15, message="pod did not start after the ConfigMap appeared")


async def test_agent_restart_adopts_containers(agents: Agents, api: httpx.AsyncClient, namespace: str) -> None:
    name = node_name()
    [agent] = await agents.start("--node-name", name)
    runtime = agent.runtime
    manifest = pod_manifest("keep", name)
    manifest["spec"]["containers"][0]["readinessProbe"] = {"exec": {"command": ["ok"]}, "periodSeconds": 1}
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=manifest)
    assert r.status_code == 201, r.text
    uid = r.json()["metadata"]["uid"]

    async def ready() -> dict[str, Any] | None:
        pod = await get_json(api, f"/api/v1/namespaces/{namespace}/pods/keep")
        return pod if pod and (condition(pod, "Ready") or {}).get("status") == "True" else None

    pod = await eventually(ready, timeout=15, message="pod not ready")
    ready_since = condition(pod, "Ready")["lastTransitionTime"]
    before = {c.id for c in runtime.containers.values() if c.pod_name == "keep"}
    assert len(before) == 1

    # Stop the agent (its fake engine keeps the containers, as dockerd would) and start a new one.
    await agents.stop([agent])
    [second] = await agents.start("--node-name", name)
    second_runtime = second.runtime
    assert isinstance(second_runtime, FakeRuntime)

    def probed_by_second_agent() -> bool:
        st = second.states.get(uid)
        rec = st.containers.get("app") if st else None
        tracker = rec.trackers.get("readiness") if rec else None
        return bool(tracker and tracker.last_run_at is not None and rec.current.id in before)

    await eventually(probed_by_second_agent, timeout=10, message="the restarted agent did not take the pod over")
    assert {c.id for c in second_runtime.containers.values() if c.pod_name == "keep"} == before, "a twin started"
    pod = await ready()
    assert pod is not None, "the pod went unready across the agent restart"
    assert condition(pod, "Ready")["lastTransitionTime"] == ready_since
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 0


async def test_fake_nodes_register_each(agents: Agents, api: httpx.AsyncClient, namespace: str) -> None:
    base = node_name()
    started = await agents.start("--node-name", base, "--fake-nodes", "3")
    assert [a.node.name for a in started] == [f"{base}-{i}" for i in range(3)]
    cidrs = set()
    for a in started:
        node = await get_json(api, f"/api/v1/nodes/{a.node.name}")
        assert node is not None, a.node.name
        cidrs.add(node["spec"]["podCIDR"])
    assert len(cidrs) == 3, "fake nodes share a pod CIDR"
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=pod_manifest("on2", f"{base}-2"))
    assert r.status_code == 201, r.text

    async def running() -> dict[str, Any] | None:
        pod = await get_json(api, f"/api/v1/namespaces/{namespace}/pods/on2")
        return pod if pod and pod["status"].get("phase") == "Running" else None

    await eventually(running, timeout=15, message="pod on a fake node did not run")
    assert started[2].pods and not started[0].pods and not started[1].pods


async def test_logs_rpc_errors_and_empty_stream(agents: Agents, api: httpx.AsyncClient, namespace: str,
                                                nats_client: Any) -> None:
    name = node_name()
    await agents.start("--node-name", name)
    manifest = pod_manifest("two", name)
    manifest["spec"]["containers"].append({"name": "side", "image": "busybox:1.36", "command": ["sleep", "1"]})
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=manifest)
    assert r.status_code == 201, r.text

    async def running() -> bool:
        pod = await get_json(api, f"/api/v1/namespaces/{namespace}/pods/two")
        return bool(pod and pod["status"].get("phase") == "Running")

    await eventually(running, timeout=15, message="pod not running")
    with pytest.raises(APIError) as err:
        async for _ in stream_logs(nats_client, name, LogRequest(namespace=namespace, pod="two")):
            pass
    assert err.value.code == 400
    assert "a container name must be specified for pod two, choose one of: [app side]" in str(err.value)
    with pytest.raises(APIError) as err:
        async for _ in stream_logs(nats_client, name, LogRequest(namespace=namespace, pod="nope")):
            pass
    assert err.value.code == 404
    chunks = [c async for c in stream_logs(nats_client, name, LogRequest(namespace=namespace, pod="two",
                                                                          container="app"))]
    assert chunks == [b""]  # accepted, and the fake runtime has no output


async def test_probes_drive_ready_and_restarts(agents: Agents, api: httpx.AsyncClient, namespace: str) -> None:
    name = node_name()
    [agent] = await agents.start("--node-name", name)
    runtime = agent.runtime
    assert isinstance(runtime, FakeRuntime)
    manifest = pod_manifest("probed", name)
    probe = {"exec": {"command": ["check"]}, "periodSeconds": 1, "failureThreshold": 1}
    manifest["spec"]["containers"][0]["readinessProbe"] = probe
    manifest["spec"]["containers"][0]["livenessProbe"] = {**probe, "exec": {"command": ["alive"]}}
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=manifest)
    assert r.status_code == 201, r.text
    uid = r.json()["metadata"]["uid"]

    async def ready_is(value: str) -> dict[str, Any] | None:
        pod = await get_json(api, f"/api/v1/namespaces/{namespace}/pods/probed")
        return pod if pod and (condition(pod, "Ready") or {}).get("status") == value else None

    await eventually(lambda: ready_is("True"), timeout=10, message="never Ready")
    runtime.exec_results[(uid, "app")] = 1  # both probes fail from now on
    await eventually(lambda: ready_is("False"), timeout=10, message="failing readiness did not unready")

    async def restarted() -> dict[str, Any] | None:
        pod = await get_json(api, f"/api/v1/namespaces/{namespace}/pods/probed")
        cs = (pod or {}).get("status", {}).get("containerStatuses") or [{}]
        return cs[0] if cs[0].get("restartCount", 0) >= 1 else None

    cs = await eventually(restarted, timeout=10, message="failing liveness did not restart the container")
    assert cs["lastState"]["terminated"]["exitCode"] != 0
    del runtime.exec_results[(uid, "app")]
    await eventually(lambda: ready_is("True"), timeout=10, message="not Ready again after probes recovered")


async def test_init_containers_then_app_and_completion(agents: Agents, api: httpx.AsyncClient,
                                                       namespace: str) -> None:
    name = node_name()
    [agent] = await agents.start("--node-name", name)
    runtime = agent.runtime
    assert isinstance(runtime, FakeRuntime)
    manifest = pod_manifest("job", name, restartPolicy="OnFailure")
    manifest["spec"]["initContainers"] = [{"name": "first", "image": "img", "command": ["true"]},
                                          {"name": "second", "image": "img", "command": ["true"]}]
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=manifest)
    assert r.status_code == 201, r.text

    def app_container() -> str | None:
        for c in runtime.containers.values():
            if c.pod_name == "job" and c.namespace == namespace and c.name == "app" and \
                    c.state == ContainerState.RUNNING:
                return c.id
        return None

    cid = await eventually(app_container, timeout=10, message="app container never started")
    inits = sorted((c for c in runtime.containers.values() if c.pod_name == "job" and c.init),
                   key=lambda c: c.created_at)
    assert [c.name for c in inits] == ["first", "second"]
    assert inits[0].finished_at <= inits[1].created_at, "init containers ran in order"
    runtime.exit_container(cid, 0)

    async def succeeded() -> dict[str, Any] | None:
        pod = await get_json(api, f"/api/v1/namespaces/{namespace}/pods/job")
        return pod if pod and pod["status"].get("phase") == "Succeeded" else None

    pod = await eventually(succeeded, timeout=10, message="pod did not succeed")
    assert [s["state"]["terminated"]["reason"] for s in pod["status"]["initContainerStatuses"]] == [
        "Completed", "Completed"]
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert (condition(pod, "Initialized") or {}).get("status") == "True"


async def test_orphan_containers_are_removed(agents: Agents, api: httpx.AsyncClient, namespace: str) -> None:
    name = node_name()
    [agent] = await agents.start("--node-name", name)
    runtime = agent.runtime
    assert isinstance(runtime, FakeRuntime)
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=pod_manifest("stays", name))
    assert r.status_code == 201, r.text
    await eventually(lambda: any(c.pod_name == "stays" for c in runtime.containers.values()), timeout=10,
                     message="pod never started")
    await agents.stop([agent])
    # While the agent is down a container of an unknown pod appears, and the pod is force-deleted.
    from kubelite_nodeagent.runtime.base import ContainerSpec, PodSandboxConfig

    sb = await runtime.create_sandbox(PodSandboxConfig(pod_uid="ghost", namespace=namespace, name="ghost",
                                                       hostname="ghost"))
    ghost = await runtime.create_container(sb, ContainerSpec(pod_uid="ghost", namespace=namespace, pod_name="ghost",
                                                             name="g", attempt=0, image="img", argv=["x"]))
    await runtime.start_container(ghost)
    r = await api.delete(f"/api/v1/namespaces/{namespace}/pods/stays?gracePeriodSeconds=0")
    assert r.status_code == 200, r.text
    await agents.start("--node-name", name)

    def cleaned() -> bool:
        names = {c.pod_name for c in runtime.containers.values()}
        return "ghost" not in names and "stays" not in names and "ghost" not in runtime.sandboxes

    await eventually(cleaned, timeout=10, message="orphaned containers were not removed")


async def test_events_are_recorded_when_enabled(agents: Agents, api: httpx.AsyncClient, namespace: str) -> None:
    name = node_name()
    await agents.start("--node-name", name, "--events")
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=pod_manifest("evented", name))
    assert r.status_code == 201, r.text

    async def reasons() -> set[str] | None:
        r = await api.get(f"/api/v1/namespaces/{namespace}/events")
        assert r.status_code == 200, r.text
        found = {(e["reason"], e["message"]) for e in r.json()["items"]
                 if e["involvedObject"].get("name") == "evented"}
        return found if {"Created", "Started"} <= {reason for reason, _ in found} else None

    found = await eventually(reasons, timeout=10, message="no Created/Started events")
    assert ("Started", "Started container app") in found


async def test_active_deadline_fails_the_pod(agents: Agents, api: httpx.AsyncClient, namespace: str) -> None:
    name = node_name()
    [agent] = await agents.start("--node-name", name)
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods",
                       json=pod_manifest("limited", name, activeDeadlineSeconds=2))
    assert r.status_code == 201, r.text

    async def failed() -> dict[str, Any] | None:
        pod = await get_json(api, f"/api/v1/namespaces/{namespace}/pods/limited")
        return pod if pod and pod["status"].get("phase") == "Failed" else None

    pod = await eventually(failed, timeout=15, message="pod past its active deadline did not fail")
    assert pod["status"]["reason"] == "DeadlineExceeded"
    assert pod["status"]["message"] == "Pod was active on the node longer than the specified deadline"
    runtime = agent.runtime
    assert isinstance(runtime, FakeRuntime)
    assert all(c.state != ContainerState.RUNNING for c in runtime.containers.values() if c.pod_name == "limited")


async def test_remove_pods_on_exit(agents: Agents, api: httpx.AsyncClient, namespace: str) -> None:
    name = node_name()
    [agent] = await agents.start("--node-name", name)
    runtime = agent.runtime
    assert isinstance(runtime, FakeRuntime)
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=pod_manifest("bye", name))
    assert r.status_code == 201, r.text
    await eventually(lambda: runtime.containers and runtime.sandboxes, timeout=10, message="pod never started")
    [entry] = [e for e in agents.running if e[1][0] is agent]
    agents.running.remove(entry)
    await stop_agents(entry[1], remove_pods=True)
    await entry[0].close()
    assert not runtime.containers and not runtime.sandboxes


async def test_node_not_ready_while_the_runtime_is_down(agents: Agents, api: httpx.AsyncClient) -> None:
    name = node_name()
    [agent] = await agents.start("--node-name", name)
    healthy = True

    async def runtime_ok() -> bool:
        if not healthy:
            raise ConnectionError("runtime socket refused")
        return True

    agent.registrar.runtime_ok = runtime_ok

    async def ready_status(value: str) -> dict[str, Any] | None:
        node = await get_json(api, f"/api/v1/nodes/{name}")
        c = condition(node or {}, "Ready")
        return c if c and c["status"] == value else None

    healthy = False
    c = await eventually(lambda: ready_status("False"), timeout=10, message="node stayed Ready")
    assert c["reason"] == "KubeletNotReady" and c["message"] == "container runtime is down"
    healthy = True
    await eventually(lambda: ready_status("True"), timeout=10, message="node did not become Ready again")


async def test_sidecar_runs_alongside_and_stops_when_the_pod_completes(
    agents: Agents, api: httpx.AsyncClient, namespace: str
) -> None:
    name = node_name()
    [agent] = await agents.start("--node-name", name)
    runtime = agent.runtime
    assert isinstance(runtime, FakeRuntime)
    manifest = pod_manifest("withside", name, restartPolicy="Never")
    manifest["spec"]["initContainers"] = [
        {"name": "proxy", "image": "img", "command": ["proxy"], "restartPolicy": "Always"},
        {"name": "setup", "image": "img", "command": ["true"]},
    ]
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=manifest)
    assert r.status_code == 201, r.text

    def containers() -> dict[str, Any]:
        return {c.name: c for c in runtime.containers.values() if c.pod_name == "withside"}

    app = await eventually(lambda: (containers().get("app") if containers().get("app") and
                                    containers()["app"].state == ContainerState.RUNNING else None),
                           timeout=10, message="app never started")
    found = containers()
    assert found["proxy"].state == ContainerState.RUNNING, "the sidecar must keep running"
    assert found["proxy"].started_at <= found["setup"].created_at, "the sidecar starts before the next init"
    assert found["setup"].exit_code == 0

    async def running_with_sidecar_ready() -> dict[str, Any] | None:
        pod = await get_json(api, f"/api/v1/namespaces/{namespace}/pods/withside")
        st = (pod or {}).get("status", {})
        inits = {s["name"]: s for s in st.get("initContainerStatuses") or []}
        ok = st.get("phase") == "Running" and "running" in inits.get("proxy", {}).get("state", {})
        return pod if ok and inits["proxy"].get("ready") else None

    await eventually(running_with_sidecar_ready, timeout=10, message="sidecar not reported running and ready")
    runtime.exit_container(app.id, 0)

    async def succeeded() -> bool:
        pod = await get_json(api, f"/api/v1/namespaces/{namespace}/pods/withside")
        return bool(pod and pod["status"].get("phase") == "Succeeded")

    await eventually(succeeded, timeout=10, message="pod did not succeed with its sidecar running")
    await eventually(lambda: containers()["proxy"].state == ContainerState.EXITED, timeout=10,
                     message="the sidecar was not stopped after the pod completed")


async def test_token_and_downward_api_files_follow_the_pod(agents: Agents, api: httpx.AsyncClient,
                                                           namespace: str) -> None:
    """The projected token volume holds a JWT the apiserver accepts for the pod's account; a
    downwardAPI file is rewritten when the running pod's labels change (as the kubelet does)."""
    name = node_name()
    [agent] = await agents.start("--node-name", name)
    manifest = pod_manifest("dw", name, volumes=[{"name": "info", "downwardAPI": {"items": [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}])
    manifest["metadata"]["labels"] = {"tier": "a"}
    manifest["spec"]["containers"][0]["volumeMounts"] = [{"name": "info", "mountPath": "/etc/info"}]
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=manifest)
    assert r.status_code == 201, r.text
    uid = r.json()["metadata"]["uid"]
    volumes = Path(agent.syncer.pod_dir(uid)) / "volumes"
    labels = volumes / "kubernetes.io~downward-api" / "info" / "labels"

    def label_file() -> str:
        return labels.read_text() if labels.is_file() else ""

    await eventually(lambda: label_file() == 'tier="a"', timeout=15, message="downward API file not written")
    [token_dir] = list((volumes / "kubernetes.io~projected").iterdir())
    token = (token_dir / "token").read_text()
    assert (token_dir / "namespace").read_text() == namespace and (token_dir / "ca.crt").read_text().startswith("-----")
    review = await api.post("/apis/authentication.k8s.io/v1/tokenreviews", json={"spec": {"token": token}})
    assert review.json()["status"]["user"]["username"] == f"system:serviceaccount:{namespace}:default", review.text
    r = await api.patch(f"/api/v1/namespaces/{namespace}/pods/dw", json={"metadata": {"labels": {"tier": "b"}}},
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    await eventually(lambda: label_file() == 'tier="b"', timeout=15, message="downward API file kept old labels")


async def test_a_token_refused_at_first_is_fetched_again_when_the_account_exists(
    agents: Agents, api: httpx.AsyncClient, namespace: str
) -> None:
    """The agent asks for the pod's token while it makes the sandbox; refused then (the account
    is gone), the pod waits in ContainerCreating with the reason, no container is made, and it
    starts once the account exists again."""
    name = node_name()
    accounts = f"/api/v1/namespaces/{namespace}/serviceaccounts"
    r = await api.post(accounts, json={"metadata": {"name": "reader"}})
    assert r.status_code == 201, r.text
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods",
                       json=pod_manifest("tok", name, serviceAccountName="reader"))
    assert r.status_code == 201, r.text
    r = await api.delete(f"{accounts}/reader")
    assert r.status_code == 200, r.text
    [agent] = await agents.start("--node-name", name)
    runtime = agent.runtime
    assert isinstance(runtime, FakeRuntime)

    async def waiting() -> dict[str, Any] | None:
        pod = await get_json(api, f"/api/v1/namespaces/{namespace}/pods/tok")
        [status] = (pod or {}).get("status", {}).get("containerStatuses") or [{}]
        return status.get("state", {}).get("waiting")

    state = await eventually(waiting, timeout=15, message="the pod never reported why it waits")
    assert state["reason"] == "ContainerCreating" and "failed to fetch token" in state["message"], state
    assert not [c for c in runtime.containers.values() if c.pod_name == "tok"], "a container without its token"
    r = await api.post(accounts, json={"metadata": {"name": "reader"}})
    assert r.status_code == 201, r.text

    async def running() -> bool:
        pod = await get_json(api, f"/api/v1/namespaces/{namespace}/pods/tok")
        return bool(pod and pod["status"].get("phase") == "Running")

    await eventually(running, timeout=15, message="the pod did not start once its account existed")


async def test_root_ca_is_read_once_per_namespace_then_followed(agents: Agents, api: httpx.AsyncClient,
                                                                namespace: str) -> None:
    """kube-root-ca.crt, which every pod's token volume projects, is read at the first pod of a
    namespace and then kept current from its change events: a pod started after an edit gets the
    new content."""
    name = node_name()
    [agent] = await agents.start("--node-name", name, root_ca=True)
    cache = agent.syncer.shared.root_ca
    assert cache is not None and cache.cached(namespace) is None

    async def ca_file(pod: str) -> str:
        r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=pod_manifest(pod, name))
        assert r.status_code == 201, r.text
        volumes = Path(agent.syncer.pod_dir(r.json()["metadata"]["uid"])) / "volumes" / "kubernetes.io~projected"

        def text() -> str:
            found = list(volumes.glob("*/ca.crt")) if volumes.is_dir() else []
            return found[0].read_text() if found else ""

        return await eventually(text, timeout=15, message=f"pod {pod} got no ca.crt")

    cm_path = f"/api/v1/namespaces/{namespace}/configmaps/kube-root-ca.crt"
    stored = await get_json(api, cm_path)
    assert stored is not None, "the namespace has no kube-root-ca.crt"
    assert await ca_file("first") == stored["data"]["ca.crt"]
    cached = cache.cached(namespace)
    assert cached is not None and cached.metadata.resourceVersion == stored["metadata"]["resourceVersion"]

    edited = "-----BEGIN CERTIFICATE-----\nEDITED\n-----END CERTIFICATE-----\n"
    r = await api.patch(cm_path, json={"data": {"ca.crt": edited}},
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    new_rv = r.json()["metadata"]["resourceVersion"]
    await eventually(lambda: (c := cache.cached(namespace)) is not None and c.metadata.resourceVersion == new_rv,
                     timeout=10, message="the cache did not follow the ConfigMap's change event")
    assert await ca_file("second") == edited
