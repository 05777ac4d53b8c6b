"""Node IPAM: gives every Node without one a `spec.podCIDR` from `--cluster-cidr` (Kubernetes'
nodeipam controller with the range allocator). Node agents wait for it before they set up their
pod network (kubelite_nodeagent.podcidr), so no two nodes ever share a range.

One worker: allocations are sequential, each sees the ones before it (the informer may lag
behind this controller's own writes, so what it assigned is remembered until the informer
shows it).
"""

from __future__ import annotations

import logging
from typing import Any

from kubelite.api.core_v1 import NODES
from kubelite.errors import APIError
from kubelite.reconcile.controller import Controller
from kubelite_controller_manager.nodeipam.rules import next_free, subnet_count

log = logging.getLogger(__name__)

FULL_RETRY_SECONDS = 10.0  # a full range: look again (a node may have gone)


def _cidr(node: Any) -> str:
    return (node.spec.podCIDR if node.spec is not None else None) or ""


class NodeIpamController(Controller):
    name = "nodeipam"

    def __init__(self, ctx: Any) -> None:
        super().__init__(workers=1, name=self.name)
        self.ctx = ctx
        self.cluster_cidr = ctx.options.cluster_cidr
        self.mask = ctx.options.node_cidr_mask_size
        subnet_count(self.cluster_cidr, self.mask)  # a bad flag ends the start, with its reason
        self.nodes = ctx.informers.get(NODES)
        self.assigned: dict[str, str] = {}  # node -> CIDR written, until the informer shows it
        self.watch(self.nodes, lambda node: None if _cidr(node) else node.metadata.name)

    async def reconcile(self, key: Any) -> None:
        node = self.nodes.get("", key)
        if node is None or _cidr(node):
            self.assigned.pop(key, None)
            return
        used = {_cidr(n) for n in self.nodes.list() if _cidr(n)} | set(self.assigned.values())
        cidr = next_free(self.cluster_cidr, self.mask, used)
        if cidr is None:
            message = f"No more CIDRs of size /{self.mask} left in {self.cluster_cidr} for node {key}"
            log.warning("nodeipam: %s", message)
            self.ctx.recorder.event(node, "Warning", "CIDRNotAvailable", message)
            self.queue.add_after(key, FULL_RETRY_SECONDS)
            return
        try:
            await self.ctx.api.patch(NODES, "", key, {
                "metadata": {"resourceVersion": node.metadata.resourceVersion},
                "spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})
        except APIError as exc:
            if exc.code in (404, 409):
                self.queue.add(key)  # changed meanwhile (maybe given a range): look again
                return
            raise
        self.assigned[key] = cidr
        log.info("nodeipam: node %s gets pod CIDR %s", key, cidr)
        await self.ctx.decisions.publish(self.name, node, "CIDRAssigned", f"Assigned pod CIDR {cidr}", podCIDR=cidr)


def new_controller(ctx: Any) -> NodeIpamController | None:
    """None with --allocate-node-cidrs=false (every node agent then brings its own --pod-cidr)."""
    return NodeIpamController(ctx) if ctx.options.allocate_node_cidrs else None
