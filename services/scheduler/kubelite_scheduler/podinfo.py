"""PodInfo: what the scheduler needs to know about one pod, computed once per pod version.

Parsing quantities and selectors is the expensive part of a scheduling
decision, so it happens here, once, and never inside the per-node loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from kubelite.api.core_v1 import Pod, PodAffinityTerm, Toleration
from kubelite.api.labels import Selector, selector_from_label_selector
from kubelite.api.quantity import cpu_millis, memory_bytes

# Kubernetes' scheduler counts a container without requests as this much when
# *scoring* (pkg/scheduler/util: DefaultMilliCPURequest, DefaultMemoryRequest),
# so many zero-request pods do not all pile onto one node.
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024

HOSTNAME_LABEL = "kubernetes.io/hostname"


@lru_cache(maxsize=4096)
def _cpu(q: str | int | float) -> int:
    return cpu_millis(q)


@lru_cache(maxsize=4096)
def _mem(q: str | int | float) -> int:
    return memory_bytes(q)


@dataclass(frozen=True, slots=True)
class HostPort:
    ip: str  # "0.0.0.0" when unset: every address
    protocol: str
    port: int


@dataclass(slots=True)
class AffinityTerm:
    """A PodAffinityTerm with its selector parsed and its namespaces resolved."""

    selector: Selector
    namespaces: frozenset[str]  # empty with all_namespaces: every namespace
    topology_key: str
    all_namespaces: bool = False
    weight: int = 0  # for preferred terms

    def matches(self, other: PodInfo) -> bool:
        if not self.all_namespaces and other.namespace not in self.namespaces:
            return False
        return self.selector.matches(other.labels)


@dataclass(slots=True)
class PodInfo:
    key: str  # "<namespace>/<name>"
    namespace: str
    name: str
    uid: str
    # no reference to the Pod itself: an assumed pod's PodInfo, made from the whole pending pod,
    # stays counted on its node after the bind (SchedulerCache.confirm), and would keep that
    # pod alive beside the informer's skeleton (podrecord.py): 3 KB per bound pod
    labels: dict[str, str]
    node_name: str
    cpu: int  # millicores requested (Kubernetes' pod request: containers, init max, overhead)
    memory: int  # bytes requested
    nonzero_cpu: int  # the same with per-container defaults, for scoring
    nonzero_memory: int
    host_ports: tuple[HostPort, ...]
    tolerations: tuple[Toleration, ...]
    owner_uid: str  # uid of the controller ownerReference, "" if none
    node_selector: dict[str, str]
    required_node_terms: list[Any] | None  # NodeSelectorTerm list, None if no required affinity
    preferred_node_terms: list[Any]  # PreferredSchedulingTerm list
    affinity_required: list[AffinityTerm] = field(default_factory=list)
    anti_affinity_required: list[AffinityTerm] = field(default_factory=list)
    affinity_preferred: list[AffinityTerm] = field(default_factory=list)
    anti_affinity_preferred: list[AffinityTerm] = field(default_factory=list)
    terminal: bool = False  # Succeeded or Failed: holds no resources
    # node-affinity sets of the pod's bound volumes (kubelite_scheduler.volumes): each ORed, all must hold
    volume_terms: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def has_pod_affinity(self) -> bool:
        return bool(
            self.affinity_required or self.anti_affinity_required
            or self.affinity_preferred or self.anti_affinity_preferred
        )


def _requests(containers: list[Any] | None) -> list[tuple[int, int, int, int]]:
    """(cpu, memory, nonzero cpu, nonzero memory) per container."""
    out = []
    for c in containers or ():
        req = (c.resources.requests if c.resources is not None else None) or {}
        cpu_q, mem_q = req.get("cpu"), req.get("memory")
        cpu = _cpu(cpu_q) if cpu_q is not None else 0
        mem = _mem(mem_q) if mem_q is not None else 0
        out.append((
            cpu, mem,
            cpu if cpu_q is not None else DEFAULT_MILLI_CPU_REQUEST,
            mem if mem_q is not None else DEFAULT_MEMORY_REQUEST,
        ))
    return out


def _pod_requests(pod: Pod) -> tuple[int, int, int, int]:
    """Kubernetes' pod request: sum over containers, at least the largest init
    container (init containers run one at a time), plus the pod overhead."""
    spec = pod.spec
    total = [0, 0, 0, 0]
    for r in _requests(spec.containers):
        for i in range(4):
            total[i] += r[i]
    for r in _requests(spec.initContainers):
        for i in range(4):
            total[i] = max(total[i], r[i])
    overhead = spec.overhead or {}
    if "cpu" in overhead:
        extra = _cpu(overhead["cpu"])
        total[0] += extra
        total[2] += extra
    if "memory" in overhead:
        extra = _mem(overhead["memory"])
        total[1] += extra
        total[3] += extra
    return total[0], total[1], total[2], total[3]


def _host_ports(pod: Pod) -> tuple[HostPort, ...]:
    ports = []
    for c in [*(pod.spec.initContainers or ()), *(pod.spec.containers or ())]:
        for p in c.ports or ():
            if p.hostPort:
                ports.append(HostPort(p.hostIP or "0.0.0.0", p.protocol or "TCP", p.hostPort))
    return tuple(ports)


def _terms(namespace: str, terms: list[PodAffinityTerm] | None, weights: list[int] | None = None) -> list[AffinityTerm]:
    out = []
    for i, t in enumerate(terms or ()):
        if t is None:
            continue
        try:
            selector = selector_from_label_selector(t.labelSelector, none_selects_nothing=True)
        except ValueError:
            selector = Selector.nothing()
        # Kubernetes: an empty namespaceSelector ({}) selects every namespace; with
        # neither namespaces nor namespaceSelector the term means the pod's own.
        all_ns = t.namespaceSelector is not None and not (
            t.namespaceSelector.matchLabels or t.namespaceSelector.matchExpressions
        )
        namespaces = frozenset(t.namespaces or ()) or (frozenset() if all_ns else frozenset({namespace}))
        out.append(AffinityTerm(selector, namespaces, t.topologyKey or "", all_ns,
                                weights[i] if weights else 0))
    return out


def pod_info(pod: Pod) -> PodInfo:
    meta = pod.metadata
    spec = pod.spec
    namespace = meta.namespace or "default"
    cpu, mem, nz_cpu, nz_mem = _pod_requests(pod)
    owner_uid = ""
    for ref in meta.ownerReferences or ():
        if ref.controller:
            owner_uid = ref.uid
            break
    aff = spec.affinity
    node_aff = aff.nodeAffinity if aff is not None else None
    required = node_aff.requiredDuringSchedulingIgnoredDuringExecution if node_aff else None
    info = PodInfo(
        key=f"{namespace}/{meta.name}",
        namespace=namespace,
        name=meta.name or "",
        uid=meta.uid or "",
        labels=meta.labels or {},
        node_name=spec.nodeName or "",
        cpu=cpu, memory=mem, nonzero_cpu=nz_cpu, nonzero_memory=nz_mem,
        host_ports=_host_ports(pod),
        tolerations=tuple(spec.tolerations or ()),
        owner_uid=owner_uid,
        node_selector=spec.nodeSelector or {},
        required_node_terms=(required.nodeSelectorTerms or []) if required is not None else None,
        preferred_node_terms=[
            t for t in (node_aff.preferredDuringSchedulingIgnoredDuringExecution or ()) if t.preference
        ] if node_aff else [],
        terminal=(pod.status is not None and pod.status.phase in ("Succeeded", "Failed")),
    )
    if aff is not None and aff.podAffinity is not None:
        pa = aff.podAffinity
        info.affinity_required = _terms(namespace, pa.requiredDuringSchedulingIgnoredDuringExecution)
        pref = [w for w in pa.preferredDuringSchedulingIgnoredDuringExecution or () if w.podAffinityTerm]
        info.affinity_preferred = _terms(namespace, [w.podAffinityTerm for w in pref], [w.weight or 0 for w in pref])
    if aff is not None and aff.podAntiAffinity is not None:
        pa = aff.podAntiAffinity
        info.anti_affinity_required = _terms(namespace, pa.requiredDuringSchedulingIgnoredDuringExecution)
        pref = [w for w in pa.preferredDuringSchedulingIgnoredDuringExecution or () if w.podAffinityTerm]
        info.anti_affinity_preferred = _terms(namespace, [w.podAffinityTerm for w in pref], [w.weight or 0 for w in pref])
    return info


def forget_placement_rules(info: PodInfo) -> None:
    """Drop what only placing the pod reads (its tolerations, node selector and node affinity,
    its volumes' node terms) once it is bound: they hold parts of the whole pending pod. What
    counts against the node stays, and so does its pod (anti-)affinity, which other pods'
    placement reads."""
    info.tolerations = ()
    info.node_selector = {}
    info.required_node_terms = None
    info.preferred_node_terms = []
    info.volume_terms = []
