"""The HorizontalPodAutoscaler's arithmetic: the Kubernetes documentation's cases and each
docstring's worked example."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from kubelite.api.autoscaling_v2 import HorizontalPodAutoscaler, HPAScalingRules
from kubelite.api.defaults import apply_defaults
from kubelite.api.validation import validate
from kubelite_controller_manager.podautoscaler import behavior
from kubelite_controller_manager.podautoscaler.replicas import PodSample, desired_replicas

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(hours=1)


def pod(name: str, usage: int | None, request: int = 100, ready: bool = True, **kw: object) -> PodSample:
    return PodSample(name=name, request=request, usage=usage, ready=ready, started=OLD,
                     ready_since=OLD + timedelta(seconds=5), measured_at=NOW, **kw)  # type: ignore[arg-type]


def calc(pods: list[PodSample], current: int, target: float = 50, **kw: object) -> int:
    return desired_replicas(pods, current, target=target, utilization=True, cpu=True, now=NOW, **kw).replicas  # type: ignore[arg-type]


def test_documentation_example() -> None:
    pods = [pod("a", 200), pod("b", 150), pod("c", 100), pod("d", 50)]
    assert calc(pods, 4) == 10


def test_tolerance_keeps_the_scale() -> None:
    assert calc([pod("a", 54), pod("b", 54)], 2) == 2  # 108 % of target: within 10 %
    assert calc([pod("a", 60), pod("b", 60)], 2) == 3


def test_missing_metrics_dampen_both_ways() -> None:
    # scaling down: the silent pod counts as using its request (100 %), so less goes away
    assert calc([pod("a", 0), pod("b", 0), pod("c", None)], 3) == 2  # without c: 1
    assert calc([pod("a", 10), pod("b", 10), pod("c", None)], 3) == 3  # 40 % of 50 %: within the flip rules
    # scaling up: the silent pod counts as idle
    assert calc([pod("a", 100), pod("b", None)], 2, target=50) == 2


def test_unready_pods_do_not_count_as_busy_when_scaling_up() -> None:
    young = PodSample(name="new", request=100, usage=500, ready=False, started=NOW - timedelta(seconds=20),
                      ready_since=NOW - timedelta(seconds=20), measured_at=NOW)
    # a: 100 % against 50 %: ratio 2; with the unready pod as idle: 100 of 200 requested = ratio 1 -> no change
    assert calc([pod("a", 100), young], 2) == 2


def test_missing_request_and_no_metrics_are_errors() -> None:
    p = desired_replicas([pod("a", 10, request=0)], 1, target=50, utilization=True, cpu=True, now=NOW)
    assert p.error == "missing request for cpu" and p.replicas == 1
    p = desired_replicas([pod("a", None)], 1, target=50, utilization=True, cpu=True, now=NOW)
    assert "did not receive metrics" in p.error


def test_average_value_target() -> None:
    p = desired_replicas([pod("a", 300 << 20), pod("b", 100 << 20)], 2, target=100 << 20, utilization=False,
                         cpu=False, now=NOW)
    assert p.replicas == 4 and p.usage == 200 << 20


def _rules() -> tuple[HPAScalingRules, HPAScalingRules]:
    return behavior.rules_of(None)


def test_behavior_worked_example() -> None:
    up, down = _rules()
    assert behavior.bounded(20, 4, 1, 30, [], [], up, down, NOW) == (
        8, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")
    ups = [behavior.ScaleEvent(NOW - timedelta(seconds=5), 4)]
    assert behavior.bounded(20, 8, 1, 30, ups, [], up, down, NOW)[0] == 8, "still the same period"
    assert behavior.bounded(20, 8, 1, 30, ups, [], up, down, NOW + timedelta(seconds=15))[0] == 16
    recs = [(NOW - timedelta(seconds=200), 10), (NOW - timedelta(seconds=100), 6)]
    assert behavior.stabilize(recs, 4, 10, NOW, up, down) == 10
    assert behavior.stabilize(recs, 4, 10, NOW + timedelta(seconds=400), up, down) == 4


def test_bounds_and_disabled() -> None:
    up, down = _rules()
    assert behavior.bounded(40, 20, 1, 30, [], [], up, down, NOW)[:2] == (30, "TooManyReplicas")
    assert behavior.bounded(0, 3, 2, 10, [], [], up, down, NOW)[:2] == (2, "TooFewReplicas")
    off = msgspec.structs.replace(down, selectPolicy="Disabled")
    assert behavior.bounded(1, 5, 1, 10, [], [], up, off, NOW)[0] == 5


def test_hpa_defaults_and_validation() -> None:
    hpa = msgspec.convert({"metadata": {"name": "web", "namespace": "d"}, "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5,
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 10}}}}, HorizontalPodAutoscaler)
    apply_defaults(hpa)
    assert hpa.spec.minReplicas == 1 and hpa.spec.metrics[0].resource.target.averageUtilization == 80
    assert hpa.spec.behavior.scaleUp.policies[1].value == 4 and hpa.spec.behavior.scaleDown.stabilizationWindowSeconds == 10
    assert validate(hpa) == []
    hpa.spec.maxReplicas = 0
    hpa.spec.metrics[0].type = "External"
    fields = {e.field for e in validate(hpa)}
    assert fields == {"spec.maxReplicas", "spec.metrics[0].type"}
