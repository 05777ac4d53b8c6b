"""Service cluster IPs and NodePorts, allocated in etcd so no two Services share one.

Each allocated value is its own etcd key (/registry/ranges/serviceips/<ip>,
/registry/ranges/servicenodeports/<port>) created with a create-if-absent
transaction. The key's value names its owner (namespace/name/uid); an
allocation whose owner is not stored (a crash between allocating and storing
the Service) is reclaimed when it is next wanted, as Kubernetes' repair loop
would. Because a reclaim cannot tell a leaked allocation from one whose
Service is still on its way to etcd, every claim reports the revision it
wrote, and the Service is stored in the same transaction that checks each of
its allocation keys still has that revision (`guards`): if a concurrent
reclaim took one, the Service write fails and is retried with new values, so
no two stored Services ever share an IP or a NodePort.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

from kubelite.errors import FieldError, invalid
from kubelite.storage import KeyExists, KeyNotFound, RevisionMismatch

IP_PREFIX = "/registry/ranges/serviceips/"
PORT_PREFIX = "/registry/ranges/servicenodeports/"


@dataclass
class Owner:
    namespace: str
    name: str
    uid: str

    def encode(self) -> bytes:
        return f"{self.namespace}/{self.name}/{self.uid}".encode()

    @staticmethod
    def decode(raw: bytes) -> Owner:
        ns, name, uid = [*raw.decode().split("/"), "", "", ""][:3]
        return Owner(ns, name, uid)


@dataclass(frozen=True)
class Claim:
    """An allocated value, its etcd key and the revision our claim wrote there."""

    value: object
    key: str
    revision: int


class ServiceAllocator:
    def __init__(self, store, ip_range: str, port_range: tuple[int, int], owner_exists) -> None:
        """owner_exists(namespace, name, uid) -> bool tells whether an allocation is still held."""
        self.store = store
        self.network = ipaddress.ip_network(ip_range, strict=False)
        self.port_lo, self.port_hi = port_range
        self.owner_exists = owner_exists
        # First host address is reserved (Kubernetes gives it to the `kubernetes` Service).
        self._first = int(self.network.network_address) + 2
        self._last = int(self.network.broadcast_address) - 1

    # -- cluster IPs --------------------------------------------------------
    def ip_in_range(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return addr in self.network and self._first - 1 <= int(addr) <= self._last

    async def allocate_ip(self, owner: Owner, wanted: str | None, path: str) -> Claim | FieldError:
        if wanted:
            if not self.ip_in_range(wanted):
                return invalid(
                    path, wanted,
                    f"provided IP is not in the valid range. The range of valid IPs is {self.network}",
                )
            rev = await self._claim(IP_PREFIX + wanted, owner)
            if rev:
                return Claim(wanted, IP_PREFIX + wanted, rev)
            return invalid(path, wanted, "provided IP is already allocated")
        size = self._last - self._first + 1
        start = random.randrange(size)
        for i in range(min(size, 4096)):
            ip = str(ipaddress.ip_address(self._first + (start + i) % size))
            rev = await self._claim(IP_PREFIX + ip, owner)
            if rev:
                return Claim(ip, IP_PREFIX + ip, rev)
        return invalid(path, "", f"failed to allocate a serviceIP: range {self.network} is full")

    async def release_ip(self, ip: str | None, owner: Owner) -> None:
        if ip and ip != "None":
            await self._release(IP_PREFIX + ip, owner)

    # -- node ports ---------------------------------------------------------
    async def allocate_port(self, owner: Owner, wanted: int | None, path: str) -> Claim | FieldError:
        if wanted:
            if not self.port_lo <= wanted <= self.port_hi:
                return invalid(
                    path, wanted,
                    f"provided port is not in the valid range. The range of valid ports is "
                    f"{self.port_lo}-{self.port_hi}",
                )
            rev = await self._claim(PORT_PREFIX + str(wanted), owner)
            if rev:
                return Claim(wanted, PORT_PREFIX + str(wanted), rev)
            return invalid(path, wanted, "provided port is already allocated")
        size = self.port_hi - self.port_lo + 1
        start = random.randrange(size)
        for i in range(size):
            port = self.port_lo + (start + i) % size
            rev = await self._claim(PORT_PREFIX + str(port), owner)
            if rev:
                return Claim(port, PORT_PREFIX + str(port), rev)
        return invalid(path, "", "range is full")

    async def release_port(self, port: int | None, owner: Owner) -> None:
        if port:
            await self._release(PORT_PREFIX + str(port), owner)

    # -- shared -------------------------------------------------------------
    async def _claim(self, key: str, owner: Owner) -> int:
        """The revision of our claim on `key`, or 0 when someone else holds it."""
        try:
            return await self.store.create(key, owner.encode())
        except KeyExists:
            pass
        current = await self.store.get(key)
        if current is None:
            return await self._claim_once(key, owner)
        held = Owner.decode(current.value)
        if held.uid == owner.uid:
            return current.mod_revision
        if await self.owner_exists(held.namespace, held.name, held.uid):
            return 0
        try:  # not stored (leaked by a crash, or still in flight: see the module docstring)
            return await self.store.update(key, owner.encode(), expected_revision=current.mod_revision)
        except (RevisionMismatch, KeyNotFound):
            return 0

    async def _claim_once(self, key: str, owner: Owner) -> int:
        try:
            return await self.store.create(key, owner.encode())
        except KeyExists:
            return 0

    async def _release(self, key: str, owner: Owner) -> None:
        current = await self.store.get(key)
        if current is None or Owner.decode(current.value).uid != owner.uid:
            return
        try:
            await self.store.delete(key, expected_revision=current.mod_revision)
        except (RevisionMismatch, KeyNotFound):
            pass
