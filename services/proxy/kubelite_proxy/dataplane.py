"""The userspace backend: keeps listeners and balancers in step with a rule table.

`set_rules(service, rules)` updates that Service's Balancers in place, so a
new endpoint list takes effect for the next connection synchronously, before
any await; `sync()` then opens listeners for new frontends and closes those no
longer wanted (`apply` does both). Listeners are never restarted for a backend change. Failures (an
address that cannot be bound, a port taken by another program, two Services
claiming one frontend) are logged warnings and leave the rest working.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable
from typing import Protocol

from kubelite_proxy.addresses import AddressManager
from kubelite_proxy.balancer import Balancer
from kubelite_proxy.metrics import SYNC_RULES_DURATION, SYNC_RULES_LAST
from kubelite_proxy.rulelog import RuleLog
from kubelite_proxy.rules import Frontend, PortRule, RuleTable, ServicePortName
from kubelite_proxy.tcp import TCPFrontend
from kubelite_proxy.udp import UDPFrontend

log = logging.getLogger(__name__)

_RETRY_BIND_SECONDS = 5.0
VERIFY_ADDRESSES_SECONDS = 10.0


class Dataplane(Protocol):
    """What the proxy service drives: this module's UserspaceDataplane or nft_dataplane's NftablesDataplane."""

    def set_rules(self, key: Hashable, rules: list[PortRule]) -> None: ...
    async def apply(self, key: Hashable, rules: list[PortRule]) -> None: ...
    def rules(self) -> list[PortRule]: ...
    async def start(self) -> None: ...
    async def run_checks(self) -> None: ...
    async def close(self) -> None: ...


class UserspaceDataplane:
    def __init__(self, addresses: AddressManager | None = None, *, udp_idle_timeout: float = 30.0) -> None:
        self.addresses = addresses or AddressManager(enabled=False)
        self.udp_idle_timeout = udp_idle_timeout
        self.balancers: dict[ServicePortName, Balancer] = {}
        self.listeners: dict[Frontend, TCPFrontend | UDPFrontend] = {}
        self.failed: dict[Frontend, str] = {}  # frontends that could not be opened, and why
        self._table = RuleTable()
        self._owners: dict[Frontend, ServicePortName] = {}
        self.problems = RuleLog(log)
        self._lock = asyncio.Lock()
        self._dirty = False
        self._retry: asyncio.TimerHandle | None = None

    def set_rules(self, key: Hashable, rules: list[PortRule]) -> None:
        """Synchronous: one Service's balancers get their new backends now (no await in between)."""
        old = {r.service_port for r in self._table.replace(key, rules)}
        for rule in rules:
            bal = self.balancers.get(rule.service_port)
            if bal is None:
                self.balancers[rule.service_port] = Balancer(rule.backends, rule.affinity_seconds)
            elif bal.backends != rule.backends or bal.affinity_seconds != rule.affinity_seconds:
                bal.update(rule.backends, rule.affinity_seconds)
        for spn in old - {r.service_port for r in rules}:
            bal = self.balancers.pop(spn, None)
            if bal is not None:
                bal.update((), None)  # listeners still pointing here refuse new work until closed
        for listener in self.listeners.values():
            if isinstance(listener, UDPFrontend):
                listener.drop_flows_to_removed_backends()
        self._dirty = True

    def rules(self) -> list[PortRule]:
        return self._table.all()

    async def start(self) -> None:
        """Nothing to wait for: listeners open as rules arrive (there is no old state to keep)."""

    async def sync(self) -> None:
        """Open and close listeners to match the rules set so far (coalesced; safe to call often)."""
        async with self._lock:
            if not self._dirty:
                return
            self._dirty = False
            with SYNC_RULES_DURATION.time():
                await self._sync_listeners()
            SYNC_RULES_LAST.set_to_current_time()

    async def _sync_listeners(self) -> None:
        """One sync, under the lock: close, retarget and open listeners for the current rules."""
        owners = self.problems.owners(self.rules())
        self._owners = owners
        for fe in [f for f in self.listeners if f not in owners]:
            self.listeners.pop(fe).close()
            log.info("closed %s:%d/%s", fe.ip, fe.port, fe.protocol)
        self.failed = {fe: why for fe, why in self.failed.items() if fe in owners}
        for fe, spn in owners.items():
            bal = self.balancers.get(spn)
            if bal is None:  # changed under us; the next sync settles it
                self._dirty = True
                continue
            listener = self.listeners.get(fe)
            if listener is not None:
                listener.balancer = bal
            else:
                await self._open(fe, spn, bal)
        await self._release_addresses()
        if self.failed and self._retry is None:
            self._retry = asyncio.get_running_loop().call_later(_RETRY_BIND_SECONDS, self._retry_failed)

    async def apply(self, key: Hashable, rules: list[PortRule]) -> None:
        self.set_rules(key, rules)
        await self.sync()

    def _retry_failed(self) -> None:
        self._retry = None
        self._dirty = True
        asyncio.get_running_loop().create_task(self.sync())

    async def _open(self, fe: Frontend, spn: ServicePortName, bal: Balancer) -> None:
        await self.addresses.ensure(fe.ip)
        name = f"{spn} {fe.ip}:{fe.port}/{fe.protocol}"
        listener: TCPFrontend | UDPFrontend
        if fe.protocol == "UDP":
            listener = UDPFrontend(fe.ip, fe.port, bal, name, self.udp_idle_timeout)
        else:
            listener = TCPFrontend(fe.ip, fe.port, bal, name)
        try:
            await listener.start()
        except OSError as exc:
            if self.failed.get(fe) != str(exc):
                log.warning("%s: cannot listen: %s (will retry)", name, exc)
            self.failed[fe] = str(exc)
            return
        self.failed.pop(fe, None)
        self.listeners[fe] = listener
        log.info("listening on %s", name)

    async def _release_addresses(self) -> None:
        wanted = {fe.ip for fe in self._owners}
        for ip in list(self.addresses.added - wanted):
            await self.addresses.remove(ip)

    async def verify_addresses(self) -> None:
        """Cluster IPs another proxy on this host added and then removed (on exit) are put back."""
        async with self._lock:
            await self.addresses.verify({fe.ip for fe in self.listeners})

    async def run_checks(self, period: float = VERIFY_ADDRESSES_SECONDS) -> None:
        while True:
            await asyncio.sleep(period)
            try:
                await self.verify_addresses()
            except Exception:
                log.exception("verifying cluster IP addresses failed")

    async def close(self) -> None:
        """Stop listening and give back the addresses this process added."""
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        async with self._lock:
            for listener in self.listeners.values():
                listener.close()
            self.listeners.clear()
            await self.addresses.remove_owned()
