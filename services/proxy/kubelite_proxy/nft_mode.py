"""`--proxy-mode nftables`: the kernel table, and the two things it leaves to userspace.

1. NodePorts on 127.0.0.1. kube-proxy's nftables mode serves no NodePort on a loopback address
   (its iptables mode did, by setting route_localnet, which also let other hosts reach services
   bound to 127.0.0.1: CVE-2020-8558), and the kernel rules here skip 127.0.0.0/8 for the same
   reason. But `curl localhost:<nodePort>` is how one tries a Service on a one-machine
   `kubelite up`, so the proxy keeps listening on 127.0.0.1 for NodePorts itself, and only there.
2. Service ports with an endpoint on a loopback address: a pod's packet cannot be DNATed to
   127.0.0.1 of the host. On `kubelite up` that is the `kubernetes` Service, whose endpoint is
   the apiserver on 127.0.0.1:6443; such a port is served wholly in userspace, its cluster IP
   made local as in the userspace mode.

Everything else (every other node address, every cluster IP, all pod traffic) is the kernel's.

Worked example: Service web, type NodePort, port 80 → nodePort 30080, endpoint 10.244.1.5:8080:
its rule's frontends are (10.96.0.10, 80) and (0.0.0.0, 30080), "every node address"; the
kernel gets the rule as it is, userspace the same endpoints behind (127.0.0.1, 30080) only.
Service kubernetes, 10.96.0.1:443 → 127.0.0.1:6443: the kernel gets nothing, userspace all.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from collections.abc import Hashable

from kubelite_proxy.dataplane import UserspaceDataplane
from kubelite_proxy.nft_dataplane import NftablesDataplane
from kubelite_proxy.nftables import ANY_NODE_ADDRESS
from kubelite_proxy.rules import Frontend, PortRule

LOCALHOST = "127.0.0.1"


def _loopback_backed(rule: PortRule) -> bool:
    return any(ipaddress.ip_address(b.ip).is_loopback for b in rule.backends)


def split_rules(rules: list[PortRule]) -> tuple[list[PortRule], list[PortRule]]:
    """(the kernel's rules, userspace's) for one Service (pure; see the module's text)."""
    kernel: list[PortRule] = []
    userspace: list[PortRule] = []
    for rule in rules:
        if _loopback_backed(rule):
            userspace.append(rule)
            continue
        kernel.append(rule)
        local = tuple(
            Frontend(LOCALHOST, fe.port, fe.protocol)
            for fe in rule.frontends
            if fe.ip == ANY_NODE_ADDRESS
        )
        if local:
            userspace.append(dataclasses.replace(rule, frontends=local))
    return kernel, userspace


class NftablesMode:
    """The Dataplane of `--proxy-mode nftables`: a kernel table, and a userspace part."""

    def __init__(self, *, kernel: NftablesDataplane, userspace: UserspaceDataplane) -> None:
        self.kernel = kernel
        self.userspace = userspace

    def set_rules(self, key: Hashable, rules: list[PortRule]) -> None:
        kernel, userspace = split_rules(rules)
        self.kernel.set_rules(key, kernel)
        self.userspace.set_rules(key, userspace)

    async def apply(self, key: Hashable, rules: list[PortRule]) -> None:
        self.set_rules(key, rules)
        await self.kernel.sync()
        await self.userspace.sync()

    def rules(self) -> list[PortRule]:
        return self.kernel.rules() + [r for r in self.userspace.rules() if _loopback_backed(r)]

    async def start(self) -> None:
        await self.kernel.start()
        await self.userspace.sync()

    async def run_checks(self) -> None:
        await asyncio.gather(self.kernel.run_checks(), self.userspace.run_checks())

    async def close(self) -> None:
        await self.kernel.close()
        await self.userspace.close()
