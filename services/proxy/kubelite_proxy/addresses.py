"""Making cluster IPs local so the proxy can listen on them.

Loopback addresses (127.0.0.0/8, the range `kubelite up` uses without root)
are local already. Otherwise, as root, each cluster IP is added as a /32 to
the interface `kl-svc0` (kube-proxy's kube-ipvs0): a dummy link, or an empty
bridge where the kernel has no dummy driver (addresses on it are local all the
same). Without root nothing can be done: binding will fail and is logged.

Addresses are owned by the process that added them: one already local (added
by another proxy on this host, one per simulated node) is used but not owned,
and `verify()` re-adds any that went away (its owner exited). Owned addresses
are removed when their Service goes and when the proxy shuts down.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket

from kubelite.command import run_command

log = logging.getLogger(__name__)

INTERFACE = "kl-svc0"


def needs_interface(ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return not (addr.is_loopback or addr.is_unspecified)


def is_local(ip: str) -> bool:
    """Whether this host has `ip` (a bind to it succeeds): one syscall, no `ip` process."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.bind((ip, 0))
        except OSError:
            return False
    return True


async def _ip(*args: str) -> tuple[int, str]:
    done = await run_command("ip", *args)
    return done.code, done.stderr.strip()


class AddressManager:
    def __init__(self, interface: str = INTERFACE, enabled: bool | None = None) -> None:
        self.interface = interface
        self.enabled = os.geteuid() == 0 if enabled is None else enabled
        self._ready = False
        self.added: set[str] = set()

    async def _ensure_interface(self) -> bool:
        if self._ready:
            return True
        code, _ = await _ip("link", "show", self.interface)
        if code != 0:
            code, err = await _ip("link", "add", self.interface, "type", "dummy")
            if code != 0:
                code, err = await _ip("link", "add", self.interface, "type", "bridge")
            if code != 0 and (await _ip("link", "show", self.interface))[0] != 0:
                log.warning("cannot create interface %s: %s", self.interface, err)
                return False
        code, err = await _ip("link", "set", self.interface, "up")
        if code != 0:
            log.warning("cannot bring %s up: %s", self.interface, err)
            return False
        self._ready = True
        return True

    async def ensure(self, ip: str) -> None:
        if not needs_interface(ip) or not self.enabled or is_local(ip):
            return
        if not await self._ensure_interface():
            return
        code, err = await _ip("addr", "replace", f"{ip}/32", "dev", self.interface)
        if code != 0:
            log.warning("cannot add %s to %s: %s", ip, self.interface, err)
            return
        self.added.add(ip)

    async def verify(self, ips: set[str]) -> None:
        """Put back any of `ips` that stopped being local."""
        for ip in ips:
            await self.ensure(ip)

    async def remove_owned(self) -> None:
        for ip in list(self.added):
            with contextlib.suppress(Exception):
                await self.remove(ip)

    async def remove(self, ip: str) -> None:
        if ip not in self.added:
            return
        self.added.discard(ip)
        code, err = await _ip("addr", "del", f"{ip}/32", "dev", self.interface)
        if code != 0:
            log.debug("cannot remove %s from %s: %s", ip, self.interface, err)
