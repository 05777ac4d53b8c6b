"""Probe decisions and restart back-off arithmetic (pure)."""

from __future__ import annotations

import msgspec

from kubelite.api.core_v1 import Container, Probe
from kubelite_nodeagent.backoff import BackOff, go_duration
from kubelite_nodeagent.probes import (
    LIVENESS,
    READINESS,
    STARTUP,
    ProbeTiming,
    ProbeTracker,
    Result,
    container_ready,
    container_started,
    liveness_failed,
    resolve_port,
    trackers_for,
)


def tracker(kind: str, **timing: float) -> ProbeTracker:
    return ProbeTracker(kind, ProbeTiming(**timing))


def test_initial_results_per_probe_kind() -> None:
    assert tracker(LIVENESS).result == Result.SUCCESS
    assert tracker(READINESS).result == Result.FAILURE
    assert tracker(STARTUP).result == Result.UNKNOWN


def test_timing_defaults_and_zero_values() -> None:
    t = ProbeTiming.of(Probe())
    assert (t.initial_delay, t.period, t.timeout, t.success_threshold, t.failure_threshold) == (0, 10, 1, 1, 3)
    t = ProbeTiming.of(Probe(initialDelaySeconds=5, periodSeconds=2, timeoutSeconds=3, successThreshold=2,
                             failureThreshold=4))
    assert (t.initial_delay, t.period, t.timeout, t.success_threshold, t.failure_threshold) == (5, 2, 3, 2, 4)


def test_initial_delay_and_period() -> None:
    t = tracker(READINESS, initial_delay=5, period=2)
    started = 100.0
    assert not t.should_run(104.9, started, container_started=True)
    assert t.should_run(105.0, started, container_started=True)
    t.observe(True, 105.0)
    assert t.next_run_at(started) == 107.0
    assert not t.should_run(106.0, started, container_started=True)
    assert t.should_run(107.0, started, container_started=True)


def test_failure_threshold_needs_consecutive_failures() -> None:
    t = tracker(READINESS, failure_threshold=3, success_threshold=1)
    assert t.observe(True, 1)  # Failure -> Success
    assert not t.observe(False, 2)
    assert not t.observe(False, 3)
    assert t.result == Result.SUCCESS
    assert not t.observe(True, 4)  # a success resets the run of failures
    assert not t.observe(False, 5)
    assert not t.observe(False, 6)
    assert t.observe(False, 7)
    assert t.result == Result.FAILURE


def test_success_threshold_for_readiness() -> None:
    t = tracker(READINESS, success_threshold=2)
    assert not t.observe(True, 1)
    assert t.result == Result.FAILURE
    assert t.observe(True, 2)
    assert t.result == Result.SUCCESS


def test_liveness_failure_holds_until_restart() -> None:
    t = tracker(LIVENESS, failure_threshold=1)
    assert t.observe(False, 1)
    assert t.result == Result.FAILURE and t.on_hold
    assert not t.should_run(100, 0, container_started=True)
    assert liveness_failed({LIVENESS: t}) == "Container failed liveness probe, will be restarted"


def test_startup_gates_liveness_and_readiness() -> None:
    c = msgspec.convert({"name": "c", "startupProbe": {"exec": {"command": ["true"]}, "failureThreshold": 2},
                         "livenessProbe": {"exec": {"command": ["true"]}},
                         "readinessProbe": {"exec": {"command": ["true"]}}}, Container)
    trackers = trackers_for(c)
    assert set(trackers) == {STARTUP, LIVENESS, READINESS}
    started = container_started(trackers, running=True)
    assert not started
    assert not trackers[LIVENESS].should_run(10, 0, container_started=started)
    assert trackers[STARTUP].should_run(10, 0, container_started=started)
    assert not container_ready(trackers, running=True)
    trackers[STARTUP].observe(True, 10)
    assert container_started(trackers, running=True)
    assert not trackers[STARTUP].should_run(100, 0, container_started=True), "startup stops once it succeeded"
    assert trackers[LIVENESS].should_run(10, 0, container_started=True)
    assert not container_ready(trackers, running=True), "readiness starts as Failure"
    trackers[READINESS].observe(True, 11)
    assert container_ready(trackers, running=True)
    assert not container_ready(trackers, running=False)


def test_no_probes_means_started_and_ready_when_running() -> None:
    assert container_started({}, running=True) and container_ready({}, running=True)
    assert not container_ready({}, running=False)


def test_named_probe_port() -> None:
    c = msgspec.convert({"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}, Container)
    assert resolve_port("http", c) == 8080
    assert resolve_port(81, c) == 81
    assert resolve_port("82", c) == 82


def test_backoff_first_restart_is_immediate_then_doubles_to_cap() -> None:
    b = BackOff(base=10, max=40, reset=80)
    key = "uid/c"
    # first exit: no entry -> not in back-off; the restart records 10 s
    assert not b.in_backoff_since(key, event_time=100, now=100)
    b.next(key, event_time=100, now=100)
    assert b.delay(key) == 10
    # the restarted container dies at 101: wait until 111
    assert b.in_backoff_since(key, event_time=101, now=105)
    assert b.ready_at(key, 101) == 111
    assert not b.in_backoff_since(key, event_time=101, now=111)
    b.next(key, event_time=101, now=111)
    assert b.delay(key) == 20
    b.next(key, event_time=112, now=132)
    assert b.delay(key) == 40
    b.next(key, event_time=133, now=173)
    assert b.delay(key) == 40, "capped at max"


def test_backoff_resets_after_quiet_period() -> None:
    b = BackOff(base=10, max=300, reset=600)
    b.next("k", 0, 0)
    b.next("k", 5, 10)
    assert b.delay("k") == 20
    # an exit more than `reset` after the last restart starts over
    assert not b.in_backoff_since("k", event_time=700, now=700)
    b.next("k", 700, 700)
    assert b.delay("k") == 10


def test_go_duration() -> None:
    assert go_duration(10) == "10s"
    assert go_duration(80) == "1m20s"
    assert go_duration(300) == "5m0s"
    assert go_duration(0.5) == "0.5s"
