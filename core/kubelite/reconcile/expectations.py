"""ControllerExpectations, as Kubernetes' ReplicaSet/Job controllers use them.

A controller that just asked for N creations (or deletions of these UIDs)
must not act on the same key again until its informer has seen them, or it
would create/delete twice from a stale cache. It records what it expects;
the informer handlers report what they observe; `satisfied(key)` tells
whether the cache has caught up. As in Kubernetes, expectations that are not
met within 5 minutes count as satisfied, so a lost event cannot wedge a
controller; a key with no expectations is satisfied.

Creations are counted; deletions are tracked by UID (Kubernetes'
UIDTrackingControllerExpectations), so observing the deletion of a pod the
controller did not delete does not lower the count. Setting either kind of
expectation replaces the key's previous record, as SetExpectations does.

Pure in-memory logic; the clock is injectable for tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

EXPECTATIONS_TIMEOUT = 300.0  # seconds: Kubernetes' ExpectationsTimeout (5 minutes)


@dataclass
class _Record:
    adds: int
    dels: int
    deleting: set[str] = field(default_factory=set)  # UIDs whose deletion we await
    timestamp: float = 0.0

    def fulfilled(self) -> bool:
        return self.adds <= 0 and self.dels <= 0


class ControllerExpectations:
    def __init__(
        self, *, timeout: float = EXPECTATIONS_TIMEOUT, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.timeout = timeout
        self._clock = clock
        self._records: dict[str, _Record] = {}

    def expect_creations(self, key: str, n: int) -> None:
        self._records[key] = _Record(adds=n, dels=0, timestamp=self._clock())

    def expect_deletions(self, key: str, uids: Iterable[str]) -> None:
        pending = set(uids)
        self._records[key] = _Record(adds=0, dels=len(pending), deleting=pending,
                                     timestamp=self._clock())

    def creation_observed(self, key: str) -> None:
        record = self._records.get(key)
        if record is not None:
            record.adds -= 1

    def creations_failed(self, key: str, n: int = 1) -> None:
        """The controller's create calls failed: they will never be observed."""
        for _ in range(n):
            self.creation_observed(key)

    def deletion_observed(self, key: str, uid: str) -> None:
        """Count the deletion only if it is one this controller expected."""
        record = self._records.get(key)
        if record is not None and uid in record.deleting:
            record.deleting.discard(uid)
            record.dels -= 1

    def satisfied(self, key: str) -> bool:
        record = self._records.get(key)
        if record is None:
            return True
        if record.fulfilled():
            return True
        return self._clock() - record.timestamp > self.timeout

    def pending(self, key: str) -> tuple[int, int]:
        """(creations, deletions) still awaited for `key`; (0, 0) if none."""
        record = self._records.get(key)
        if record is None:
            return 0, 0
        return max(record.adds, 0), max(record.dels, 0)

    def delete(self, key: str) -> None:
        """Forget `key` (its owner was deleted)."""
        self._records.pop(key, None)

    def __len__(self) -> int:
        return len(self._records)
