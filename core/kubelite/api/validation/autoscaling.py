"""Validation of autoscaling/v2 HorizontalPodAutoscaler (pkg/apis/autoscaling/validation).

kubelite scales on Resource metrics (cpu, memory) from metrics.k8s.io; the Pods, Object,
External and ContainerResource metric types (which need a custom or external metrics API)
and the alpha per-rule tolerance are refused rather than accepted and ignored.
"""

from __future__ import annotations

from typing import Any

from kubelite.api.autoscaling_v2 import HorizontalPodAutoscaler
from kubelite.api.quantity import Quantity, parse_quantity
from kubelite.api.validation.names import (
    name_is_dns_subdomain,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.errors import FieldError, forbidden, invalid, not_supported, required

METRIC_TYPES = ["ContainerResource", "External", "Object", "Pods", "Resource"]
RESOURCES = ["cpu", "memory"]
TARGET_TYPES = ["AverageValue", "Utilization"]
POLICY_TYPES = ["Percent", "Pods"]
SELECT_POLICIES = ["Disabled", "Max", "Min"]
MAX_PERIOD_SECONDS = 1800
MAX_STABILIZATION_WINDOW_SECONDS = 3600


def _target(target: Any, path: str) -> list[FieldError]:
    if target is None:
        return [required(path)]
    if target.type not in TARGET_TYPES:
        return [not_supported(f"{path}.type", target.type or "", TARGET_TYPES)]
    if target.type == "Utilization":
        if target.averageUtilization is None:
            return [required(f"{path}.averageUtilization", "must set either a target raw value or a target utilization")]
        if target.averageUtilization <= 0:
            return [invalid(f"{path}.averageUtilization", target.averageUtilization, "must be greater than 0")]
        return []
    if target.averageValue is None:
        return [required(f"{path}.averageValue", "must set either a target raw value or a target utilization")]
    try:
        if parse_quantity(target.averageValue) <= Quantity(0):
            return [invalid(f"{path}.averageValue", target.averageValue, "must be positive")]
    except ValueError as exc:
        return [invalid(f"{path}.averageValue", target.averageValue, str(exc))]
    return []


def _metric(metric: Any, path: str) -> list[FieldError]:
    if metric.type not in METRIC_TYPES:
        return [not_supported(f"{path}.type", metric.type or "", METRIC_TYPES)]
    if metric.type != "Resource":
        return [forbidden(f"{path}.type", f"{metric.type} metrics are not supported by kubelite (no custom or "
                                          "external metrics API); use Resource metrics")]
    source = metric.resource
    if source is None:
        return [required(f"{path}.resource", "must populate information for the given metric source")]
    if source.name not in RESOURCES:
        return [not_supported(f"{path}.resource.name", source.name or "", RESOURCES)]
    return _target(source.target, f"{path}.resource.target")


def _rules(rules: Any, path: str) -> list[FieldError]:
    if rules is None:
        return []
    errs: list[FieldError] = []
    window = rules.stabilizationWindowSeconds
    if window is not None and not 0 <= window <= MAX_STABILIZATION_WINDOW_SECONDS:
        errs.append(invalid(f"{path}.stabilizationWindowSeconds", window,
                            f"must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}"
                            if window > 0 else "must be greater than or equal to zero"))
    if rules.selectPolicy is not None and rules.selectPolicy not in SELECT_POLICIES:
        errs.append(not_supported(f"{path}.selectPolicy", rules.selectPolicy, SELECT_POLICIES))
    if rules.tolerance is not None:
        errs.append(forbidden(f"{path}.tolerance", "not supported (the HPAConfigurableTolerance feature is off, "
                                                   "as in Kubernetes)"))
    if rules.policies is not None and not rules.policies and rules.selectPolicy != "Disabled":
        errs.append(required(f"{path}.policies", "must specify at least one Policy"))
    for i, policy in enumerate(rules.policies or []):
        p = f"{path}.policies[{i}]"
        if policy.type not in POLICY_TYPES:
            errs.append(not_supported(f"{p}.type", policy.type or "", POLICY_TYPES))
        if policy.value is None or policy.value <= 0:
            errs.append(invalid(f"{p}.value", policy.value, "must be greater than zero"))
        period = policy.periodSeconds
        if period is None or not 0 < period <= MAX_PERIOD_SECONDS:
            errs.append(invalid(f"{p}.periodSeconds", period, f"must be greater than zero and less than or equal "
                                                              f"to {MAX_PERIOD_SECONDS}"))
    return errs


def _spec(hpa: HorizontalPodAutoscaler) -> list[FieldError]:
    spec = hpa.spec
    if spec is None:
        return [required("spec.scaleTargetRef"), required("spec.maxReplicas")]
    errs: list[FieldError] = []
    ref = spec.scaleTargetRef
    if ref is None:
        errs.append(required("spec.scaleTargetRef"))
    else:
        if not ref.kind:
            errs.append(required("spec.scaleTargetRef.kind"))
        if not ref.name:
            errs.append(required("spec.scaleTargetRef.name"))
    if spec.minReplicas is not None and spec.minReplicas < 1:
        errs.append(invalid("spec.minReplicas", spec.minReplicas, "must be greater than or equal to 1"))
    if spec.maxReplicas is None:
        errs.append(required("spec.maxReplicas"))
    elif spec.maxReplicas < (spec.minReplicas or 1):
        errs.append(invalid("spec.maxReplicas", spec.maxReplicas, "must be greater than or equal to `minReplicas`"))
    for i, metric in enumerate(spec.metrics or []):
        errs += _metric(metric, f"spec.metrics[{i}]")
    if spec.behavior is not None:
        errs += _rules(spec.behavior.scaleUp, "spec.behavior.scaleUp")
        errs += _rules(spec.behavior.scaleDown, "spec.behavior.scaleDown")
    return errs


def validate_hpa(hpa: HorizontalPodAutoscaler) -> list[FieldError]:
    return validate_object_meta(hpa.metadata, namespaced=True, name_fn=name_is_dns_subdomain) + _spec(hpa)


def validate_hpa_update(new: HorizontalPodAutoscaler, old: HorizontalPodAutoscaler) -> list[FieldError]:
    return validate_object_meta_update(new.metadata, old.metadata) + _spec(new)
