"""Node IPAM's allocation rule (Kubernetes' range allocator, pkg/controller/nodeipam): pure.

Every node gets one /mask subnet of the cluster CIDR, the lowest one no node holds.

Worked example: cluster CIDR 10.244.0.0/16, mask 24, nodes holding 10.244.0.0/24 and
10.244.2.0/24: the next node gets 10.244.1.0/24, the one after 10.244.3.0/24; a /16 has room for
256 such nodes, and the 257th gets none (the controller reports CIDRNotAvailable).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


def subnet_count(cluster_cidr: str, mask: int) -> int:
    net = ipaddress.ip_network(cluster_cidr, strict=False)
    if mask < net.prefixlen:
        raise ValueError(f"--node-cidr-mask-size {mask} is larger than the cluster CIDR {cluster_cidr}")
    return 2 ** (mask - net.prefixlen)


def next_free(cluster_cidr: str, mask: int, used: Iterable[str]) -> str | None:
    """The lowest /mask of `cluster_cidr` that overlaps none of `used`; None when all are taken."""
    net = ipaddress.ip_network(cluster_cidr, strict=False)
    taken = []
    for cidr in used:
        try:
            taken.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            continue  # not ours to judge: validation refused what it could
    for candidate in net.subnets(new_prefix=mask):
        if not any(candidate.overlaps(t) for t in taken if t.version == candidate.version):
            return str(candidate)
    return None
