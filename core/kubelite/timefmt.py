"""Kubernetes' two timestamp forms, UTC: Time (RFC 3339, seconds) and MicroTime.

Both are written several times per request (the audit log's two stamps, managedFields, Events,
Leases), so the date and time of a second are formatted once and reused: strftime per call was
~2.5 % of the apiserver's CPU in a burst of pod starts. The result is the same as
`datetime.fromtimestamp(ts, UTC).strftime(...)`, rounding of microseconds included
(tests/unit/test_timefmt.py compares them).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import time


def _utc(ts: float | None) -> dt.datetime:
    return dt.datetime.fromtimestamp(time.time() if ts is None else ts, dt.UTC)


def _split(ts: float) -> tuple[int, int]:
    """(whole seconds, microseconds) of `ts`, rounded as datetime.fromtimestamp rounds them."""
    frac, whole = math.modf(ts)
    us = round(frac * 1e6)
    if us >= 1_000_000:
        whole, us = whole + 1, us - 1_000_000
    elif us < 0:
        whole, us = whole - 1, us + 1_000_000
    return int(whole), us


@functools.lru_cache(maxsize=8)
def _second(whole: int) -> str:
    return _utc(whole).strftime("%Y-%m-%dT%H:%M:%S")


def rfc3339(ts: float | None = None) -> str:
    """metav1.Time: 2026-12-03T10:41:44Z (now when `ts` is None)."""
    return _second(_split(time.time() if ts is None else ts)[0]) + "Z"


def micro_time(ts: float | None = None) -> str:
    """metav1.MicroTime: 2026-12-03T10:41:44.123456Z (now when `ts` is None)."""
    whole, us = _split(time.time() if ts is None else ts)
    return f"{_second(whole)}.{us:06d}Z"
