"""Leases for objects that expire (Events, after the apiserver's --event-ttl), shared between
the objects written close together, as Kubernetes' etcd3 leaseManager does.

Why share: a lease grant is an etcd request and a raft entry of its own, and etcd keeps every
lease until it expires; one per Event would double the writes of the busiest resource. So a
lease is reused for every object written within a short window after it was granted, and each
object is given the TTL plus at most that window: it lives at least `ttl`, at most
`ttl + window` seconds. The window is min(reuse_seconds, reuse_percent × ttl); a lease also
stops being reused after `max_objects` attachments.

Worked example (ttl 3600 s, Kubernetes' defaults: 60 s, 5 %, 1,000 objects): the window is
min(60, 180) = 60 s. An Event written at t=0 gets a new lease of 3,660 s (expiring at 3,660);
Events written until t=60 reuse it (each then lives between 3,600 and 3,660 s); one written at
t=61 would live only 3,599 s on it, so it gets a new lease expiring at 3,721.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

REUSE_SECONDS = 60  # Kubernetes' defaultLeaseReuseDurationSeconds
REUSE_PERCENT = 0.05  # its leaseReuseDurationPercent
MAX_OBJECTS = 1000  # its defaultLeaseMaxObjectCount


def reuse_window(ttl: int, *, reuse_seconds: int = REUSE_SECONDS, reuse_percent: float = REUSE_PERCENT) -> int:
    """How long after its grant a lease of `ttl` seconds is reused (whole seconds, as Kubernetes)."""
    return min(int(reuse_percent * ttl), reuse_seconds)


class LeaseManager:
    def __init__(self, grant: Callable[[int], Awaitable[int]], *, clock: Callable[[], float] = time.monotonic,
                 reuse_seconds: int = REUSE_SECONDS, reuse_percent: float = REUSE_PERCENT,
                 max_objects: int = MAX_OBJECTS) -> None:
        """`grant(ttl)`: an etcd lease of `ttl` seconds, its id (EtcdStore.lease_grant)."""
        self._grant = grant
        self._clock = clock
        self.reuse_seconds = reuse_seconds
        self.reuse_percent = reuse_percent
        self.max_objects = max_objects
        self._lease = 0
        self._expires = 0.0  # clock() time the current lease expires
        self._attached = 0
        self._lock = asyncio.Lock()  # one grant at a time: concurrent writers share its lease

    def forget(self, lease: int) -> None:
        """etcd no longer has `lease` (storage.LeaseNotFound): the next object gets a new one."""
        if self._lease == lease:
            self._lease = 0

    async def lease(self, ttl: int) -> int:
        """A lease that keeps an object written now for at least `ttl` seconds."""
        async with self._lock:
            now = self._clock()
            window = reuse_window(ttl, reuse_seconds=self.reuse_seconds, reuse_percent=self.reuse_percent)
            valid = now + ttl < self._expires  # it outlives the object's ttl
            sufficient = now + ttl + window >= self._expires  # by no more than the window
            self._attached += 1
            if self._lease and valid and sufficient and self._attached <= self.max_objects:
                return self._lease
            lease = await self._grant(ttl + window)
            self._lease, self._expires, self._attached = lease, now + ttl + window, 1
            return lease
