"""Pod status as the kubelet computes it, from what the agent knows of each container.

Pure functions: `container_status()` renders one ContainerStatus,
`pod_phase()` is the kubelet's getPhase, `pod_conditions()` the
Initialized/ContainersReady/Ready conditions, and `compute_status()` the whole
PodStatus (keeping lastTransitionTime and startTime from the previous status).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from kubelite.api.core_v1 import (
    ContainerState,
    ContainerStateRunning,
    ContainerStateTerminated,
    ContainerStateWaiting,
    ContainerStatus,
    HostIP,
    Pod,
    PodCondition,
    PodIP,
    PodStatus,
)
from kubelite_nodeagent.runtime.base import ContainerInfo
from kubelite_nodeagent.runtime.base import ContainerState as RState

PENDING, RUNNING, SUCCEEDED, FAILED = "Pending", "Running", "Succeeded", "Failed"
TERMINAL_PHASES = (SUCCEEDED, FAILED)


def rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@dataclass
class ContainerView:
    """The agent's knowledge of one container of the spec."""

    name: str
    image: str
    current: ContainerInfo | None = None  # latest attempt in the runtime
    last_terminated: ContainerInfo | None = None  # the attempt before `current`, if it ended
    restart_count: int = 0
    waiting_reason: str = ""  # set when the agent is waiting (back-off, image, config error)
    waiting_message: str = ""
    ready: bool = False
    started: bool = False
    runtime_name: str = "fake"


def terminated_state(info: ContainerInfo, runtime_name: str) -> ContainerStateTerminated:
    code = info.exit_code if info.exit_code is not None else 0
    reason = info.reason or ("Completed" if code == 0 else "Error")
    return ContainerStateTerminated(
        exitCode=code,
        reason=reason,
        message=info.message or None,
        startedAt=rfc3339(info.started_at) if info.started_at else None,
        finishedAt=rfc3339(info.finished_at) if info.finished_at else None,
        containerID=f"{runtime_name}://{info.id}",
    )


def container_status(view: ContainerView, default_waiting: str = "ContainerCreating") -> ContainerStatus:
    cur = view.current
    state: ContainerState
    last = ContainerState()
    if view.last_terminated is not None:
        last = ContainerState(terminated=terminated_state(view.last_terminated, view.runtime_name))
    if view.waiting_reason:
        state = ContainerState(waiting=ContainerStateWaiting(
            reason=view.waiting_reason, message=view.waiting_message or None))
        if cur is not None and cur.state == RState.EXITED:
            # Waiting to restart (back-off): the attempt that ended is the last state.
            last = ContainerState(terminated=terminated_state(cur, view.runtime_name))
    elif cur is None or cur.state in (RState.CREATED, RState.UNKNOWN):
        state = ContainerState(waiting=ContainerStateWaiting(reason=default_waiting))
    elif cur.state == RState.RUNNING:
        state = ContainerState(running=ContainerStateRunning(
            startedAt=rfc3339(cur.started_at) if cur.started_at else None))
    else:
        state = ContainerState(terminated=terminated_state(cur, view.runtime_name))
    running = cur is not None and cur.state == RState.RUNNING and not view.waiting_reason
    return ContainerStatus(
        name=view.name,
        state=state,
        lastState=last,
        ready=bool(view.ready and running),
        restartCount=view.restart_count,
        image=view.image,
        imageID=(cur.image_id if cur is not None and cur.image_id else ""),
        containerID=f"{view.runtime_name}://{cur.id}" if cur is not None else None,
        started=bool(view.started and running),
    )


def pod_phase(pod: Pod, init_statuses: list[ContainerStatus], statuses: list[ContainerStatus]) -> str:
    """kubelet getPhase: the pod phase from its containers' states and restartPolicy."""
    spec = pod.spec
    policy = (spec.restartPolicy if spec else None) or "Always"
    by_name = {s.name: s for s in init_statuses}
    pending_init = failed_init = 0
    for c in (spec.initContainers or []) if spec else []:
        s = by_name.get(c.name)
        if c.restartPolicy == "Always":  # a sidecar: initialized once running and started
            if s is None or s.state is None or s.state.running is None or not s.started:
                pending_init += 1
            continue
        if s is None or s.state is None:
            pending_init += 1
        elif s.state.running is not None:
            pending_init += 1
        elif s.state.terminated is not None:
            if s.state.terminated.exitCode != 0:
                failed_init += 1
        elif s.state.waiting is not None:
            lt = s.lastState.terminated if s.lastState else None
            if lt is not None and lt.exitCode != 0:
                failed_init += 1
            else:
                pending_init += 1
        else:
            pending_init += 1

    unknown = running = waiting = stopped = succeeded = 0
    by_name = {s.name: s for s in statuses}
    for c in (spec.containers or []) if spec else []:
        s = by_name.get(c.name)
        if s is None or s.state is None:
            unknown += 1
        elif s.state.running is not None:
            running += 1
        elif s.state.terminated is not None:
            stopped += 1
            if s.state.terminated.exitCode == 0:
                succeeded += 1
        elif s.state.waiting is not None:
            if s.lastState is not None and s.lastState.terminated is not None:
                stopped += 1
            else:
                waiting += 1
        else:
            unknown += 1

    # Once an app container has run, a restarting sidecar no longer makes the pod Pending.
    initialized = any(
        s.state is not None and (s.state.running is not None or s.state.terminated is not None
                                 or (s.lastState is not None and s.lastState.terminated is not None))
        for s in statuses
    )
    if failed_init > 0 and policy == "Never":
        return FAILED
    if (pending_init > 0 and not initialized) or failed_init > 0 or waiting > 0:
        return PENDING
    if running > 0 and unknown == 0:
        return RUNNING
    if running == 0 and stopped > 0 and unknown == 0:
        if policy == "Always":
            return RUNNING
        if stopped == succeeded:
            return SUCCEEDED
        if policy == "Never":
            return FAILED
        return RUNNING
    return PENDING


def _condition(ctype: str, ok: bool, reason: str = "", message: str = "") -> PodCondition:
    return PodCondition(type=ctype, status="True" if ok else "False",
                        reason=None if ok else (reason or None), message=None if ok else (message or None))


def unmet_readiness_gates(pod: Pod) -> list[str]:
    """Why each of the pod's readiness gates holds it back, from the conditions others wrote in
    its status (the kubelet's GeneratePodReadyCondition): a pod is Ready only when its containers
    are and every gate's condition is True. Example: gates `lb` (no condition yet) and `dns`
    (False) give ['corresponding condition of pod readiness gate "lb" does not exist.',
    'the status of pod readiness gate "dns" is not "True", but False']."""
    current = {c.type: c.status for c in (pod.status.conditions or [] if pod.status else [])}
    unmet = []
    for gate in (pod.spec.readinessGates or [] if pod.spec else []):
        status = current.get(gate.conditionType)
        if status is None:
            unmet.append(f'corresponding condition of pod readiness gate "{gate.conditionType}" does not exist.')
        elif status != "True":
            unmet.append(f'the status of pod readiness gate "{gate.conditionType}" is not "True", but {status}')
    return unmet


def pod_conditions(
    pod: Pod, phase: str, init_statuses: list[ContainerStatus], statuses: list[ContainerStatus]
) -> list[PodCondition]:
    """PodScheduled (kept), Initialized, ContainersReady, Ready, as the kubelet generates them."""
    spec = pod.spec
    init_names = [c.name or "" for c in (spec.initContainers or [] if spec else [])]
    by_init = {s.name: s for s in init_statuses}
    sidecars = {c.name for c in (spec.initContainers or [] if spec else []) if c.restartPolicy == "Always"}
    incomplete = [n for n in init_names
                  if not ((s := by_init.get(n)) and s.state and (
                      (s.state.terminated and s.state.terminated.exitCode == 0)
                      or (n in sidecars and s.state.running and s.started)))]
    if phase in TERMINAL_PHASES or phase == RUNNING:
        incomplete = []  # once running or done the pod has initialized
    initialized = _condition("Initialized", not incomplete, "ContainersNotInitialized",
                             f"containers with incomplete status: [{' '.join(incomplete)}]")

    names = [c.name or "" for c in (spec.containers or [] if spec else [])]
    by_name = {s.name: s for s in statuses}
    # sidecars count for ContainersReady, as in Kubernetes
    unready = [n for n in [*[n for n in init_names if n in sidecars], *names]
               if not ((s := by_name.get(n) or by_init.get(n)) and s.ready)]
    if phase == SUCCEEDED:
        ready = _condition("ContainersReady", False, "PodCompleted")
    elif phase == FAILED:
        ready = _condition("ContainersReady", False, "PodFailed")
    elif incomplete:
        ready = _condition("ContainersReady", False, "ContainersNotInitialized",
                           f"containers with incomplete status: [{' '.join(incomplete)}]")
    else:
        ready = _condition("ContainersReady", not unready, "ContainersNotReady",
                           f"containers with unready status: [{' '.join(unready)}]")
    pod_ready = PodCondition(type="Ready", status=ready.status, reason=ready.reason, message=ready.message)
    if ready.status == "True" and (unmet := unmet_readiness_gates(pod)):
        pod_ready = _condition("Ready", False, "ReadinessGatesNotReady", ", ".join(unmet))
    scheduled = PodCondition(type="PodScheduled", status="True")
    for c in (pod.status.conditions or []) if pod.status else []:
        if c.type == "PodScheduled":
            scheduled = c
    return [initialized, ready, pod_ready, scheduled]


def _with_transition_times(new: list[PodCondition], old: list[PodCondition] | None, now: str) -> list[PodCondition]:
    old_by_type = {c.type: c for c in old or []}
    out = []
    for c in new:
        prev = old_by_type.get(c.type)
        if c.lastTransitionTime is None:
            keep = prev is not None and prev.status == c.status and prev.lastTransitionTime
            c.lastTransitionTime = prev.lastTransitionTime if keep else now
        out.append(c)
    # Conditions other components own (e.g. DisruptionTarget) are kept as they are.
    known = {c.type for c in new}
    out.extend(c for c in old or [] if c.type not in known)
    return out


def compute_status(
    pod: Pod,
    init_views: list[ContainerView],
    views: list[ContainerView],
    *,
    ephemeral_views: list[ContainerView] | None = None,
    pod_ip: str,
    host_ip: str,
    now: float,
    message: str = "",
    failed_reason: str = "",
) -> PodStatus:
    """The full PodStatus to report (phase never leaves Succeeded/Failed once there).

    `failed_reason` (e.g. DeadlineExceeded) makes the pod Failed with that reason.
    """
    old = pod.status or PodStatus()
    init_statuses = [container_status(v) for v in init_views]
    sidecars = {c.name for c in (pod.spec.initContainers or [] if pod.spec else []) if c.restartPolicy == "Always"}
    init_done = all(
        s.state is not None and (
            (s.state.terminated is not None and s.state.terminated.exitCode == 0)
            or (s.name in sidecars and s.state.running is not None and bool(s.started)))
        for s in init_statuses
    )
    statuses = [container_status(v, "ContainerCreating" if init_done else "PodInitializing") for v in views]
    phase = pod_phase(pod, init_statuses, statuses)
    if old.phase in TERMINAL_PHASES:
        phase = old.phase
    elif failed_reason:
        phase = FAILED
    conditions = _with_transition_times(pod_conditions(pod, phase, init_statuses, statuses), old.conditions,
                                        rfc3339(now))
    return PodStatus(
        phase=phase,
        conditions=conditions,
        message=(old.message if old.phase in TERMINAL_PHASES else message) or None,
        reason=old.reason if old.phase in TERMINAL_PHASES else (failed_reason or None),
        nominatedNodeName=old.nominatedNodeName,
        hostIP=host_ip or None,
        hostIPs=[HostIP(ip=host_ip)] if host_ip else None,
        podIP=pod_ip or None,
        podIPs=[PodIP(ip=pod_ip)] if pod_ip else None,
        startTime=old.startTime or rfc3339(now),
        initContainerStatuses=init_statuses or None,
        containerStatuses=statuses or None,
        ephemeralContainerStatuses=[container_status(v) for v in ephemeral_views or []] or None,
        qosClass=old.qosClass,
    )


def status_differs(a: PodStatus | None, b: PodStatus) -> bool:
    """Whether reporting `b` over the stored `a` changes anything."""
    import msgspec

    return a is None or msgspec.json.encode(a) != msgspec.json.encode(b)
