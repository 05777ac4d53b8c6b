"""Container restart back-off, as the kubelet's flowcontrol.Backoff computes it.

The first exit restarts at once and starts the back-off at `base`; each further
exit within the back-off window waits (CrashLoopBackOff) until
`finished_at + delay`, then restarts and doubles the delay up to `max`.  An
entry not updated for `reset` seconds (Kubernetes: 2 × max = 10 min) starts over.
Pure: every method takes the time.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class _Entry:
    delay: float
    last_update: float


@dataclass
class BackOff:
    base: float = 10.0
    max: float = 300.0
    reset: float = 600.0
    _entries: dict[str, _Entry] = field(default_factory=dict)

    def _expired(self, entry: _Entry, event_time: float) -> bool:
        return event_time - entry.last_update > self.reset

    def in_backoff_since(self, key: str, event_time: float, now: float) -> bool:
        """Whether a restart for an exit at `event_time` must still wait at `now`."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, event_time):
            return False
        return now - event_time < entry.delay

    def next(self, key: str, event_time: float, now: float) -> None:
        """Record a restart: start at `base`, or double (capped at `max`)."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, event_time):
            entry = _Entry(self.base, now)
        else:
            entry.delay = min(entry.delay * 2, self.max)
        entry.last_update = now
        self._entries[key] = entry

    def delay(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry.delay if entry else 0.0

    def ready_at(self, key: str, event_time: float) -> float:
        """When a restart for an exit at `event_time` may happen."""
        entry = self._entries.get(key)
        return event_time + entry.delay if entry else event_time

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)

    def forget_prefix(self, prefix: str) -> None:
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]


def go_duration(seconds: float) -> str:
    """Render seconds as Go's time.Duration.String() does for whole seconds: 10s, 1m20s, 5m0s."""
    total = round(seconds)
    if seconds != total:
        return f"{seconds:g}s"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
