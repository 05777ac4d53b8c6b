"""/readyz's answers (kube-apiserver's healthz handler) and the throttled etcd check."""

from __future__ import annotations

import asyncio

from kubelite_apiserver import readyz


def _checks(**failing: str) -> dict[str, readyz.Check]:
    def check(name: str) -> readyz.Check:
        async def run() -> str:
            return failing.get(name, "")
        return run
    return {name: check(name) for name in ("ping", "etcd", "shutdown")}


def test_endpoint_names_the_probe_and_the_single_check() -> None:
    assert readyz.endpoint("/readyz") == ("readyz", "")
    assert readyz.endpoint("/readyz/etcd") == ("readyz", "etcd")
    assert readyz.endpoint("/livez/") == ("livez", "")
    assert readyz.endpoint("/readyz/etcd/x") is None and readyz.endpoint("/version") is None


async def test_all_passing_is_ok_and_verbose_lists_them() -> None:
    assert await readyz.answer("readyz", "", "", _checks()) == (200, b"ok")
    code, body = await readyz.answer("readyz", "", "verbose", _checks())
    assert code == 200 and body == b"[+]ping ok\n[+]etcd ok\n[+]shutdown ok\nreadyz check passed\n"


async def test_a_failing_check_is_500_with_its_reason_withheld() -> None:
    code, body = await readyz.answer("readyz", "", "", _checks(etcd="connection refused"))
    assert code == 500
    assert body == b"[+]ping ok\n[-]etcd failed: reason withheld\n[+]shutdown ok\nreadyz check failed\n"
    excluded = await readyz.answer("readyz", "", "exclude=etcd&verbose", _checks(etcd="down"))
    assert excluded == (200, b"[+]ping ok\n[+]etcd excluded: ok\n[+]shutdown ok\nreadyz check passed\n")


async def test_one_check_by_name_shows_why() -> None:
    assert await readyz.answer("readyz", "etcd", "", _checks(etcd="down")) == \
        (500, b"internal server error: down\n")
    assert await readyz.answer("readyz", "ping", "", _checks(etcd="down")) == (200, b"ok")
    assert (await readyz.answer("readyz", "nosuch", "", _checks()))[0] == 404


async def test_throttled_runs_the_check_at_most_once_per_interval() -> None:
    now = [0.0]
    runs: list[float] = []
    gate = asyncio.Event()

    async def probe() -> str:
        runs.append(now[0])
        await gate.wait()
        return "slow" if len(runs) == 1 else ""

    check = readyz.Throttled(probe, 1.0, clock=lambda: now[0])
    first, second = asyncio.ensure_future(check()), asyncio.ensure_future(check())
    await asyncio.sleep(0)
    gate.set()
    assert await first == "slow" and await second == "slow" and runs == [0.0]  # shared while running
    now[0] = 0.9
    assert await check() == "slow" and runs == [0.0]  # within the interval: the last answer
    now[0] = 1.2
    assert await check() == "" and runs == [0.0, 1.2]  # then a new probe


async def test_a_cancelled_caller_does_not_cancel_the_shared_probe() -> None:
    gate = asyncio.Event()

    async def probe() -> str:
        await gate.wait()
        return ""

    check = readyz.Throttled(probe, 1.0)
    impatient = asyncio.ensure_future(check())
    await asyncio.sleep(0)
    impatient.cancel()
    patient = asyncio.ensure_future(check())
    await asyncio.sleep(0)
    gate.set()
    assert await patient == ""
