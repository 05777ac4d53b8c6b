"""Kubernetes' two timestamp forms, UTC: Time (RFC 3339, seconds) and MicroTime."""

from __future__ import annotations

import datetime as dt
import time


def _utc(ts: float | None) -> dt.datetime:
    return dt.datetime.fromtimestamp(time.time() if ts is None else ts, dt.UTC)


def rfc3339(ts: float | None = None) -> str:
    """metav1.Time: 2026-12-03T10:41:44Z (now when `ts` is None)."""
    return _utc(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(ts: float | None = None) -> str:
    """metav1.MicroTime: 2026-12-03T10:41:44.123456Z (now when `ts` is None)."""
    return _utc(ts).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
