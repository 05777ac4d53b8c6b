"""Leader election on an etcd lease (thin local helper until kubelite.reconcile has one).

The leader holds key `/kubelite/leaders/<name>` (outside /registry, so the
apiserver's objects are untouched) bound to an etcd lease it keeps alive.
Standbys watch the key and try to take it when it goes: the holder's lease
lapsed (crash) or was revoked (clean exit). A leader that cannot renew in time
gives up leadership (`lost` fires), as kube-scheduler does, and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kubelite.storage import KeyExists, StorageError
from kubelite.storage.etcd import EtcdStore

log = logging.getLogger(__name__)

LEADER_PREFIX = "/kubelite/leaders/"


class LeaderElector:
    def __init__(self, store: EtcdStore, name: str, identity: str, *, ttl: int = 10) -> None:
        self.store = store
        self.key = LEADER_PREFIX + name
        self.identity = identity
        self.ttl = ttl
        self.lease_id = 0
        self.lost = asyncio.Event()
        self._keepalive: asyncio.Task[None] | None = None

    async def acquire(self) -> None:
        """Return once this instance is the leader (waits as standby until then)."""
        while True:
            lease = await self.store.lease_grant(self.ttl)
            try:
                await self.store.create(self.key, self.identity.encode(), lease=lease)
            except KeyExists:
                await self.store.lease_revoke(lease)
                holder = await self.store.get(self.key)
                log.info("standing by: leader is %s", holder.value.decode() if holder else "?")
                await self._wait_vacant()
                continue
            except StorageError:
                with contextlib.suppress(StorageError):
                    await self.store.lease_revoke(lease)
                await asyncio.sleep(1)
                continue
            self.lease_id = lease
            self._keepalive = asyncio.get_running_loop().create_task(self._renew())
            log.info("became leader as %s", self.identity)
            return

    async def _wait_vacant(self) -> None:
        try:
            current = await self.store.get(self.key)
            if current is None:
                return
            rev = current.mod_revision
            async for ev in self.store.watch(self.key, start_revision=rev + 1):
                if ev.type == "DELETE" and ev.kv.key == self.key:
                    return
        except StorageError:
            await asyncio.sleep(1)

    async def _renew(self) -> None:
        interval = max(self.ttl / 3, 0.5)
        deadline = asyncio.get_running_loop().time() + self.ttl
        while True:
            await asyncio.sleep(interval)
            try:
                left = await self.store.lease_keepalive(self.lease_id)
            except StorageError as exc:
                log.warning("lease renewal failed: %s", exc)
                left = -1
            now = asyncio.get_running_loop().time()
            if left > 0:
                deadline = now + left
            elif left == 0 or now >= deadline - interval:
                log.error("lost leadership (lease %x expired)", self.lease_id)
                self.lost.set()
                return

    async def release(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
        if self.lease_id:
            with contextlib.suppress(StorageError):
                await self.store.lease_revoke(self.lease_id)
            self.lease_id = 0
