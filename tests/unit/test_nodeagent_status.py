"""Pod status computation (phase, conditions, container states), node building, flags, adoption."""

from __future__ import annotations

import msgspec
import pytest

from kubelite.api.core_v1 import (
    Container,
    ContainerStateRunning,
    ContainerStateTerminated,
    ContainerStateWaiting,
    ContainerStatus,
    Pod,
    PodCondition,
    PodStatus,
)
from kubelite.api.core_v1 import (
    ContainerState as KState,
)
from kubelite.durations import parse_duration
from kubelite_nodeagent import nodeinfo
from kubelite_nodeagent.config import node_index, parse_args, subnet_for
from kubelite_nodeagent.podstate import adopt
from kubelite_nodeagent.podstatus import ContainerView, compute_status, container_status, pod_phase
from kubelite_nodeagent.runtime.base import ContainerInfo, ContainerState, PodSandbox


def pod(policy: str = "Always", init: int = 0, containers: int = 1, status: dict | None = None) -> Pod:
    return msgspec.convert({
        "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
        "spec": {
            "restartPolicy": policy,
            "initContainers": [{"name": f"i{i}", "image": "img"} for i in range(init)] or None,
            "containers": [{"name": f"c{i}", "image": "img"} for i in range(containers)],
        },
        "status": status or {"phase": "Pending", "qosClass": "BestEffort"},
    }, Pod)


def running(name: str) -> ContainerStatus:
    return ContainerStatus(name=name, state=KState(running=ContainerStateRunning(startedAt="t")))


def terminated(name: str, code: int) -> ContainerStatus:
    return ContainerStatus(name=name, state=KState(terminated=ContainerStateTerminated(exitCode=code)))


def waiting(name: str, last_code: int | None = None) -> ContainerStatus:
    last = KState(terminated=ContainerStateTerminated(exitCode=last_code)) if last_code is not None else None
    return ContainerStatus(name=name, state=KState(waiting=ContainerStateWaiting(reason="X")), lastState=last)


@pytest.mark.parametrize(("policy", "statuses", "phase"), [
    ("Always", [running("c0")], "Running"),
    ("Always", [waiting("c0")], "Pending"),
    ("Always", [terminated("c0", 0)], "Running"),
    ("Always", [waiting("c0", last_code=1)], "Running"),  # CrashLoopBackOff
    ("OnFailure", [terminated("c0", 0)], "Succeeded"),
    ("OnFailure", [terminated("c0", 1)], "Running"),
    ("Never", [terminated("c0", 0)], "Succeeded"),
    ("Never", [terminated("c0", 2)], "Failed"),
    ("Never", [], "Pending"),
])
def test_phase_of_one_container(policy: str, statuses: list[ContainerStatus], phase: str) -> None:
    assert pod_phase(pod(policy), [], statuses) == phase


def test_phase_with_several_containers() -> None:
    p = pod("Never", containers=2)
    assert pod_phase(p, [], [terminated("c0", 0), running("c1")]) == "Running"
    assert pod_phase(p, [], [terminated("c0", 0), terminated("c1", 1)]) == "Failed"
    assert pod_phase(p, [], [terminated("c0", 0), terminated("c1", 0)]) == "Succeeded"
    assert pod_phase(p, [], [running("c0")]) == "Pending", "a container without status is unknown"


def test_phase_with_init_containers() -> None:
    p = pod("Always", init=2)
    assert pod_phase(p, [running("i0")], [waiting("c0")]) == "Pending"
    assert pod_phase(p, [terminated("i0", 0), terminated("i1", 0)], [running("c0")]) == "Running"
    assert pod_phase(pod("Never", init=1), [terminated("i0", 1)], [waiting("c0")]) == "Failed"
    assert pod_phase(pod("OnFailure", init=1), [waiting("i0", last_code=1)], [waiting("c0")]) == "Pending"


def info(cid: str, state: ContainerState, attempt: int = 0, code: int | None = None, reason: str = "",
         name: str = "c0", uid: str = "u", init: bool = False) -> ContainerInfo:
    return ContainerInfo(id=cid, pod_uid=uid, namespace="ns", pod_name="p", name=name, attempt=attempt, state=state,
                         exit_code=code, reason=reason, created_at=attempt, started_at=1000.0,
                         finished_at=1010.0 if state == ContainerState.EXITED else 0.0, init=init)


def test_container_status_states() -> None:
    st = container_status(ContainerView(name="c0", image="img"))
    assert st.state.waiting.reason == "ContainerCreating" and st.restartCount == 0 and st.ready is False
    st = container_status(ContainerView(name="c0", image="img", current=info("a", ContainerState.RUNNING),
                                        ready=True, started=True))
    assert st.state.running.startedAt == "1970-01-01T00:16:40Z" and st.ready and st.started
    assert st.containerID == "fake://a"
    st = container_status(ContainerView(name="c0", image="img",
                                        current=info("b", ContainerState.EXITED, attempt=3, code=137,
                                                     reason="OOMKilled"),
                                        restart_count=3, waiting_reason="CrashLoopBackOff",
                                        waiting_message="back-off 40s"))
    assert st.state.waiting.reason == "CrashLoopBackOff"
    assert st.lastState.terminated.exitCode == 137 and st.lastState.terminated.reason == "OOMKilled"
    assert st.restartCount == 3 and not st.ready
    st = container_status(ContainerView(name="c0", image="img", current=info("c", ContainerState.EXITED, code=0)))
    assert st.state.terminated.reason == "Completed" and st.state.terminated.exitCode == 0
    st = container_status(ContainerView(name="c0", image="img", current=info("c", ContainerState.EXITED, code=1)))
    assert st.state.terminated.reason == "Error"


def test_compute_status_conditions_and_ips() -> None:
    p = pod("Always", status={"phase": "Pending", "qosClass": "BestEffort",
                              "conditions": [{"type": "PodScheduled", "status": "True",
                                              "lastTransitionTime": "2020-01-01T00:00:00Z"}]})
    views = [ContainerView(name="c0", image="img", current=info("a", ContainerState.RUNNING), ready=False,
                           started=True)]
    status = compute_status(p, [], views, pod_ip="10.244.1.2", host_ip="192.0.2.1", now=2000.0)
    assert status.phase == "Running"
    assert status.podIP == "10.244.1.2" and status.podIPs[0].ip == "10.244.1.2"
    assert status.hostIP == "192.0.2.1" and status.qosClass == "BestEffort"
    assert status.startTime == "1970-01-01T00:33:20Z"
    conds = {c.type: c for c in status.conditions}
    assert conds["Initialized"].status == "True"
    assert conds["ContainersReady"].status == "False"
    assert conds["ContainersReady"].reason == "ContainersNotReady"
    assert conds["ContainersReady"].message == "containers with unready status: [c0]"
    assert conds["Ready"].status == "False"
    assert conds["PodScheduled"].lastTransitionTime == "2020-01-01T00:00:00Z", "kept as it was"

    # ready now: transition time moves for Ready, not for Initialized
    p2 = msgspec.structs.replace(p, status=status)
    views[0].ready = True
    later = compute_status(p2, [], views, pod_ip="10.244.1.2", host_ip="192.0.2.1", now=3000.0)
    conds2 = {c.type: c for c in later.conditions}
    assert conds2["Ready"].status == "True" and conds2["Ready"].lastTransitionTime == "1970-01-01T00:50:00Z"
    assert conds2["Initialized"].lastTransitionTime == conds["Initialized"].lastTransitionTime
    assert later.startTime == status.startTime


def test_pending_init_shows_pod_initializing() -> None:
    p = pod("Always", init=1)
    init = [ContainerView(name="i0", image="img", current=info("i", ContainerState.RUNNING, name="i0", init=True))]
    status = compute_status(p, init, [ContainerView(name="c0", image="img")], pod_ip="", host_ip="h", now=1.0)
    assert status.phase == "Pending"
    assert status.containerStatuses[0].state.waiting.reason == "PodInitializing"
    conds = {c.type: c for c in status.conditions}
    assert conds["Initialized"].status == "False"
    assert conds["Initialized"].message == "containers with incomplete status: [i0]"


def test_terminal_phase_sticks() -> None:
    p = pod("Always", status={"phase": "Succeeded"})
    views = [ContainerView(name="c0", image="img", current=info("a", ContainerState.RUNNING))]
    assert compute_status(p, [], views, pod_ip="", host_ip="", now=1).phase == "Succeeded"
    done = compute_status(pod("Never", status={"phase": "Running", "conditions": [
        PodCondition(type="PodScheduled", status="True")]}), [],
        [ContainerView(name="c0", image="img", current=info("a", ContainerState.EXITED, code=0))],
        pod_ip="", host_ip="", now=1)
    assert done.phase == "Succeeded"
    assert {c.type: c.reason for c in done.conditions}["Ready"] == "PodCompleted"


def test_adopt_picks_latest_attempt_and_keeps_one_previous() -> None:
    containers = [
        info("a0", ContainerState.EXITED, attempt=0, code=1),
        info("a1", ContainerState.EXITED, attempt=1, code=1),
        info("a2", ContainerState.RUNNING, attempt=2),
        info("x", ContainerState.RUNNING, name="side"),
        info("o", ContainerState.RUNNING, uid="other"),
    ]
    states = adopt(containers, [PodSandbox(id="sb", pod_uid="u", ip="10.0.0.2")])
    st = states["u"]
    assert st.sandbox is not None and st.sandbox.ip == "10.0.0.2"
    assert st.containers["c0"].current.id == "a2" and st.containers["c0"].previous.id == "a1"
    assert st.containers["c0"].restart_count == 2
    assert st.surplus == ["a0"]
    assert st.containers["side"].current.id == "x"
    assert set(states) == {"u", "other"}


def test_node_capacity_allocatable_and_conditions() -> None:
    facts = nodeinfo.HostFacts(cpu_millis=2000, memory_bytes=4 * 1024**3, hostname="h", internal_ip="192.0.2.9")
    settings = nodeinfo.NodeSettings(name="n1", pod_cidr="10.244.1.0/24", labels={"zone": "a"},
                                     taints=nodeinfo.parse_taints("dedicated=infra:NoSchedule,gpu:NoExecute"),
                                     system_reserved={"cpu": "100m", "memory": "256Mi"})
    conds = nodeinfo.node_conditions(nodeinfo.Pressure(), True, "t0", None)
    node = nodeinfo.build_node(settings, facts, conds)
    assert node.status.capacity == {"cpu": "2", "memory": "4194304Ki", "pods": "110"}
    assert node.status.allocatable == {"cpu": "1900m", "memory": "3840Mi", "pods": "110"}
    assert node.metadata.labels["kubernetes.io/hostname"] == "n1" and node.metadata.labels["zone"] == "a"
    assert [(t.key, t.value, t.effect) for t in node.spec.taints] == [
        ("dedicated", "infra", "NoSchedule"), ("gpu", None, "NoExecute")]
    assert [(a.type, a.address) for a in node.status.addresses] == [("InternalIP", "192.0.2.9"), ("Hostname", "n1")]
    later = nodeinfo.node_conditions(nodeinfo.Pressure(memory=True), True, "t1", conds)
    assert nodeinfo.conditions_changed(conds, later)
    by_type = {c.type: c for c in later}
    assert by_type["MemoryPressure"].status == "True" and by_type["MemoryPressure"].lastTransitionTime == "t1"
    assert by_type["Ready"].lastTransitionTime == "t0"
    same = nodeinfo.node_conditions(nodeinfo.Pressure(memory=True), True, "t2", later)
    assert not nodeinfo.conditions_changed(later, same)
    with pytest.raises(ValueError):
        nodeinfo.parse_taints("key=value:Sometimes")


def test_flags_and_pod_cidrs() -> None:
    assert parse_duration("10s") == 10 and parse_duration("500ms") == 0.5 and parse_duration("2m") == 120
    assert parse_duration("3") == 3
    assert subnet_for("10.244.0.0/16", 3) == "10.244.3.0/24"
    assert subnet_for("10.244.0.0/16", 256 + 5) == "10.244.5.0/24"
    assert node_index("node-7") == 7 and node_index("abc") == node_index("abc")
    cfg = parse_args(["--node-name", "node-2", "--runtime", "fake", "--root-dir", "/tmp/x",
                      "--node-labels", "a=b", "--system-reserved", "cpu=100m", "--fake-nodes", "3"])
    assert cfg.node_names() == ["node-2-0", "node-2-1", "node-2-2"]
    assert [cfg.pod_cidr_for(n, i) for i, n in enumerate(cfg.node_names())] == [
        "10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]
    assert cfg.root_dir_for("node-2-1") == "/tmp/x/node-2-1"
    second = parse_args(["--node-name", "node-2", "--runtime", "fake", "--fake-nodes", "2", "--fake-node-offset", "3"])
    assert second.node_names() == ["node-2-3", "node-2-4"]  # a second simulator process: no name shared
    with pytest.raises(SystemExit):
        parse_args(["--node-name", "n", "--runtime", "fake", "--fake-node-offset", "3"])
    single = parse_args(["--node-name", "node-4", "--data-dir", "/d"])
    assert single.pod_cidr_for("node-4", 0) == "" and single.root_dir == "/d"  # node IPAM assigns it
    fake = parse_args(["--node-name", "node-4", "--runtime", "fake"])
    assert fake.pod_cidr_for("node-4", 0) == "10.244.4.0/24"  # fake pods have no network to share
    given = parse_args(["--node-name", "n", "--pod-cidr", "10.9.0.0/24"])
    assert given.pod_cidr_for("n", 0) == "10.9.0.0/24"


def test_status_struct_compares_by_value() -> None:
    from kubelite_nodeagent.podstatus import status_differs

    a = PodStatus(phase="Running", podIP="1")
    assert not status_differs(a, PodStatus(phase="Running", podIP="1"))
    assert status_differs(a, PodStatus(phase="Running", podIP="2"))
    assert status_differs(None, a)


def test_adopted_trackers_resume_from_reported_status() -> None:
    from kubelite_nodeagent.podspec import adopted_trackers
    from kubelite_nodeagent.probes import READINESS, STARTUP, Result

    p = msgspec.convert({
        "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
        "spec": {"containers": [{"name": "c", "image": "i",
                                 "readinessProbe": {"exec": {"command": ["x"]}},
                                 "startupProbe": {"exec": {"command": ["x"]}}}]},
        "status": {"containerStatuses": [{"name": "c", "containerID": "process://abc", "ready": True,
                                          "started": True}]},
    }, Pod)
    c = p.spec.containers[0]
    resumed = adopted_trackers(p, c, "abc")
    assert resumed[READINESS].result == Result.SUCCESS and resumed[STARTUP].result == Result.SUCCESS
    other = adopted_trackers(p, c, "different-container")
    assert other[READINESS].result == Result.FAILURE and other[STARTUP].result == Result.UNKNOWN


def test_active_deadline_and_failed_reason() -> None:
    from kubelite_nodeagent.podspec import active_deadline

    p = msgspec.convert({"metadata": {"name": "p"}, "spec": {"activeDeadlineSeconds": 30, "containers": []},
                         "status": {"startTime": "1970-01-01T00:01:00Z"}}, Pod)
    assert active_deadline(p) == 90
    assert active_deadline(pod()) is None
    status = compute_status(pod(), [], [ContainerView(name="c0", image="img",
                                                      current=info("a", ContainerState.EXITED, code=143))],
                            pod_ip="", host_ip="", now=1, failed_reason="DeadlineExceeded")
    assert status.phase == "Failed" and status.reason == "DeadlineExceeded"


def test_phase_and_conditions_with_a_sidecar() -> None:
    from kubelite_nodeagent.podstatus import pod_conditions

    p = msgspec.convert({
        "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
        "spec": {"initContainers": [{"name": "side", "image": "i", "restartPolicy": "Always"},
                                    {"name": "setup", "image": "i"}],
                 "containers": [{"name": "app", "image": "i"}], "restartPolicy": "Never"},
    }, Pod)
    side_running = msgspec.structs.replace(running("side"), started=True, ready=True)
    assert pod_phase(p, [running("side"), waiting("setup")], [waiting("app")]) == "Pending"
    app_running = msgspec.structs.replace(running("app"), ready=True)
    assert pod_phase(p, [side_running, terminated("setup", 0)], [app_running]) == "Running"
    # the app finishing decides the phase; the sidecar still running does not keep it Running
    assert pod_phase(p, [side_running, terminated("setup", 0)], [terminated("app", 0)]) == "Succeeded"
    conds = {c.type: c for c in pod_conditions(p, "Running", [side_running, terminated("setup", 0)],
                                               [app_running])}
    assert conds["Initialized"].status == "True" and conds["ContainersReady"].status == "True"
    unready_side = msgspec.structs.replace(side_running, ready=False)
    conds = {c.type: c for c in pod_conditions(p, "Running", [unready_side, terminated("setup", 0)],
                                               [app_running])}
    assert conds["ContainersReady"].message == "containers with unready status: [side]"


def test_pod_spec_helpers() -> None:
    from kubelite_nodeagent.podspec import (
        container_resources,
        default_pull_policy,
        pod_label,
        port_mappings,
        should_restart,
    )

    assert default_pull_policy("busybox") == "Always"
    assert default_pull_policy("busybox:latest") == "Always"
    assert default_pull_policy("busybox:1.36") == "IfNotPresent"
    assert default_pull_policy("registry:5000/busybox") == "Always"
    assert default_pull_policy("busybox@sha256:abc") == "IfNotPresent"
    assert should_restart("Always", 0) and should_restart("OnFailure", 1)
    assert not should_restart("OnFailure", 0) and not should_restart("Never", 1)
    p = msgspec.convert({"metadata": {"name": "web", "namespace": "prod", "uid": "u1"}, "spec": {"containers": [
        {"name": "a", "ports": [{"containerPort": 80, "hostPort": 8080, "protocol": "UDP"}, {"containerPort": 81}],
         "resources": {"limits": {"cpu": "1500m", "memory": "64Mi"}}}]}}, Pod)
    assert pod_label(p) == "web_prod(u1)"
    assert [(m.container_port, m.host_port, m.protocol) for m in port_mappings(p)] == [(80, 8080, "UDP")]
    limits = container_resources(p.spec.containers[0])
    assert (limits.cpu_millis, limits.memory_bytes) == (1500, 64 * 1024 * 1024)
    assert container_resources(msgspec.convert({"name": "b"}, Container)).cpu_millis is None
