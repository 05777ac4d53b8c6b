"""Pure helpers over a pod's spec and status: restart rules, sidecars, pull policy, hostPorts,
limits, the active deadline and probe state for adopted containers."""

from __future__ import annotations

from datetime import UTC, datetime

from kubelite.api.core_v1 import Container, Pod, PodStatus
from kubelite.api.quantity import cpu_millis, memory_bytes
from kubelite_nodeagent import probes
from kubelite_nodeagent.runtime.base import PortMapping, Resources


def pods_differ_semantically(old: Pod, new: Pod) -> bool:
    """Whether `new` asks anything new of the node: its spec, labels, annotations or deletion
    changed (the kubelet's podsDifferSemantically, pkg/kubelet/config/config.go). A change of
    status or resourceVersion alone does not."""
    a, b = old.metadata, new.metadata
    return (old.spec != new.spec or a.labels != b.labels or a.annotations != b.annotations
            or a.deletionTimestamp != b.deletionTimestamp
            or a.deletionGracePeriodSeconds != b.deletionGracePeriodSeconds)


def update_needs_sync(old: Pod, new: Pod, sent: PodStatus | None) -> bool:
    """Whether an informer update of a pod calls for a sync of its worker. Not when it changes
    nothing but the status, to the status the agent itself last sent: the echo of its own write
    (the bus may deliver it before the write is answered), on which a sync would find nothing to
    do. That was every other sync of a burst of pod starts. A status someone else changed (the
    node lifecycle controller marking pods not ready, a readiness gate's condition) differs from
    what was sent, and is synced on, as the kubelet reconciles a status change. A periodic
    resync (old is new) always syncs.

    >>> from kubelite.api.core_v1 import ObjectMeta, PodSpec
    >>> mine = PodStatus(phase="Running")
    >>> old = Pod(metadata=ObjectMeta(resourceVersion="5"), spec=PodSpec(), status=PodStatus(phase="Pending"))
    >>> echo = Pod(metadata=ObjectMeta(resourceVersion="6"), spec=PodSpec(), status=PodStatus(phase="Running"))
    >>> update_needs_sync(old, echo, mine), update_needs_sync(old, echo, None)
    (False, True)
    """
    if old is new or sent is None or pods_differ_semantically(old, new):
        return True
    return new.status != sent


def is_sidecar(c: Container) -> bool:
    """A restartable init container (restartPolicy: Always on an initContainer)."""
    return c.restartPolicy == "Always"


def should_restart(policy: str, exit_code: int | None) -> bool:
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return exit_code != 0
    return False


def default_pull_policy(image: str) -> str:
    """Kubernetes' default: Always for :latest or no tag, else IfNotPresent."""
    name = image.rsplit("/", 1)[-1]
    if "@" in name:
        return "IfNotPresent"
    tag = name.split(":", 1)[1] if ":" in name else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def pod_label(pod: Pod) -> str:
    """format.Pod: name_namespace(uid)."""
    m = pod.metadata
    return f"{m.name}_{m.namespace}({m.uid})"


def port_mappings(pod: Pod) -> list[PortMapping]:
    """Every hostPort of the pod's containers (the sandbox publishes them on the node)."""
    out: list[PortMapping] = []
    spec = pod.spec
    for c in [*(spec.initContainers or []), *(spec.containers or [])] if spec else []:
        for p in c.ports or []:
            if p.hostPort and p.containerPort:
                out.append(PortMapping(container_port=p.containerPort, host_port=p.hostPort,
                                       protocol=p.protocol or "TCP", host_ip=p.hostIP or ""))
    return out


def container_resources(c: Container) -> Resources:
    limits = (c.resources.limits if c.resources else None) or {}
    return Resources(
        cpu_millis=cpu_millis(limits["cpu"]) if "cpu" in limits else None,
        memory_bytes=memory_bytes(limits["memory"]) if "memory" in limits else None,
    )


DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


def active_deadline(pod: Pod, sent: PodStatus | None = None) -> float | None:
    """When spec.activeDeadlineSeconds runs out (counted from status.startTime), or None. The
    start time is the one in the status the agent last sent, else the pod's (the kubelet reads
    its status manager's copy first): the pod's own copy has none until that write comes back."""
    seconds = pod.spec.activeDeadlineSeconds if pod.spec else None
    start = (sent.startTime if sent else None) or (pod.status.startTime if pod.status else None)
    if seconds is None or not start:
        return None
    try:
        started = datetime.strptime(start, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None
    return started + seconds


def adopted_trackers(pod: Pod, c: Container, container_id: str) -> dict[str, probes.ProbeTracker]:
    """Probe trackers for a container found running after an agent restart.

    They resume from the reported status (started/ready) instead of starting
    over, so an agent restart does not flip ready pods to unready.
    """
    trackers = probes.trackers_for(c)
    statuses = (pod.status.containerStatuses or []) if pod.status else []
    for s in statuses:
        if s.name == c.name and (s.containerID or "").endswith("://" + container_id):
            if s.started and probes.STARTUP in trackers:
                trackers[probes.STARTUP].result = probes.Result.SUCCESS
            if s.ready and probes.READINESS in trackers:
                trackers[probes.READINESS].result = probes.Result.SUCCESS
    return trackers
