"""Backend choice for one Service port: round-robin, ClientIP affinity with a timeout (pure).

The data path asks `candidates(client_ip)` for the order to try backends in
(the sticky one first, then round-robin from the next position, so a dead
backend is skipped by trying the rest; backends that failed in the last few
seconds last) and reports the backend that answered with `connected()`, or
one that did not with `failed()`. Updating the backend list keeps the round-robin position
and forgets affinity to backends that left; connections already open are not
this object's business (they finish on their own).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kubelite_proxy.rules import Backend

_MAX_AFFINITY_ENTRIES = 65536  # bound memory against many distinct clients
FAILED_PENALTY_SECONDS = 5.0  # a backend that refused or timed out is tried last for this long


class Balancer:
    def __init__(
        self,
        backends: tuple[Backend, ...] = (),
        affinity_seconds: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backends: tuple[Backend, ...] = ()
        self.affinity_seconds: int | None = None
        self._clock = clock
        self._next = 0
        self._sticky: dict[str, tuple[Backend, float]] = {}  # client ip -> (backend, last used)
        self._failed: dict[Backend, float] = {}  # backend -> when a connect to it last failed
        self.update(backends, affinity_seconds)

    def update(self, backends: tuple[Backend, ...], affinity_seconds: int | None) -> None:
        self.backends = tuple(backends)
        if affinity_seconds != self.affinity_seconds:
            self._sticky.clear()
        self.affinity_seconds = affinity_seconds
        live = set(self.backends)
        if self._sticky:
            self._sticky = {ip: v for ip, v in self._sticky.items() if v[0] in live}
        if self._failed:
            self._failed = {b: t for b, t in self._failed.items() if b in live}
        if self.backends:
            self._next %= len(self.backends)
        else:
            self._next = 0

    def candidates(self, client_ip: str) -> list[Backend]:
        """Backends in the order to try them for a new connection from `client_ip`."""
        backends = self.backends
        n = len(backends)
        if n == 0:
            return []
        start = self._next
        self._next = (start + 1) % n
        order = list(backends[start:] + backends[:start]) if start else list(backends)
        if self.affinity_seconds is not None:
            held = self._sticky.get(client_ip)
            if held is not None:
                backend, used = held
                if self._clock() - used <= self.affinity_seconds and backend in backends:
                    order.remove(backend)
                    order.insert(0, backend)
                    self._next = start  # a sticky pick does not consume a round-robin turn
                else:
                    del self._sticky[client_ip]
        if self._failed:
            order = self._demote_failed(order)
        return order

    def _demote_failed(self, order: list[Backend]) -> list[Backend]:
        """Recently failed backends go last (still tried: they may be the only ones left)."""
        now = self._clock()
        self._failed = {b: t for b, t in self._failed.items() if now - t < FAILED_PENALTY_SECONDS}
        if not self._failed:
            return order
        return [b for b in order if b not in self._failed] + [b for b in order if b in self._failed]

    def failed(self, backend: Backend) -> None:
        """A connect to `backend` failed (refused, unreachable, timed out)."""
        if backend in self.backends:
            self._failed[backend] = self._clock()

    def connected(self, client_ip: str, backend: Backend) -> None:
        """`backend` accepted a connection from `client_ip`: (re)start its affinity timer."""
        if self._failed:
            self._failed.pop(backend, None)
        if self.affinity_seconds is None:
            return
        if len(self._sticky) >= _MAX_AFFINITY_ENTRIES and client_ip not in self._sticky:
            self._expire()
            if len(self._sticky) >= _MAX_AFFINITY_ENTRIES:
                self._sticky.pop(next(iter(self._sticky)))
        self._sticky[client_ip] = (backend, self._clock())

    def _expire(self) -> None:
        now = self._clock()
        limit = self.affinity_seconds or 0
        self._sticky = {ip: v for ip, v in self._sticky.items() if now - v[1] <= limit}
