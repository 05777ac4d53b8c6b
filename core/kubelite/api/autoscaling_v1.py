"""autoscaling/v1 HorizontalPodAutoscaler: served by converting to and from the stored
autoscaling/v2 object, as Kubernetes does (pkg/apis/autoscaling/v1/conversion.go).

autoscaling/v1 knows one metric, `targetCPUUtilizationPercentage`; what v2 has beyond it rides
in annotations of the v1 object, so a v1 client that reads and writes back loses nothing:
- `autoscaling.alpha.kubernetes.io/metrics`: the other metrics, as v1 MetricSpecs
  (`{"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "100Mi"}}`);
- `.../current-metrics`: every current metric, as v1 MetricStatuses;
- `.../conditions`: status.conditions; `.../behavior`: spec.behavior.

Worked example: a v2 HPA with metrics [cpu Utilization 60, memory AverageValue 200Mi] reads in v1
as targetCPUUtilizationPercentage 60 plus the annotation
`[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"200Mi"}}]`; written back,
it is the same v2 object. A v1 HPA with no target at all gets Kubernetes' default: cpu at 80 %.
All functions are pure and work on JSON builtins.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kubelite.api.autoscaling_v2 import CrossVersionObjectReference
from kubelite.api.base import Model
from kubelite.api.meta import Object

JSON = dict[str, Any]
METRICS = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR = "autoscaling.alpha.kubernetes.io/behavior"
ANNOTATIONS = (METRICS, CURRENT_METRICS, CONDITIONS, BEHAVIOR)
DEFAULT_CPU_UTILIZATION = 80  # autoscaling/v1's implicit target when none is given


def _is_cpu_utilization(metric: JSON) -> bool:
    res = metric.get("resource") or {}
    return (metric.get("type") == "Resource" and res.get("name") == "cpu"
            and (res.get("target") or {}).get("type") == "Utilization")


def _v1_metric(metric: JSON) -> JSON:
    """v2 MetricSpec -> v1's (targetAverageUtilization / targetAverageValue)."""
    res = metric.get("resource") or {}
    target = res.get("target") or {}
    out: JSON = {"name": res.get("name")}
    if target.get("averageUtilization") is not None:
        out["targetAverageUtilization"] = target["averageUtilization"]
    if target.get("averageValue") is not None:
        out["targetAverageValue"] = target["averageValue"]
    return {"type": metric.get("type"), "resource": out}


def _v2_metric(metric: JSON) -> JSON:
    res = metric.get("resource") or {}
    if res.get("targetAverageUtilization") is not None:
        target: JSON = {"type": "Utilization", "averageUtilization": res["targetAverageUtilization"]}
    else:
        target = {"type": "AverageValue", "averageValue": res.get("targetAverageValue")}
    return {"type": metric.get("type"), "resource": {"name": res.get("name"), "target": target}}


def _v1_status(metric: JSON) -> JSON:
    res = metric.get("resource") or {}
    current = res.get("current") or {}
    out: JSON = {"name": res.get("name")}
    if current.get("averageUtilization") is not None:
        out["currentAverageUtilization"] = current["averageUtilization"]
    if current.get("averageValue") is not None:
        out["currentAverageValue"] = current["averageValue"]
    return {"type": metric.get("type"), "resource": out}


def _v2_status(metric: JSON) -> JSON:
    res = metric.get("resource") or {}
    current: JSON = {}
    if res.get("currentAverageUtilization") is not None:
        current["averageUtilization"] = res["currentAverageUtilization"]
    if res.get("currentAverageValue") is not None:
        current["averageValue"] = res["currentAverageValue"]
    return {"type": metric.get("type"), "resource": {"name": res.get("name"), "current": current}}


def from_v2(obj: JSON) -> JSON:
    """The stored autoscaling/v2 object as autoscaling/v1 shows it."""
    out = copy.deepcopy(obj)
    out["apiVersion"] = "autoscaling/v1"
    spec, status = out.get("spec") or {}, out.get("status") or {}
    annotations = dict((out.get("metadata") or {}).get("annotations") or {})
    metrics = spec.pop("metrics", None) or []
    cpu = next((m for m in metrics if _is_cpu_utilization(m)), None)
    if cpu is not None:
        spec["targetCPUUtilizationPercentage"] = cpu["resource"]["target"].get("averageUtilization")
    others = [_v1_metric(m) for m in metrics if m is not cpu]
    if others:
        annotations[METRICS] = json.dumps(others, separators=(",", ":"))
    behavior = spec.pop("behavior", None)
    if behavior:
        annotations[BEHAVIOR] = json.dumps(behavior, separators=(",", ":"))
    if status:
        current = status.pop("currentMetrics", None) or []
        for m in current:
            res = m.get("resource") or {}
            if m.get("type") == "Resource" and res.get("name") == "cpu" and \
                    (res.get("current") or {}).get("averageUtilization") is not None:
                status["currentCPUUtilizationPercentage"] = res["current"]["averageUtilization"]
        if current:
            annotations[CURRENT_METRICS] = json.dumps([_v1_status(m) for m in current], separators=(",", ":"))
        conditions = status.pop("conditions", None)
        if conditions:
            annotations[CONDITIONS] = json.dumps(conditions, separators=(",", ":"))
    if annotations:
        out.setdefault("metadata", {})["annotations"] = annotations
    return out


def _annotation(annotations: JSON, key: str) -> Any:
    text = annotations.pop(key, None)
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise ValueError(f"metadata.annotations[{key}]: not valid JSON") from None


def to_v2(obj: JSON) -> JSON:
    """An autoscaling/v1 object (from a client) as autoscaling/v2 stores it. Raises ValueError
    for an annotation that is not the JSON it must be."""
    out = copy.deepcopy(obj)
    out["apiVersion"] = "autoscaling/v2"
    meta = out.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    spec = out.setdefault("spec", {})
    status = out.get("status")
    metrics: list[JSON] = []
    target = spec.pop("targetCPUUtilizationPercentage", None)
    if target is not None:
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": target}}})
    metrics += [_v2_metric(m) for m in _annotation(annotations, METRICS) or []]
    if not metrics:
        metrics = [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}]
    spec["metrics"] = metrics
    behavior = _annotation(annotations, BEHAVIOR)
    if behavior:
        spec["behavior"] = behavior
    current = _annotation(annotations, CURRENT_METRICS)
    conditions = _annotation(annotations, CONDITIONS)
    if isinstance(status, dict):
        cpu_now = status.pop("currentCPUUtilizationPercentage", None)
        if current:
            status["currentMetrics"] = [_v2_status(m) for m in current]
        elif cpu_now is not None:
            status["currentMetrics"] = [{"type": "Resource", "resource": {"name": "cpu", "current": {
                "averageUtilization": cpu_now}}}]
        if conditions:
            status["conditions"] = conditions
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return out


# The v1 shape, for OpenAPI (kubectl's client-side validation of autoscaling/v1 manifests). The
# class names carry V1: schema names are the class names, and v2's own are taken.
class HorizontalPodAutoscalerSpecV1(Model):
    scaleTargetRef: CrossVersionObjectReference | None = None
    minReplicas: int | None = None
    maxReplicas: int | None = None
    targetCPUUtilizationPercentage: int | None = None


class HorizontalPodAutoscalerStatusV1(Model):
    observedGeneration: int | None = None
    lastScaleTime: str | None = None
    currentReplicas: int | None = None
    desiredReplicas: int | None = None
    currentCPUUtilizationPercentage: int | None = None


class HorizontalPodAutoscalerV1(Object):
    spec: HorizontalPodAutoscalerSpecV1 | None = None
    status: HorizontalPodAutoscalerStatusV1 | None = None
