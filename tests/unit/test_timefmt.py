"""timefmt's cached formatting gives what datetime's strftime gives, rounding included."""

from __future__ import annotations

import datetime as dt
import random

from kubelite.timefmt import micro_time, rfc3339


def _reference(ts: float, fmt: str) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime(fmt)


def test_same_as_datetime_for_many_instants_and_the_rounding_edges() -> None:
    rng = random.Random(14)
    instants = [rng.uniform(0, 4_000_000_000) for _ in range(20_000)]
    instants += [1_764_000_000 + k + edge for k in range(5)
                 for edge in (0.0, 0.9999995, 0.9999994, 0.0000005, 0.4999995, 0.123456)]
    for ts in instants:
        assert micro_time(ts) == _reference(ts, "%Y-%m-%dT%H:%M:%S.%fZ"), ts
        assert rfc3339(ts) == _reference(ts, "%Y-%m-%dT%H:%M:%SZ"), ts


def test_now_by_default() -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    stamp = dt.datetime.strptime(micro_time(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    assert before <= stamp <= dt.datetime.now(dt.UTC)
    assert rfc3339().endswith("Z") and len(rfc3339()) == 20
