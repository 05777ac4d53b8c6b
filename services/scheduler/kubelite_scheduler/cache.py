"""The scheduler's view of the cluster: nodes, and pods bound or assumed to them.

"Assume" puts a pod on its chosen node the moment the decision is made, before
the bind round-trip, so the next decision already sees the capacity as used.
A failed bind "forgets" it; the pod seen bound by the watch "confirms" it (the
entry is simply replaced by the observed pod). Pure and synchronous: the
service feeds it from its informers.
"""

from __future__ import annotations

from kubelite.api.core_v1 import Node
from kubelite_scheduler.nodeinfo import NodeInfo
from kubelite_scheduler.podinfo import PodInfo, forget_placement_rules


class SchedulerCache:
    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}  # includes placeholders for unknown nodes with pods
        self.node_list: list[NodeInfo] = []  # known nodes (with a Node object), in a stable order
        self._pod_node: dict[str, str] = {}  # pod key -> node it is counted on
        self.assumed: set[str] = set()
        # Pods whose required anti-affinity must be honoured by every newcomer (symmetry).
        self.pods_with_required_anti_affinity: dict[str, PodInfo] = {}
        self.pods_with_affinity: dict[str, PodInfo] = {}
        self.soft_tainted_nodes = 0  # nodes with a PreferNoSchedule taint (else that score is skipped)
        self.generation = 0  # bumped on every change that may make a pod schedulable

    # -- nodes ----------------------------------------------------------------
    def set_node(self, node: Node) -> None:
        name = node.metadata.name or ""
        info = self.nodes.get(name)
        if info is None:
            info = self.nodes[name] = NodeInfo(name)
        if info.node is None:
            self.node_list.append(info)
        elif info.soft_taints:
            self.soft_tainted_nodes -= 1
        info.set_node(node)
        if info.soft_taints:
            self.soft_tainted_nodes += 1
        self.generation += 1

    def remove_node(self, name: str) -> None:
        info = self.nodes.get(name)
        if info is None or info.node is None:
            return
        self.node_list.remove(info)
        if info.soft_taints:
            self.soft_tainted_nodes -= 1
        if info.pods:
            info.node = None  # keep the pods' accounting until they go too
        else:
            del self.nodes[name]
        self.generation += 1

    def known_nodes(self) -> list[NodeInfo]:
        return self.node_list

    # -- pods -----------------------------------------------------------------
    def _place(self, p: PodInfo, node_name: str) -> None:
        info = self.nodes.get(node_name)
        if info is None:
            info = self.nodes[node_name] = NodeInfo(node_name)
        info.add_pod(p)
        self._pod_node[p.key] = node_name
        if p.anti_affinity_required:
            self.pods_with_required_anti_affinity[p.key] = p
        if p.has_pod_affinity:
            self.pods_with_affinity[p.key] = p

    def _unplace(self, key: str) -> PodInfo | None:
        node_name = self._pod_node.pop(key, None)
        if node_name is None:
            return None
        self.pods_with_required_anti_affinity.pop(key, None)
        self.pods_with_affinity.pop(key, None)
        info = self.nodes.get(node_name)
        if info is None:
            return None
        p = info.remove_pod(key)
        if info.node is None and not info.pods:
            del self.nodes[node_name]
        return p

    def set_bound_pod(self, p: PodInfo) -> None:
        """A pod observed with spec.nodeName (confirms an assumption), or a terminal one (frees it)."""
        self.assumed.discard(p.key)
        self._unplace(p.key)
        if p.node_name and not p.terminal:
            self._place(p, p.node_name)
        self.generation += 1

    def confirm(self, key: str, uid: str, node_name: str) -> bool:
        """The watch shows an assumed pod bound where we assumed it: keep the entry
        (its requests are already counted) instead of recomputing it. False when
        the observed pod is not the assumed one (then call set_bound_pod)."""
        if key not in self.assumed or self._pod_node.get(key) != node_name:
            return False
        p = self.nodes[node_name].pods.get(key)
        if p is None or p.uid != uid:
            return False
        p.node_name = node_name
        forget_placement_rules(p)
        self.assumed.discard(key)
        return True

    def remove_pod(self, key: str) -> None:
        self.assumed.discard(key)
        if self._unplace(key) is not None:
            self.generation += 1

    def assume(self, p: PodInfo, node_name: str) -> None:
        self._unplace(p.key)
        self._place(p, node_name)
        self.assumed.add(p.key)

    def forget(self, key: str) -> None:
        """Drop an assumption after a failed bind (a confirmed pod stays)."""
        if key in self.assumed:
            self.assumed.discard(key)
            self._unplace(key)
            self.generation += 1

    def is_counted(self, key: str) -> bool:
        return key in self._pod_node

    def node_of(self, key: str) -> str | None:
        return self._pod_node.get(key)

    def all_pods(self) -> list[PodInfo]:
        return [p for info in self.nodes.values() for p in info.pods.values()]
