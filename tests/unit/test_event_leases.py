"""LeaseManager (leases shared by objects that expire, as Kubernetes' etcd3 leaseManager): pure."""

from __future__ import annotations

import asyncio

from kubelite.storage.leases import LeaseManager, reuse_window
from tests.fakeclock import FakeClock


class Grants:
    def __init__(self) -> None:
        self.ttls: list[int] = []

    async def __call__(self, ttl: int) -> int:
        self.ttls.append(ttl)
        return len(self.ttls)  # lease ids 1, 2, ...


def test_the_reuse_window_is_five_percent_of_the_ttl_at_most_a_minute() -> None:
    assert reuse_window(3600) == 60  # min(60, 180)
    assert reuse_window(600) == 30
    assert reuse_window(10) == 0  # int(0.5): each write a lease of its own


def test_writes_within_the_window_share_a_lease_then_a_new_one_is_granted() -> None:
    grants, clock = Grants(), FakeClock()
    leases = LeaseManager(grants, clock=clock)

    async def scenario() -> list[int]:
        got = [await leases.lease(3600)]  # t=0: new lease of 3,660 s
        clock.now += 59
        got.append(await leases.lease(3600))  # t=59: would live 3,601 s on it: reused
        clock.now += 2
        got.append(await leases.lease(3600))  # t=61: only 3,599 s left: a new one
        return got

    assert asyncio.run(scenario()) == [1, 1, 2]
    assert grants.ttls == [3660, 3660]


def test_a_lease_carries_at_most_max_objects() -> None:
    grants, clock = Grants(), FakeClock()
    leases = LeaseManager(grants, clock=clock, max_objects=3)

    async def scenario() -> list[int]:
        return [await leases.lease(3600) for _ in range(7)]

    assert asyncio.run(scenario()) == [1, 1, 1, 2, 2, 2, 3]


def test_concurrent_writers_wait_for_one_grant() -> None:
    grants = Grants()
    leases = LeaseManager(grants)

    async def scenario() -> list[int]:
        return list(await asyncio.gather(*(leases.lease(3600) for _ in range(20))))

    assert asyncio.run(scenario()) == [1] * 20 and grants.ttls == [3660]


def test_a_forgotten_lease_is_replaced_at_the_next_write() -> None:
    grants = Grants()
    leases = LeaseManager(grants)

    async def scenario() -> list[int]:
        first = await leases.lease(3600)
        leases.forget(99)  # not the current one: nothing changes
        second = await leases.lease(3600)
        leases.forget(first)  # etcd lost it
        return [first, second, await leases.lease(3600)]

    assert asyncio.run(scenario()) == [1, 1, 2]
