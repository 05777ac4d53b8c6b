"""What a chaos run must show, judged from what it recorded (pure).

Samples are what the probes saw: Service requests (`Request`), acknowledged API writes
(`Write`), and the workload's state over time (`Convergence`). Every check returns a
`Verdict`: one line of the run's output.

Example: 400 requests while the fault lasted, 0 failed, `max_error_rate` 0 ->
`PASS service error rate during the fault: 0.0 % (0/400, allowed 0.0 %)`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass


@dataclass(frozen=True)
class Request:
    at: float  # seconds since the run started
    ok: bool
    target: str  # the host whose NodePort was asked


@dataclass(frozen=True)
class Write:
    at: float
    name: str
    ok: bool  # acknowledged (2xx)
    uid: str = ""
    status: str = ""  # the HTTP status or the error, when not ok
    done: float = 0.0  # when the answer came (a write sent during the fault may be acknowledged after)


# from the Endpoints change to every proxy's data path: the NATS event, the proxy's rules, nft
PROPAGATION_SECONDS = 3.0


@dataclass(frozen=True)
class Window:
    fault_start: float
    fault_end: float
    converged_at: float | None  # when replicas matched again after recovery (None: never)


@dataclass(frozen=True)
class Verdict:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'} {self.name}: {self.detail}"


def error_rate(requests: list[Request], start: float, end: float) -> tuple[int, int]:
    """(failed, total) of the requests sent in [start, end)."""
    window = [r for r in requests if start <= r.at < end]
    return sum(not r.ok for r in window), len(window)


def service_during_fault(requests: list[Request], window: Window, allowed: float,
                         lost_hosts: tuple[str, ...] = (), detection: float = 0.0,
                         detected_at: float | None = None) -> Verdict:
    """The share of failed requests while the fault lasts, through the hosts it left reachable.

    Example: w-1 partitioned (`lost_hosts=("w-1",)`), 200 requests through w-2, 1 failed, 190
    through w-1, all failed, `allowed` 0.02 -> `PASS ... 0.5 % (1/200, allowed 2.0 %; w-1: 190
    requests not counted)`.

    With `detection` (s), requests sent before the cluster can know that a silent host is gone are
    not counted either: the first `detection` seconds of the fault, or, when the run saw the
    Endpoints drop the lost host's pods (`detected_at`, later than that), until PROPAGATION_SECONDS
    after it. Example: fault at 10 s, detection 8 s, Endpoints changed at 21.5 s (a loaded
    controller-manager) -> requests sent from 24.5 s on are counted; a request that failed at
    19 s went to a pod the Endpoints still listed, which Kubernetes does as well for 40-50 s."""
    counted_from = window.fault_start + detection
    if detection and detected_at is not None:
        counted_from = max(counted_from, detected_at + PROPAGATION_SECONDS)
    during = [r for r in requests if counted_from <= r.at < window.fault_end]
    counted = [r for r in during if r.target not in lost_hosts]
    failed, total = error_rate(counted, window.fault_start, window.fault_end)
    rate = failed / total if total else 0.0
    skipped = len(during) - len(counted)
    note = f"; {', '.join(lost_hosts)}: {skipped} requests not counted" if lost_hosts else ""
    if detection:
        note += f"; the first {counted_from - window.fault_start:.3g} s (detection) not counted"
    return Verdict("service error rate during the fault", total > 0 and rate <= allowed,
                   f"{rate:.1%} ({failed}/{total}, allowed {allowed:.1%}{note})")


def lost_host_left_endpoints(host: str, detected_at: float | None, window: Window) -> Verdict:
    """The cluster took a silent host's pods out of the Service's Endpoints while the fault lasted
    (the node lifecycle controller marked them not ready). Example: w-2 cut off at 10 s, its pods
    gone from the Endpoints at 16.2 s -> `PASS ... 6.2 s after the fault`."""
    name = f"pods of {host} out of the Service's Endpoints"
    if detected_at is None:
        return Verdict(name, False, f"still listed when the fault ended ({window.fault_end - window.fault_start:.0f} s)")
    return Verdict(name, True, f"{detected_at - window.fault_start:.1f} s after the fault")


def service_after_recovery(requests: list[Request], window: Window, end: float) -> Verdict:
    """Once converged, the Service answers everything again (the last 3 s of the run)."""
    start = max(window.converged_at or end, end - 3.0)
    failed, total = error_rate(requests, start, end)
    return Verdict("service after recovery", total > 0 and failed == 0, f"{failed}/{total} failed in the last 3 s")


def writes_kept(writes: list[Write], stored: dict[str, str] | None) -> Verdict:
    """Every acknowledged write is stored, once, as the object that was acknowledged (same uid):
    nothing lost, nothing created twice. `stored` maps name -> uid of what a final list shows
    (None: the list could not be read, which fails the check without calling anything lost)."""
    acked = [w for w in writes if w.ok]
    if stored is None:
        return Verdict("no acknowledged write lost or duplicated", False,
                       f"{len(acked)} acknowledged; the final list of them failed for 30 s")
    lost = [w.name for w in acked if w.name not in stored]
    replaced = [w.name for w in acked if w.name in stored and w.uid and stored[w.name] != w.uid]
    unacked_dupes = len(stored) - len({w.name for w in writes} & stored.keys())
    ok = not lost and not replaced and unacked_dupes == 0
    detail = f"{len(acked)} acknowledged, {len(lost)} lost, {len(replaced)} replaced"
    if lost:
        detail += f" (lost: {', '.join(lost[:5])})"
    if unacked_dupes:
        detail += f", {unacked_dupes} stored that no probe wrote"
    return Verdict("no acknowledged write lost or duplicated", ok, detail)


def writes_during_fault(writes: list[Write], window: Window, refused: bool) -> Verdict:
    """With `refused` (quorum lost) no write may be acknowledged while the fault lasts (2 s after
    it starts: a write already committed may still be answered), and some must be afterwards;
    otherwise writes keep being acknowledged (after at most a retry).

    Example: quorum lost at 3 s, back at 13 s; a write sent at 12.5 s and acknowledged at 14 s
    is not "during" (it committed once the members were back); one acknowledged at 8 s is."""
    if refused:
        during = [w for w in writes if window.fault_start + 2.0 <= max(w.at, w.done) < window.fault_end]
    else:
        during = [w for w in writes if window.fault_start + 2.0 <= w.at < window.fault_end]
    after = [w for w in writes if w.at >= (window.converged_at or window.fault_end)]
    acked_during = sum(w.ok for w in during)
    if refused:
        ok = acked_during == 0 and any(w.ok for w in after)
        return Verdict("writes refused without quorum, accepted after", ok,
                       f"{acked_during}/{len(during)} acknowledged during, {sum(w.ok for w in after)} after")
    ok = acked_during > 0 or not during
    gap = longest_write_gap(writes, window.fault_start, window.converged_at or window.fault_end)
    return Verdict("writes accepted during the fault", ok,
                   f"{acked_during}/{len(during)} acknowledged, longest gap {gap:.1f} s")


def longest_write_gap(writes: list[Write], start: float, end: float) -> float:
    """The longest time in [start, end] with no write acknowledged: how long the API could not
    take writes (a failover, an election, lost quorum), at the probe's 2 writes/s resolution.

    Example: writes acknowledged at 1.0, 1.5, 2.0 and then 6.2 s, run judged from 0.8 to 7.0 s
    -> 4.2 s (2.0 to 6.2); nothing acknowledged at all -> the whole span."""
    acked = sorted(max(w.at, w.done) for w in writes if w.ok and start <= max(w.at, w.done) <= end)
    marks = [start, *acked, end]
    return max(b - a for a, b in itertools.pairwise(marks))


def converged(window: Window, deadline: float) -> Verdict:
    if window.converged_at is None:
        return Verdict("replicas converge", False, f"not within {deadline:.0f} s of recovery")
    took = max(0.0, window.converged_at - window.fault_end)
    return Verdict("replicas converge", True, f"{took:.1f} s after recovery")


def replaced(host: str, pods_before: int, moved_at: float | None, fault_start: float, hold: float) -> Verdict:
    """A lost host's pods Running elsewhere while the fault lasts; a host that ran none proves
    nothing, so it fails too.

    Example: w-2 ran 2 pods, all replicas Ready on other nodes 7.4 s after it was cut off ->
    `PASS pods of w-2 replaced elsewhere during the fault: 2 pods, 7.4 s after the fault`."""
    name = f"pods of {host} replaced elsewhere during the fault"
    if pods_before == 0:
        return Verdict(name, False, f"{host} ran none of the workload's pods when the fault began")
    if moved_at is None:
        return Verdict(name, False, f"not within {hold:.0f} s")
    return Verdict(name, True, f"{pods_before} pod{'s' if pods_before > 1 else ''}, "
                               f"{moved_at - fault_start:.1f} s after the fault")


@dataclass(frozen=True)
class Beat:
    """One heartbeat a StatefulSet pod wrote: its name (the ordinal), its uid, and when, on the
    machine's clock (every lab host shares its kernel, so /proc/uptime is one clock)."""

    ordinal: str
    uid: str
    at: float


def ordinals_once(beats: list[Beat]) -> Verdict:
    """No StatefulSet ordinal ran as two pods at once. Each pod (uid) lived from its first beat
    to its last; two pods of one ordinal whose lives overlap mean a replacement started while
    the pod it replaced still ran (e.g. force-deleted on a node that was only cut off).

    Example: chaos-db-0 beats as uid a from 10.0 to 20.0 and as uid b from 21.5 on: one at a
    time. As uid b from 15.0 while a beats until 20.0: `chaos-db-0 ran twice for 5.0 s`.
    """
    if not beats:
        return Verdict("no StatefulSet ordinal runs twice", False, "no heartbeats: its pods never ran")
    lives: dict[str, dict[str, tuple[float, float]]] = {}
    for b in beats:
        first, last = lives.setdefault(b.ordinal, {}).get(b.uid, (b.at, b.at))
        lives[b.ordinal][b.uid] = (min(first, b.at), max(last, b.at))
    twice = []
    for ordinal, by_uid in sorted(lives.items()):
        spans = sorted(by_uid.values())
        overlap = max((min(a[1], b[1]) - b[0] for a, b in itertools.combinations(spans, 2)), default=0.0)
        if overlap > 0:
            twice.append(f"{ordinal} ran twice for {overlap:.1f} s")
    pods = sum(len(u) for u in lives.values())
    return Verdict("no StatefulSet ordinal runs twice", not twice,
                   "; ".join(twice) or f"{len(lives)} ordinals, {pods} pods, never two at once")
