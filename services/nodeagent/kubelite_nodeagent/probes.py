"""Liveness, readiness and startup probes: pure decision logic plus the three probe actions.

`ProbeTracker` follows the kubelet's prober worker: a probe runs every
periodSeconds once the container has run initialDelaySeconds; a result only
becomes the probe's result after successThreshold successes or
failureThreshold failures in a row.  Liveness and readiness wait for the
startup probe to succeed; startup stops probing once it has.  After a
liveness/startup failure the tracker holds until the container is restarted.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass

import httpx

from kubelite.api.core_v1 import Container, Probe
from kubelite_nodeagent.runtime.base import Runtime

LIVENESS = "liveness"
READINESS = "readiness"
STARTUP = "startup"


class Result(enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    UNKNOWN = "unknown"


# The result a probe has before it first decides (kubelet's initialValue per probe type).
INITIAL = {LIVENESS: Result.SUCCESS, READINESS: Result.FAILURE, STARTUP: Result.UNKNOWN}


@dataclass
class ProbeTiming:
    initial_delay: float = 0
    period: float = 10
    timeout: float = 1
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def of(cls, probe: Probe) -> ProbeTiming:
        def pick(value: int | None, default: float) -> float:
            return default if value is None or value <= 0 else value

        return cls(
            initial_delay=probe.initialDelaySeconds or 0,
            period=pick(probe.periodSeconds, 10),
            timeout=pick(probe.timeoutSeconds, 1),
            success_threshold=int(pick(probe.successThreshold, 1)),
            failure_threshold=int(pick(probe.failureThreshold, 3)),
        )


@dataclass
class ProbeTracker:
    """One probe of one container run (reset by building a new tracker on restart)."""

    kind: str
    timing: ProbeTiming
    result: Result = Result.UNKNOWN
    last_observed: Result | None = None
    run: int = 0  # consecutive observations equal to last_observed
    last_run_at: float | None = None
    on_hold: bool = False  # liveness/startup failed: wait for the restart

    def __post_init__(self) -> None:
        self.result = INITIAL[self.kind]

    def next_run_at(self, started_at: float) -> float:
        """When the probe should next run for a container started at `started_at`."""
        first = started_at + self.timing.initial_delay
        if self.last_run_at is None:
            return first
        return max(first, self.last_run_at + self.timing.period)

    def should_run(self, now: float, started_at: float, container_started: bool) -> bool:
        """Whether to probe now (startup gating, on hold, startup done, and timing)."""
        if self.on_hold:
            return False
        if self.kind == STARTUP and self.result == Result.SUCCESS:
            return False
        if self.kind != STARTUP and not container_started:
            return False
        return now >= self.next_run_at(started_at)

    def observe(self, ok: bool, now: float) -> bool:
        """Record one probe outcome; True when the probe's result changed."""
        self.last_run_at = now
        observed = Result.SUCCESS if ok else Result.FAILURE
        if observed == self.last_observed:
            self.run += 1
        else:
            self.last_observed = observed
            self.run = 1
        threshold = self.timing.failure_threshold if observed == Result.FAILURE else self.timing.success_threshold
        if self.run < threshold:
            return False
        changed = self.result != observed
        self.result = observed
        if observed == Result.FAILURE and self.kind in (LIVENESS, STARTUP):
            self.on_hold = True
            self.run = 0
        return changed


def trackers_for(container: Container) -> dict[str, ProbeTracker]:
    out: dict[str, ProbeTracker] = {}
    for kind, probe in ((STARTUP, container.startupProbe), (LIVENESS, container.livenessProbe),
                        (READINESS, container.readinessProbe)):
        if probe is not None:
            out[kind] = ProbeTracker(kind, ProbeTiming.of(probe))
    return out


def container_started(trackers: dict[str, ProbeTracker], running: bool) -> bool:
    """containerStatuses[].started: running and the startup probe (if any) succeeded."""
    startup = trackers.get(STARTUP)
    return running and (startup is None or startup.result == Result.SUCCESS)


def container_ready(trackers: dict[str, ProbeTracker], running: bool) -> bool:
    """containerStatuses[].ready: started and the readiness probe (if any) succeeded."""
    if not container_started(trackers, running):
        return False
    readiness = trackers.get(READINESS)
    return readiness is None or readiness.result == Result.SUCCESS


def liveness_failed(trackers: dict[str, ProbeTracker]) -> str | None:
    """A message when liveness or startup decided Failure (the container must restart)."""
    for kind in (LIVENESS, STARTUP):
        t = trackers.get(kind)
        if t is not None and t.result == Result.FAILURE:
            return f"Container failed {kind} probe, will be restarted"
    return None


# --- actions (I/O) ------------------------------------------------------------------------
def resolve_port(port: int | str | None, container: Container) -> int:
    """A probe port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    if isinstance(port, str):
        if port.isdigit():
            return int(port)
        for p in container.ports or []:
            if p.name == port and p.containerPort:
                return p.containerPort
    raise ValueError(f"invalid port {port!r}")


async def run_probe(
    probe: Probe, container: Container, pod_ip: str, container_id: str, runtime: Runtime, timeout_seconds: float
) -> tuple[bool, str]:
    """Run one probe action; (success, output/message)."""
    try:
        if probe.exec is not None:
            result = await runtime.exec(container_id, list(probe.exec.command or []), timeout_seconds)
            if result.timed_out:
                return False, f"command timed out after {timeout_seconds:g}s"
            return result.exit_code == 0, result.output.decode("utf-8", "replace")[:1024]
        if probe.httpGet is not None:
            hg = probe.httpGet
            port = resolve_port(hg.port, container)
            host = hg.host or pod_ip or "127.0.0.1"
            scheme = (hg.scheme or "HTTP").lower()
            path = hg.path or "/"
            if not path.startswith("/"):
                path = "/" + path
            headers = {"User-Agent": "kube-probe/1.31", "Accept": "*/*"}
            for h in hg.httpHeaders or []:
                if h.name:
                    headers[h.name] = h.value or ""
            url = f"{scheme}://{_host_for_url(host)}:{port}{path}"
            async with httpx.AsyncClient(verify=False, timeout=timeout_seconds, follow_redirects=False) as client:
                resp = await client.get(url, headers=headers)
            ok = 200 <= resp.status_code < 400
            return ok, f"HTTP probe failed with statuscode: {resp.status_code}" if not ok else ""
        if probe.tcpSocket is not None:
            port = resolve_port(probe.tcpSocket.port, container)
            host = probe.tcpSocket.host or pod_ip or "127.0.0.1"
            async with asyncio.timeout(timeout_seconds):
                _, writer = await asyncio.open_connection(host, port)
            writer.close()
            return True, ""
        return False, "probe has no handler"
    except TimeoutError:
        return False, f"probe timed out after {timeout_seconds:g}s"
    except (OSError, httpx.HTTPError, ValueError) as exc:
        return False, f"{type(exc).__name__}: {exc}"


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host
