"""The NoExecute taint manager (Kubernetes' pkg/controller/tainteviction).

Keyed by pod. A pod on a node with NoExecute taints is deleted when
`tolerations.eviction_time` says so: at once when it does not tolerate a taint,
after tolerationSeconds (counted from the taint's timeAdded) when it does. Until
then the key is re-queued for that moment, so a pod whose toleration expires is
deleted on time without any further event. Node changes re-queue the node's pods.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kubelite.api.core_v1 import PODS
from kubelite.errors import APIError
from kubelite.reconcile.cache import INDEX_NODE, key_of
from kubelite.reconcile.controller import Controller, Requeue
from kubelite_controller_manager.nodelifecycle.notify import Notifier
from kubelite_controller_manager.nodelifecycle.tolerations import eviction_time, no_execute

log = logging.getLogger(__name__)

CONTROLLER_NAME = "taint-eviction-controller"


class TaintManager(Controller):
    name = "taint-eviction"

    def __init__(self, nodes: Any, pods: Any, api: Any, notify: Notifier, *,
                 wall: Callable[[], float] = time.time, workers: int = 2) -> None:
        super().__init__(workers=workers, name="taint-eviction")
        self.nodes = nodes
        self.pods = pods
        self.api = api
        self.notify = notify
        self.wall = wall
        # when this process first saw a taint without timeAdded: (node, key, effect) -> time
        self._first_seen: dict[tuple[str, str, str], float] = {}
        self.watch(pods, key_fn=self._key_if_node_tainted)
        nodes.add_handler(on_add=self._node_added, on_update=self._node_updated, on_delete=self._node_deleted)
        self.informers.append(nodes)

    # -- handlers ---------------------------------------------------------------

    def _key_if_node_tainted(self, pod: Any) -> str | None:
        """Pod changes matter only on a node with NoExecute taints (node changes re-queue the rest)."""
        node_name = pod.spec.nodeName if pod.spec else None
        node = self.nodes.get("", node_name) if node_name else None
        if node is None or not no_execute(node.spec.taints if node.spec else None):
            return None
        return key_of(pod)

    def _enqueue_pods_on(self, node_name: str) -> None:
        for pod in self.pods.by_index(INDEX_NODE, node_name):
            self.queue.add(key_of(pod))

    def _node_added(self, node: Any) -> None:
        if no_execute(node.spec.taints if node.spec else None):
            self._enqueue_pods_on(node.metadata.name)

    def _node_updated(self, old: Any, new: Any) -> None:
        old_t = no_execute(old.spec.taints if old.spec else None)
        new_t = no_execute(new.spec.taints if new.spec else None)
        if old_t != new_t or (old is new and new_t):  # a change, or a resync of a tainted node
            self._enqueue_pods_on(new.metadata.name)

    def _node_deleted(self, node: Any) -> None:
        name = node.metadata.name
        for k in [k for k in self._first_seen if k[0] == name]:
            del self._first_seen[k]

    # -- reconcile --------------------------------------------------------------

    def _fallback_added(self, node_name: str, taints: list[Any], now: float) -> float:
        """For taints without timeAdded: when this process first saw them (the latest such)."""
        latest = 0.0
        for t in taints:
            if not t.timeAdded:
                latest = max(latest, self._first_seen.setdefault((node_name, t.key or "", t.effect or ""), now))
        return latest or now

    async def reconcile(self, key: Any) -> None:
        pod = self.pods.get_by_key(key)
        if pod is None or pod.metadata.deletionTimestamp or not pod.spec or not pod.spec.nodeName:
            return
        node = self.nodes.get("", pod.spec.nodeName)
        if node is None:
            return
        taints = no_execute(node.spec.taints if node.spec else None)
        if not taints:
            return
        now = self.wall()
        when = eviction_time(taints, pod.spec.tolerations, self._fallback_added(pod.spec.nodeName, taints, now))
        if when is None:
            return
        if when > now:
            raise Requeue(after=when - now, reason="toleration not expired yet")
        meta = pod.metadata
        try:
            await self.api.delete(PODS, meta.namespace or "", meta.name or "", uid=meta.uid or "")
        except APIError as exc:
            if exc.code in (404, 409):  # gone, or replaced by another pod of that name
                return
            raise
        log.info("taint eviction: deleted pod %s on node %s", key, pod.spec.nodeName)
        message = f"Marking for deletion Pod {key}"
        await self.notify.event(pod, "v1", "Pod", "Normal", "TaintManagerEviction", message)
        await self.notify.decision(CONTROLLER_NAME, pod, "v1", "Pod", "TaintManagerEviction", message,
                                   node=pod.spec.nodeName, taints=[t.key for t in taints])
