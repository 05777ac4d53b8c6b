"""Making cluster IPs local so the proxy can listen on them.

Loopback addresses (127.0.0.0/8, the range `kubelite up` uses without root)
are local already. Otherwise, as root, each cluster IP is added as a /32 to
the interface `kl-svc0` (kube-proxy's kube-ipvs0): a dummy link, or an empty
bridge where the kernel has no dummy driver (addresses on it are local all the
same). Without root nothing can be done: binding will fail and is logged.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os

log = logging.getLogger(__name__)

INTERFACE = "kl-svc0"


def needs_interface(ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return not (addr.is_loopback or addr.is_unspecified)


async def _ip(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "ip", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    return proc.returncode or 0, err.decode(errors="replace").strip()


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
        if not needs_interface(ip) or ip in self.added or not self.enabled:
            return
        if not await self._ensure_interface():
            return
        code, err = await _ip("addr", "replace", f"{ip}/32", "dev", self.interface)
        if code != 0:
            log.warning("cannot add %s to %s: %s", ip, self.interface, err)
            return
        self.added.add(ip)

    async def remove(self, ip: str) -> None:
        if ip not in self.added:
            return
        self.added.discard(ip)
        code, err = await _ip("addr", "del", f"{ip}/32", "dev", self.interface)
        if code != 0:
            log.debug("cannot remove %s from %s: %s", ip, self.interface, err)
