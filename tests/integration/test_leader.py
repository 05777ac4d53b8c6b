"""Leader election on a real etcd: one leader, failover within the lease, never two."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubelite.bus.identity import BusIdentity
from kubelite.client.nats import NatsAPIClient
from kubelite.reconcile.leader import (
    LeaderElector,
    Outcome,
    campaign_and_lead,
    current_holder,
    leader_key,
    wait_term,
)
from kubelite.storage.etcd import EtcdStore
from tests.conftest import eventually

LEASE = 3  # seconds; etcd's minimum TTL is about 2s
RENEW = 1


@pytest.fixture
def election() -> str:
    return "test-" + uuid.uuid4().hex[:10]


@pytest.fixture
async def cleanup() -> AsyncIterator[list[Any]]:
    things: list[Any] = []
    yield things
    for thing in things:
        if isinstance(thing, LeaderElector):
            await thing.release()
        else:
            await thing.close()


class Referee:
    """Samples, every 20 ms, who believes it leads and who etcd says leads."""

    def __init__(self, store: EtcdStore, name: str, electors: list[LeaderElector]) -> None:
        self.store, self.name, self.electors = store, name, electors
        self.violations: list[str] = []
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            leaders = [e.identity for e in self.electors if e.is_leader]
            if len(leaders) > 1:
                self.violations.append(f"two leaders at once: {leaders}")
            holder = await current_holder(self.store, self.name)
            # re-read after the etcd round trip: a leader must be the holder
            for e in self.electors:
                if e.is_leader and holder not in (e.identity, None):
                    self.violations.append(f"{e.identity} acts as leader while etcd says {holder}")
            await asyncio.sleep(0.02)

    async def stop(self) -> list[str]:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return self.violations


async def test_one_leader_and_failover_when_the_leader_stops_renewing(
    etcd_url: str, store: EtcdStore, election: str, cleanup: list[Any], etcd_tls: Any
) -> None:
    # each candidate has its own etcd connection, as separate processes would
    stores = [await EtcdStore.connect(etcd_url, tls=etcd_tls) for _ in range(2)]
    cleanup.extend(stores)
    a, b = (LeaderElector(s, election, ident, lease_seconds=LEASE, renew_seconds=RENEW)
            for s, ident in zip(stores, ("a", "b"), strict=True))
    cleanup[:0] = [a, b]  # release before closing the stores
    referee = Referee(store, election, [a, b])

    campaigns = [asyncio.create_task(e.acquire()) for e in (a, b)]
    done, pending = await asyncio.wait(campaigns, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    assert len(done) == 1, "nobody won the election within 10s"
    await asyncio.sleep(LEASE / 2)  # the loser must still be waiting
    assert len([t for t in campaigns if t.done()]) == 1, "two candidates won"
    leader, standby = (a, b) if a.is_leader else (b, a)
    assert not standby.is_leader
    assert await current_holder(store, election) == leader.identity

    # the leader is cut off from etcd (its connection dies): it cannot renew
    cut_at = time.monotonic()
    leader_store = leader.store
    await leader_store.close()
    await asyncio.wait_for(leader.lost.wait(), LEASE + 1)
    lost_at = time.monotonic()
    assert not leader.is_leader
    assert lost_at - cut_at <= LEASE, "a leader that cannot renew must give up within its lease"

    await asyncio.wait_for(pending.pop(), LEASE + 5)
    took_over_at = time.monotonic()
    assert standby.is_leader
    assert took_over_at >= lost_at, "the standby led before the old leader gave up"
    assert took_over_at - cut_at <= LEASE + 2, "standby did not take over within the lease"
    assert await current_holder(store, election) == standby.identity
    assert await referee.stop() == []


async def test_release_hands_over_at_once_and_context_manager(
    store: EtcdStore, election: str, cleanup: list[Any], etcd_url: str, etcd_tls: Any
) -> None:
    other_store = await EtcdStore.connect(etcd_url, tls=etcd_tls)
    cleanup.append(other_store)
    a = LeaderElector(store, election, "a", lease_seconds=15, renew_seconds=5)
    b = LeaderElector(other_store, election, "b", lease_seconds=15, renew_seconds=5)
    cleanup[:0] = [a, b]
    await a.acquire()
    try:
        assert a.is_leader and await current_holder(store, election) == "a"
        waiting = asyncio.create_task(b.acquire())
        await asyncio.sleep(0.3)
        assert not waiting.done()
        t0 = time.monotonic()
    finally:
        await a.release()
    assert not a.is_leader
    await asyncio.wait_for(waiting, 5)
    assert b.is_leader
    assert time.monotonic() - t0 < 3, "a released lease must not make the standby wait it out"
    assert await current_holder(store, election) == "b"


async def test_losing_the_key_stops_the_leader_at_once(
    store: EtcdStore, election: str, cleanup: list[Any]
) -> None:
    lost_calls: list[str] = []
    a = LeaderElector(store, election, "a", lease_seconds=15, renew_seconds=5,
                      on_lost=lambda: lost_calls.append("lost"))
    cleanup.append(a)
    await asyncio.wait_for(a.acquire(), 10)
    await store.delete(leader_key(election))  # e.g. an operator removed it
    await asyncio.wait_for(a.lost.wait(), 5)
    assert not a.is_leader and lost_calls == ["lost"]


async def test_leader_is_mirrored_into_a_lease_object(
    apiserver: Any, store: EtcdStore, nats_client: Any, election: str, cleanup: list[Any]
) -> None:
    client = NatsAPIClient(nats_client, caller=BusIdentity("controller-manager"))
    a = LeaderElector(store, election, "a", lease_seconds=15, renew_seconds=5, mirror=client)
    cleanup.append(a)
    await a.acquire()

    async def mirrored() -> Any:
        try:
            lease = await client.get("leases", "kube-system", election)
        except Exception:
            return None
        return lease if lease.spec and lease.spec.holderIdentity == "a" else None

    lease = await eventually(mirrored, message="Lease kube-system/<name> names the holder")
    assert lease.spec.leaseDurationSeconds == 15
    assert lease.spec.renewTime and lease.spec.acquireTime
    await client.delete("leases", "kube-system", election)


async def test_campaign_and_lead_starts_a_fresh_term_after_a_lost_lease(
    store: EtcdStore, election: str, cleanup: list[Any]
) -> None:
    """The loop scheduler and controller-manager share: a lost lease ends the term
    ("lost"), the process campaigns again and leads a second, fresh term; `stop` ends it."""
    a = LeaderElector(store, election, "a", lease_seconds=15, renew_seconds=5)
    cleanup.append(a)
    stop = asyncio.Event()
    terms: list[str] = []

    async def term(lost: asyncio.Event) -> Outcome:
        terms.append(await current_holder(store, election) or "")
        if len(terms) == 1:
            await store.delete(leader_key(election))  # e.g. an operator removed it
        else:
            stop.set()
        return await wait_term([], stop=stop, lost=lost)

    outcome = await asyncio.wait_for(campaign_and_lead(a, term, stop=stop), 20)
    assert outcome == "stopped" and terms == ["a", "a"], terms
    assert not a.is_leader and await current_holder(store, election) is None


async def test_campaign_and_lead_reports_a_crashed_term(
    store: EtcdStore, election: str, cleanup: list[Any]
) -> None:
    a = LeaderElector(store, election, "a", lease_seconds=15, renew_seconds=5)
    cleanup.append(a)
    stop = asyncio.Event()

    async def crash() -> None:
        raise RuntimeError("boom")

    async def term(lost: asyncio.Event) -> Outcome:
        return await wait_term([asyncio.ensure_future(crash())], stop=stop, lost=lost)

    assert await asyncio.wait_for(campaign_and_lead(a, term, stop=stop), 20) == "failed"
    assert await current_holder(store, election) is None, "a failed term releases the lease"
