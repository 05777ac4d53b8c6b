"""Leader election through an etcd lease: one active scheduler / controller-manager.

The etcd key `/kubelite/leader/<name>` is the truth. A candidate grants a
lease and creates the key attached to it only if absent (a create-if-absent
transaction); whoever created it leads, and keeps the lease alive every
`renew_seconds`. Everyone else watches the key and campaigns again when it is
deleted, which etcd does when the lease lapses (the leader died or was cut
off) or is revoked (the leader stepped down).

Safety: a leader that cannot renew must stop acting before anyone else can
take over. etcd expires the lease no earlier than `ttl` after it received our
last successful keep-alive, which is after we sent it; so the leader counts
`ttl` (less a safety margin) from the moment it *sent* that keep-alive and,
if no renewal succeeded by then, declares itself lost: `is_leader` turns
False, the `lost` event is set and `on_lost` is called. Losing the key itself
(deleted, or rewritten by someone else) is also noticed at once by a watch.

Optionally (`mirror=`), the holder is copied into the coordination.k8s.io/v1
Lease `kube-system/<name>` through the apiserver, for `kubectl get lease`;
that copy is informational and best-effort.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal

import msgspec

from kubelite.api.coordination_v1 import Lease, LeaseSpec
from kubelite.api.meta import ObjectMeta
from kubelite.errors import APIError
from kubelite.storage import Compacted, KeyExists, StorageError
from kubelite.storage.etcd import EtcdStore
from kubelite.tasks import cancel_and_wait
from kubelite.timefmt import micro_time

log = logging.getLogger(__name__)

KEY_PREFIX = "/kubelite/leader/"
_RETRY_MIN = 0.2
_RETRY_MAX = 5.0


class LeaderRecord(msgspec.Struct, kw_only=True):
    """The value stored at the leader key (field names as in a Lease's spec)."""

    holderIdentity: str
    leaseDurationSeconds: int
    acquireTime: str


def leader_key(name: str) -> str:
    return KEY_PREFIX + name


def safety_margin(lease_seconds: float) -> float:
    """How much earlier than the lease's expiry a leader gives up (clock-rate slack)."""
    return min(1.0, lease_seconds / 10)


async def current_holder(store: EtcdStore, name: str) -> str | None:
    """Who holds leadership of `name` now, per etcd (None: nobody)."""
    kv = await store.get(leader_key(name))
    return None if kv is None else _holder_of(kv.value)


def _holder_of(value: bytes) -> str:
    try:
        return msgspec.json.decode(value, type=LeaderRecord).holderIdentity
    except msgspec.DecodeError:
        return value.decode(errors="replace")


class LeaderElector:
    def __init__(
        self,
        store: EtcdStore,
        name: str,
        identity: str,
        *,
        lease_seconds: int = 15,
        renew_seconds: float = 5,
        on_lost: Callable[[], Awaitable[None] | None] | None = None,
        mirror: Any = None,  # a NatsAPIClient, to mirror into a coordination/v1 Lease
    ) -> None:
        if renew_seconds >= lease_seconds:
            raise ValueError("renew_seconds must be shorter than lease_seconds")
        self.store = store
        self.name = name
        self.identity = identity
        self.key = leader_key(name)
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.on_lost = on_lost
        self.mirror = mirror
        self.lost = asyncio.Event()
        self._is_leader = False
        self._lease_id = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._standing_by_for = ""

    @property
    def is_leader(self) -> bool:
        return self._is_leader

    # -- campaigning -----------------------------------------------------------

    async def acquire(self) -> None:
        """Campaign until this candidate leads. Returns as leader; `lost` is clear."""
        if self._is_leader:
            return
        failures = 0
        while True:
            try:
                if await self._try_once():
                    return
                failures = 0
                await self._wait_for_vacancy()
            except StorageError as exc:
                delay = min(_RETRY_MIN * 2 ** min(failures, 10), _RETRY_MAX)
                failures += 1
                log.warning("leader %s/%s: %s; retrying in %.1fs", self.name, self.identity, exc, delay)
                await asyncio.sleep(delay)

    async def _try_once(self) -> bool:
        sent = time.monotonic()  # etcd starts the TTL after it receives this: not earlier
        lease = await self.store.lease_grant(self.lease_seconds)
        record = LeaderRecord(
            holderIdentity=self.identity,
            leaseDurationSeconds=self.lease_seconds,
            acquireTime=micro_time(),
        )
        try:
            revision = await self.store.create(self.key, msgspec.json.encode(record), lease=lease)
        except KeyExists:
            await self._revoke_quietly(lease)
            return False
        except BaseException:
            await self._revoke_quietly(lease)
            raise
        self._lease_id = lease
        self._is_leader = True
        self.lost.clear()
        log.info("leader %s: %s acquired leadership", self.name, self.identity)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._keep_alive(sent), name=f"leader-{self.name}-renew"),
            loop.create_task(self._guard_key(revision), name=f"leader-{self.name}-guard"),
        ]
        if self.mirror is not None:
            self._tasks.append(loop.create_task(self._mirror_loop(record)))
        return True

    async def _wait_for_vacancy(self) -> None:
        """Return once the key is (probably) free: deleted, or gone on first look."""
        kv = await self.store.get(self.key)
        if kv is None:
            return
        holder = _holder_of(kv.value)
        if holder != self._standing_by_for:
            self._standing_by_for = holder
            log.info("leader %s: %s standing by: %s holds it", self.name, self.identity, holder)
        # re-check at least once per lease period, in case a watch event is missed
        with contextlib.suppress(TimeoutError, Compacted):
            async with asyncio.timeout(self.lease_seconds), contextlib.aclosing(
                self.store.watch(self.key, start_revision=kv.mod_revision + 1)
            ) as events:
                async for event in events:
                    if event.type == "DELETE" and event.kv.key == self.key:
                        return

    # -- holding ----------------------------------------------------------------

    async def _keep_alive(self, granted_at: float) -> None:
        """Renew every renew_seconds; declare the leadership lost when the lease
        may have expired in etcd."""
        valid_until = granted_at + self.lease_seconds - safety_margin(self.lease_seconds)
        interval = self.renew_seconds
        while True:
            wait = min(interval, valid_until - time.monotonic())
            if wait <= 0:
                await self._lose("could not renew the lease in time")
                return
            await asyncio.sleep(wait)
            if time.monotonic() >= valid_until:
                await self._lose("could not renew the lease in time")
                return
            sent = time.monotonic()
            try:
                async with asyncio.timeout(max(0.1, valid_until - sent)):
                    ttl = await self.store.lease_keepalive(self._lease_id)
            except Exception as exc:  # Unavailable, timeout, or the store closed under us
                log.warning("leader %s: renew failed: %r", self.name, exc)
                interval = min(0.5, self.renew_seconds)  # retry soon: the deadline is near
                continue
            interval = self.renew_seconds
            if ttl <= 0:
                await self._lose("the lease expired")
                return
            valid_until = sent + ttl - safety_margin(self.lease_seconds)

    async def _guard_key(self, revision: int) -> None:
        """Lose leadership at once if our key is deleted or overwritten."""
        start = revision + 1
        while True:
            try:
                async with contextlib.aclosing(
                    self.store.watch(self.key, start_revision=start)
                ) as events:
                    async for event in events:
                        if event.kv.key != self.key:
                            continue
                        await self._lose(f"leader key {event.type.lower()}d")
                        return
            except Compacted:
                kv = await self._get_quietly()
                if kv is None or kv.create_revision != revision:
                    await self._lose("leader key replaced")
                    return
                start = kv.mod_revision + 1
            except Exception as exc:  # Unavailable: the keep-alive deadline covers it
                log.debug("leader %s: key watch broke: %r", self.name, exc)
                await asyncio.sleep(_RETRY_MIN)

    async def _get_quietly(self) -> Any:
        try:
            return await self.store.get(self.key)
        except StorageError:
            return None

    async def _lose(self, reason: str) -> None:
        if not self._is_leader:
            return
        self._is_leader = False
        self.lost.set()
        log.error("leader %s: %s lost leadership: %s", self.name, self.identity, reason)
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        if self.on_lost is not None:
            try:
                result = self.on_lost()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("leader %s: on_lost callback failed", self.name)
        await self._revoke_quietly(self._lease_id)

    # -- giving up ---------------------------------------------------------------

    async def release(self) -> None:
        """Step down: stop renewing and revoke the lease, so a standby takes over now."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        was_leader, self._is_leader = self._is_leader, False
        if was_leader:
            await self._revoke_quietly(self._lease_id)
            log.info("leader %s: %s released leadership", self.name, self.identity)

    async def _revoke_quietly(self, lease: int) -> None:
        if not lease:
            return
        try:
            async with asyncio.timeout(2):
                await self.store.lease_revoke(lease)
        except Exception as exc:  # it expires by itself anyway
            log.debug("leader %s: revoke failed: %r", self.name, exc)

    # -- Lease object mirror (informational) -------------------------------------

    async def _mirror_loop(self, record: LeaderRecord) -> None:
        while self._is_leader:
            try:
                await self._mirror_once(record)
            except Exception as exc:
                log.debug("leader %s: mirroring the Lease failed: %r", self.name, exc)
            await asyncio.sleep(self.renew_seconds)

    async def _mirror_once(self, record: LeaderRecord) -> None:
        now = micro_time()
        try:
            lease = await self.mirror.get("leases", "kube-system", self.name)
        except APIError as exc:
            if exc.code != 404:
                raise
            lease = Lease(
                apiVersion="coordination.k8s.io/v1", kind="Lease",
                metadata=ObjectMeta(name=self.name, namespace="kube-system"),
                spec=LeaseSpec(leaseTransitions=0),
            )
            spec = lease.spec
            assert spec is not None
            spec.holderIdentity = record.holderIdentity
            spec.leaseDurationSeconds = record.leaseDurationSeconds
            spec.acquireTime = record.acquireTime
            spec.renewTime = now
            await self.mirror.create(lease)
            return
        spec = lease.spec or LeaseSpec()
        if spec.holderIdentity != record.holderIdentity:
            spec.leaseTransitions = (spec.leaseTransitions or 0) + 1
            spec.acquireTime = record.acquireTime
        spec.holderIdentity = record.holderIdentity
        spec.leaseDurationSeconds = record.leaseDurationSeconds
        spec.renewTime = now
        lease.spec = spec
        if self._is_leader:
            await self.mirror.update(lease)


# -- the campaign-and-lead loop of every singleton (scheduler, controller-manager) --------

Outcome = Literal["stopped", "lost", "failed"]


async def first_of(aw: Awaitable[Any], stop: asyncio.Event) -> bool:
    """Await `aw` unless `stop` is set first (then cancel it). True if `aw` finished."""
    task = asyncio.ensure_future(aw)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([task, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if task.done():
        task.result()
        return True
    await cancel_and_wait(task)
    return False


async def wait_term(work: Iterable[asyncio.Future[Any]], *, stop: asyncio.Event,
                    lost: asyncio.Event) -> Outcome:
    """Wait until `stop` or `lost` is set or one of `work` ends (a crash: "failed").

    A term of office: the caller stops its work afterwards, quickly when "lost"
    (another leader may already act)."""
    tasks = list(work)
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(lost.wait())]
    try:
        done, _ = await asyncio.wait([*waiters, *tasks], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
    for t in tasks:
        if t in done:
            log.error("leader term ended by a crash: %r", None if t.cancelled() else t.exception())
            return "failed"
    return "lost" if lost.is_set() else "stopped"


async def campaign_and_lead(
    elector: LeaderElector | None,
    term: Callable[[asyncio.Event], Awaitable[Outcome]],
    *,
    stop: asyncio.Event,
) -> Outcome:
    """Campaign, run one `term(lost)` while leading, and campaign again whenever the lease
    is lost, until `stop` is set or a term fails. Without an elector, one term runs at once.

    `term` builds fresh state (informers, caches: nothing survives a lost lease), acts until
    `stop` or `lost` (see `wait_term`), stops, and returns its outcome. A process therefore
    never needs a restart to become a standby again (design rule 5)."""
    while not stop.is_set():
        lost = asyncio.Event()
        if elector is not None:
            log.info("waiting to lead %s as %s", elector.name, elector.identity)
            if not await first_of(elector.acquire(), stop):
                return "stopped"
            log.info("became leader of %s as %s", elector.name, elector.identity)
            lost = elector.lost
        try:
            outcome = await term(lost)
        finally:
            if elector is not None:
                await elector.release()
        if outcome != "lost":
            return outcome
        log.warning("lost leadership of %s: stopped acting; campaigning again",
                    elector.name if elector is not None else "?")
    return "stopped"
