"""Expectations, as Kubernetes' UIDTrackingControllerExpectations.

A controller that creates N pods cannot tell from its cache whether they exist
until the informer delivers them; acting again before then would create them
twice. So before writing it records what it expects to see (N creations, the
keys of the pods it deletes) and skips managing replicas until every expected
event has been observed, or the record has expired (a lost event must not
stall the controller forever).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

EXPECTATIONS_TIMEOUT = 300.0  # seconds, client-go's ExpectationsTimeout


@dataclass
class _Record:
    adds: int = 0
    deletes: set[str] = field(default_factory=set)
    stamp: float = 0.0


class Expectations:
    def __init__(self, *, timeout: float = EXPECTATIONS_TIMEOUT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self._clock = clock
        self._records: dict[str, _Record] = {}

    def satisfied(self, key: str) -> bool:
        """True when the controller may act on `key`: nothing pending, or the record expired."""
        rec = self._records.get(key)
        if rec is None:
            return True
        if rec.adds <= 0 and not rec.deletes:
            return True
        return self._clock() - rec.stamp > self.timeout

    def expect_creations(self, key: str, count: int) -> None:
        rec = self._records.setdefault(key, _Record())
        rec.adds = count
        rec.stamp = self._clock()

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        rec = self._records.setdefault(key, _Record())
        rec.deletes = set(pod_keys)
        rec.stamp = self._clock()

    def creation_observed(self, key: str) -> None:
        """An expected pod showed up in the cache (or its create failed and never will)."""
        rec = self._records.get(key)
        if rec is not None and rec.adds > 0:
            rec.adds -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        rec = self._records.get(key)
        if rec is not None:
            rec.deletes.discard(pod_key)

    def pending(self, key: str) -> tuple[int, int]:
        rec = self._records.get(key)
        return (0, 0) if rec is None else (max(rec.adds, 0), len(rec.deletes))

    def forget(self, key: str) -> None:
        self._records.pop(key, None)
