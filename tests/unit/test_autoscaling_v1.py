"""autoscaling/v1 <-> v2 conversion (Kubernetes' pkg/apis/autoscaling/v1/conversion.go)."""

from __future__ import annotations

import json

import pytest

from kubelite.api.autoscaling_v1 import (
    BEHAVIOR,
    CONDITIONS,
    CURRENT_METRICS,
    METRICS,
    from_v2,
    to_v2,
)

CPU60 = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}
MEM = {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "200Mi"}}}


def _v2(**spec: object) -> dict:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "d"}, "maxReplicas": 5, **spec}}


def test_cpu_target_maps_to_the_v1_field_and_the_rest_to_annotations() -> None:
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 0}}
    v1 = from_v2(_v2(metrics=[CPU60, MEM], behavior=behavior))
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"] == {"scaleTargetRef": {"kind": "Deployment", "name": "d"}, "maxReplicas": 5,
                          "targetCPUUtilizationPercentage": 60}
    ann = v1["metadata"]["annotations"]
    assert json.loads(ann[METRICS]) == [{"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "200Mi"}}]
    assert json.loads(ann[BEHAVIOR]) == behavior
    back = to_v2(v1)
    assert back == _v2(metrics=[CPU60, MEM], behavior=behavior)  # annotations consumed, nothing left over


def test_status_round_trip() -> None:
    status = {"currentReplicas": 2, "desiredReplicas": 3, "currentMetrics": [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 90, "averageValue": "90m"}}}],
        "conditions": [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"}]}
    v1 = from_v2({**_v2(metrics=[CPU60]), "status": status})
    assert v1["status"] == {"currentReplicas": 2, "desiredReplicas": 3, "currentCPUUtilizationPercentage": 90}
    assert CURRENT_METRICS in v1["metadata"]["annotations"] and CONDITIONS in v1["metadata"]["annotations"]
    assert to_v2(v1)["status"] == status


def test_v1_without_target_gets_the_default_80_percent() -> None:
    v1 = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
          "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "d"}, "maxReplicas": 3},
          "status": {"currentCPUUtilizationPercentage": 40}}
    v2 = to_v2(v1)
    assert v2["spec"]["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 80}
    assert v2["status"]["currentMetrics"][0]["resource"]["current"] == {"averageUtilization": 40}


def test_bad_annotation_is_an_error() -> None:
    v1 = {"metadata": {"annotations": {METRICS: "{"}}, "spec": {}}
    with pytest.raises(ValueError, match=r"autoscaling\.alpha\.kubernetes\.io/metrics"):
        to_v2(v1)
