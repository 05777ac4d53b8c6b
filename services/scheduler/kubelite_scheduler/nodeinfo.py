"""NodeInfo: one node and the running totals of the pods bound (or assumed) to it.

Every filter and score reads these aggregates, so a decision costs O(nodes
looked at), never O(nodes x pods). Adding or removing a pod updates them in O(1).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from kubelite.api.core_v1 import Node, Taint
from kubelite.api.quantity import cpu_millis, memory_bytes
from kubelite_scheduler.podinfo import HOSTNAME_LABEL, HostPort, PodInfo

NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"


def _alloc(values: dict | None, name: str, parse) -> int:
    q = (values or {}).get(name)
    if q is None:
        return 0
    try:
        return parse(q)
    except ValueError:
        return 0


@dataclass(slots=True)
class NodeInfo:
    name: str
    node: Node | None = None  # None while only pods bound to an unknown node are known
    labels: dict[str, str] = field(default_factory=dict)
    ready_status: str = "Unknown"  # status of the Ready condition: True | False | Unknown
    unschedulable: bool = False
    clean: bool = False  # Ready, schedulable and without NoSchedule/NoExecute taints
    hard_taints: tuple[Taint, ...] = ()  # NoSchedule and NoExecute: filters
    soft_taints: tuple[Taint, ...] = ()  # PreferNoSchedule: scores
    alloc_cpu: int = 0
    alloc_memory: int = 0
    alloc_pods: int = 0
    # Sums over the pods here (bound or assumed).
    requested_cpu: int = 0
    requested_memory: int = 0
    nonzero_cpu: int = 0
    nonzero_memory: int = 0
    pods: dict[str, PodInfo] = field(default_factory=dict)
    used_ports: dict[HostPort, int] = field(default_factory=dict)
    owner_counts: Counter[str] = field(default_factory=Counter)
    pods_with_affinity: int = 0
    # Scores remembered for this node's current state (see plugins._per_node_memoized);
    # cleared whenever the node or its pods change.
    score_memo: dict[str, int] = field(default_factory=dict)

    def set_node(self, node: Node) -> None:
        self.score_memo.clear()
        self.node = node
        self.labels = node.metadata.labels or {}
        spec, status = node.spec, node.status
        self.unschedulable = bool(spec and spec.unschedulable)
        taints = tuple((spec.taints or ()) if spec else ())
        self.hard_taints = tuple(t for t in taints if t.effect in ("NoSchedule", "NoExecute"))
        self.soft_taints = tuple(t for t in taints if t.effect == "PreferNoSchedule")
        self.ready_status = "Unknown"
        for c in (status.conditions or ()) if status else ():
            if c.type == "Ready":
                self.ready_status = c.status or "Unknown"
        self.clean = self.ready_status == "True" and not self.unschedulable and not self.hard_taints
        alloc = status.allocatable if status and status.allocatable else (status.capacity if status else None)
        self.alloc_cpu = _alloc(alloc, "cpu", cpu_millis)
        self.alloc_memory = _alloc(alloc, "memory", memory_bytes)
        self.alloc_pods = _alloc(alloc, "pods", memory_bytes)

    def topology_value(self, key: str) -> str | None:
        """The node's value for a topologyKey (its name for hostname when unlabelled)."""
        value = self.labels.get(key)
        if value is None and key == HOSTNAME_LABEL:
            return self.name
        return value

    def add_pod(self, p: PodInfo) -> None:
        self.score_memo.clear()
        self.pods[p.key] = p
        self.requested_cpu += p.cpu
        self.requested_memory += p.memory
        self.nonzero_cpu += p.nonzero_cpu
        self.nonzero_memory += p.nonzero_memory
        for hp in p.host_ports:
            self.used_ports[hp] = self.used_ports.get(hp, 0) + 1
        if p.owner_uid:
            self.owner_counts[p.owner_uid] += 1
        if p.has_pod_affinity:
            self.pods_with_affinity += 1

    def remove_pod(self, key: str) -> PodInfo | None:
        p = self.pods.pop(key, None)
        if p is None:
            return None
        self.score_memo.clear()
        self.requested_cpu -= p.cpu
        self.requested_memory -= p.memory
        self.nonzero_cpu -= p.nonzero_cpu
        self.nonzero_memory -= p.nonzero_memory
        for hp in p.host_ports:
            left = self.used_ports.get(hp, 0) - 1
            if left > 0:
                self.used_ports[hp] = left
            else:
                self.used_ports.pop(hp, None)
        if p.owner_uid:
            self.owner_counts[p.owner_uid] -= 1
            if self.owner_counts[p.owner_uid] <= 0:
                del self.owner_counts[p.owner_uid]
        if p.has_pod_affinity:
            self.pods_with_affinity -= 1
        return p
