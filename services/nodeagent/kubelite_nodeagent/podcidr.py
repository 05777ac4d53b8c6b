"""This node's pod CIDR from node IPAM: the controller-manager gives each Node a `spec.podCIDR`
from the cluster CIDR (kubelite_controller_manager.nodeipam), and the node agent sets up its pod
network only once it has one, as the kubelet waits for its Node's podCIDR.

Before its first registration the agent makes its Node bare (a name and labels, no status: not
Ready, so nothing is scheduled there) so that the allocator sees it; registration then fills
in the rest. A restarted agent finds its range already there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from kubelite.api.core_v1 import Node
from kubelite.api.meta import ObjectMeta
from kubelite.errors import APIError

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5


async def assigned_pod_cidr(api: Any, name: str, labels: dict[str, str], *, wait_seconds: float) -> str:
    """Wait (up to `wait_seconds`) for Node `name`'s spec.podCIDR; ConnectionError when none comes."""
    deadline = time.monotonic() + wait_seconds
    said = False
    while True:
        node = await _node(api, name, labels)
        cidr = node.spec.podCIDR if node is not None and node.spec is not None else None
        if cidr:
            log.info("node %s: pod CIDR %s (node IPAM)", name, cidr)
            return cidr
        if time.monotonic() >= deadline:
            raise ConnectionError(f"node {name} got no pod CIDR within {wait_seconds:g}s: is the controller-manager "
                                  "running (node IPAM, --allocate-node-cidrs)? Or pass --pod-cidr")
        if not said:
            log.info("node %s: waiting for the controller-manager to assign a pod CIDR", name)
            said = True
        await asyncio.sleep(POLL_SECONDS)


async def _node(api: Any, name: str, labels: dict[str, str]) -> Node | None:
    try:
        return await api.get("nodes", "", name)
    except APIError as exc:
        if exc.code != 404:
            log.warning("node %s: reading its Node failed: %s", name, exc)
            return None
    try:
        return await api.create(Node(apiVersion="v1", kind="Node",
                                     metadata=ObjectMeta(name=name, labels=dict(labels) or None)))
    except APIError as exc:
        if exc.code != 409:  # 409: made meanwhile; the next poll reads it
            log.warning("node %s: creating its Node failed: %s", name, exc)
        return None
