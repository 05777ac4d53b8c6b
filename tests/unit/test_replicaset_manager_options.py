"""The controller-manager process's flags (kube-controller-manager names and duration syntax)."""

from __future__ import annotations

import argparse

import pytest

from kubelite_controller_manager.app import CONTROLLERS, parse_duration, parse_options


@pytest.mark.parametrize(("text", "seconds"), [
    ("15s", 15), ("1m30s", 90), ("500ms", 0.5), ("2h", 7200), ("40", 40), ("1.5s", 1.5),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["15x", "s", "10m5"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


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
