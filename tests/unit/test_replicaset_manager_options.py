"""The controller-manager process's flags (kube-controller-manager names and duration syntax)."""

from __future__ import annotations

import argparse

import pytest

from kubelite.durations import duration_flag, parse_duration
from kubelite_controller_manager.app import CONTROLLERS, parse_options


@pytest.mark.parametrize(("text", "seconds"), [
    ("15s", 15), ("1m30s", 90), ("500ms", 0.5), ("2h", 7200), ("40", 40), ("1.5s", 1.5),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["15x", "s", "10m5", "", "-", "1m-5s", "-3s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        duration_flag(text)


@pytest.mark.parametrize(("text", "seconds"), [
    ("2h45m", 9900), ("1.5h", 5400), ("300us", 0.0003), ("1µs", 1e-6), ("10ns", 1e-8), ("0", 0),
    ("-1m", -60), ("+5s", 5), (".5s", 0.5), ("1h0m0s", 3600),
])
def test_go_duration_syntax(text: str, seconds: float) -> None:
    """time.ParseDuration's grammar, which the nodeagent's flags lacked before (one parser now)."""
    assert parse_duration(text) == pytest.approx(seconds)


def test_defaults_are_kubernetes() -> None:
    o = parse_options([])
    assert o.leader_elect is True
    assert o.leader_elect_lease_duration == 15
    assert o.node_monitor_grace_period == 50
    assert (o.concurrent_deployment_syncs, o.concurrent_replicaset_syncs) == (5, 5)
    assert o.identity  # unique per process by default


def test_flags() -> None:
    o = parse_options(["--etcd", "http://e:1", "--nats", "nats://n:2", "--leader-elect=false",
                       "--leader-elect-lease-duration", "3s", "--node-monitor-grace-period", "40s",
                       "--concurrent-deployment-syncs", "2", "--controllers", "*,-deployment"])
    assert (o.etcd, o.nats, o.leader_elect, o.leader_elect_lease_duration) == ("http://e:1", "nats://n:2", False, 3)
    assert o.node_monitor_grace_period == 40 and o.concurrent_deployment_syncs == 2
    assert o.enabled("replicaset") and not o.enabled("deployment")
    assert parse_options(["--no-leader-elect"]).leader_elect is False
    only = parse_options(["--controllers", "replicaset"])
    assert only.enabled("replicaset") and not only.enabled("deployment")


def test_every_registered_controller_is_importable() -> None:
    import importlib

    for name, target in CONTROLLERS.items():
        module, _, func = target.partition(":")
        assert callable(getattr(importlib.import_module(module), func)), name
