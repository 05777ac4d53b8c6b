"""Durations as Kubernetes flags take them: Go's `time.ParseDuration` syntax.

A duration is a sequence of decimal numbers, each with an optional fraction and
a unit: "300ms", "1.5h", "2h45m", "-1m". Units are ns, us (or µs/μs), ms, s, m
and h. As in Go, "0" needs no unit. kubelite also accepts a bare number as
seconds ("30"), because its flags always did.

Every service's duration flags use `duration_flag` (argparse `type=`), so
`--resync-period 1m30s` means the same everywhere.
"""

from __future__ import annotations

import argparse
import re

# Longest first: "ms" before "m", "us"/"µs" before "s".
_UNITS: dict[str, float] = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_BARE_SECONDS = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")


class DurationError(ValueError):
    """Not a Go duration; the message says what was expected."""


def parse_duration(text: str) -> float:
    """Seconds of a Go duration string.

    >>> parse_duration("1m30s"), parse_duration("500ms"), parse_duration("1.5h"), parse_duration("40")
    (90.0, 0.5, 5400.0, 40.0)
    """
    s = text.strip()
    if _BARE_SECONDS.fullmatch(s):
        return float(s)
    sign = -1.0 if s.startswith("-") else 1.0
    body = s[1:] if s[:1] in "+-" else s
    total, pos = 0.0, 0
    while pos < len(body):
        m = _PART.match(body, pos)
        if m is None:
            raise DurationError(f"invalid duration {text!r} (Go syntax, e.g. 15s, 1m30s, 500ms, 2h)")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not body:
        raise DurationError(f"invalid duration {text!r} (Go syntax, e.g. 15s, 1m30s, 500ms, 2h)")
    return sign * total


def duration_flag(text: str) -> float:
    """argparse `type=` for a non-negative duration flag."""
    try:
        seconds = parse_duration(text)
    except DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: must not be negative")
    return seconds
