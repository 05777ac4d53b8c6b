"""Validation of apps/v1 (Deployment, ReplicaSet) and coordination.k8s.io/v1 (Lease).

After pkg/apis/apps/validation and pkg/apis/coordination/validation. Unset
fields that defaulting fills (strategy type, maxSurge/maxUnavailable "25%",
template restartPolicy "Always") are accepted as their defaults.
"""

from __future__ import annotations

from typing import Any

from kubelite.api.apps_v1 import Deployment, ReplicaSet
from kubelite.api.coordination_v1 import Lease
from kubelite.api.labels import selector_from_label_selector
from kubelite.api.meta import ObjectMeta
from kubelite.api.validation.core import validate_label_selector, validate_pod_template_spec
from kubelite.api.validation.names import (
    FIELD_IMMUTABLE,
    IS_NEGATIVE,
    each_invalid,
    is_valid_percent,
    name_is_dns_subdomain,
    validate_labels,
    validate_nonnegative,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.errors import FieldError, forbidden, invalid, not_supported, required

DEFAULT_SURGE_OR_UNAVAILABLE = "25%"
STRATEGY_TYPES = ["Recreate", "RollingUpdate"]


def _meta(obj: Any) -> ObjectMeta:
    return obj.metadata if obj.metadata is not None else ObjectMeta()


def validate_selector_and_template(spec: Any, path: str) -> list[FieldError]:
    """Selector required, non-empty, valid, and matching the template's labels."""
    errs: list[FieldError] = []
    selector = spec.selector
    if selector is None:
        errs.append(required(f"{path}.selector"))
    else:
        errs += validate_label_selector(selector, f"{path}.selector")
        if not selector.matchLabels and not selector.matchExpressions:
            # Kubernetes says "deployment" for ReplicaSets too.
            errs.append(invalid(f"{path}.selector", selector, "empty selector is invalid for deployment"))

    template = spec.template
    tpath = f"{path}.template"
    if template is None:
        errs.append(required(tpath))
        return errs
    labels = (template.metadata.labels if template.metadata else None) or {}
    if selector is not None and (selector.matchLabels or selector.matchExpressions):
        try:
            parsed = selector_from_label_selector(selector)
        except ValueError:
            errs.append(invalid(f"{path}.selector", selector, "invalid label selector"))
        else:
            if not parsed.matches(labels):
                errs.append(
                    invalid(
                        f"{tpath}.metadata.labels",
                        labels,
                        "`selector` does not match template `labels`",
                    )
                )
    errs += validate_pod_template_spec(template, tpath)
    pod_spec = template.spec
    restart = pod_spec.restartPolicy if pod_spec else None
    if restart is not None and restart != "Always":
        errs.append(not_supported(f"{tpath}.spec.restartPolicy", restart, ["Always"]))
    if pod_spec is not None and pod_spec.activeDeadlineSeconds is not None:
        errs.append(
            forbidden(
                f"{tpath}.spec.activeDeadlineSeconds", "activeDeadlineSeconds in ReplicaSet is not Supported"
            )
        )
    return errs


# --------------------------------------------------------------------------
# ReplicaSet
# --------------------------------------------------------------------------


def _validate_replica_set_spec(rs: ReplicaSet) -> list[FieldError]:
    spec = rs.spec
    if spec is None:
        return [required("spec.selector"), required("spec.template")]
    errs = validate_nonnegative(spec.replicas, "spec.replicas")
    errs += validate_nonnegative(spec.minReadySeconds, "spec.minReadySeconds")
    return errs + validate_selector_and_template(spec, "spec")


def validate_replica_set(rs: ReplicaSet) -> list[FieldError]:
    errs = validate_object_meta(_meta(rs), namespaced=True, name_fn=name_is_dns_subdomain)
    return errs + _validate_replica_set_spec(rs)


def validate_replication_controller(rc: Any) -> list[FieldError]:
    """ValidateReplicationController: a non-empty selector map the template's labels match."""
    errs = validate_object_meta(_meta(rc), namespaced=True, name_fn=name_is_dns_subdomain)
    spec = rc.spec
    if spec is None:
        return [*errs, required("spec.selector"), required("spec.template")]
    errs += validate_nonnegative(spec.replicas, "spec.replicas")
    errs += validate_nonnegative(spec.minReadySeconds, "spec.minReadySeconds")
    if not spec.selector:
        errs.append(required("spec.selector"))
    else:
        errs += validate_labels(spec.selector, "spec.selector")
    if spec.template is None:
        errs.append(required("spec.template"))
    elif spec.selector:
        labels = (spec.template.metadata.labels if spec.template.metadata else None) or {}
        if any(labels.get(k) != v for k, v in spec.selector.items()):
            errs.append(invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`"))
    return errs


def validate_replication_controller_update(new: Any, old: Any) -> list[FieldError]:
    errs = validate_object_meta_update(_meta(new), _meta(old))
    return errs + [e for e in validate_replication_controller(new) if not e.field.startswith("metadata")]


def selector_immutable(new: Any, old: Any) -> list[FieldError]:
    new_sel = new.spec.selector if new.spec else None
    old_sel = old.spec.selector if old.spec else None
    if new_sel != old_sel:
        return [invalid("spec.selector", new_sel, FIELD_IMMUTABLE)]
    return []


def validate_replica_set_update(new: ReplicaSet, old: ReplicaSet) -> list[FieldError]:
    errs = validate_object_meta_update(_meta(new), _meta(old))
    errs += _validate_replica_set_spec(new)
    return errs + selector_immutable(new, old)


# --------------------------------------------------------------------------
# Deployment
# --------------------------------------------------------------------------


def int_or_percent(value: int | str, path: str) -> list[FieldError]:
    """ValidatePositiveIntOrPercent: a non-negative int or a "N%" string."""
    if isinstance(value, str):
        return each_invalid(path, value, is_valid_percent(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return validate_nonnegative(value, path)
    return [invalid(path, value, "must be an integer or percentage (e.g '5%')")]


def int_or_percent_value(value: int | str) -> int | None:
    if isinstance(value, str):
        return int(value[:-1]) if is_valid_percent(value) == [] else None
    return value


def validate_rolling_update(rolling: Any, path: str) -> list[FieldError]:
    unavailable = rolling.maxUnavailable
    surge = rolling.maxSurge
    unavailable = DEFAULT_SURGE_OR_UNAVAILABLE if unavailable is None else unavailable
    surge = DEFAULT_SURGE_OR_UNAVAILABLE if surge is None else surge
    errs = int_or_percent(unavailable, f"{path}.maxUnavailable")
    errs += int_or_percent(surge, f"{path}.maxSurge")
    if int_or_percent_value(unavailable) == 0 and int_or_percent_value(surge) == 0:
        errs.append(invalid(f"{path}.maxUnavailable", unavailable, "may not be 0 when `maxSurge` is 0"))
    if isinstance(unavailable, str) and (int_or_percent_value(unavailable) or 0) > 100:
        errs.append(invalid(f"{path}.maxUnavailable", unavailable, "must not be greater than 100%"))
    return errs


def validate_deployment_strategy(strategy: Any, path: str) -> list[FieldError]:
    if strategy is None:
        return []
    kind = strategy.type or "RollingUpdate"
    if kind == "Recreate":
        if strategy.rollingUpdate is not None:
            return [
                forbidden(
                    f"{path}.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"
                )
            ]
        return []
    if kind == "RollingUpdate":
        if strategy.rollingUpdate is None:
            return []
        return validate_rolling_update(strategy.rollingUpdate, f"{path}.rollingUpdate")
    # Kubernetes reports this on the strategy itself (with the whole struct as value).
    return [not_supported(path, kind, STRATEGY_TYPES)]


def _validate_deployment_spec(d: Deployment) -> list[FieldError]:
    spec = d.spec
    if spec is None:
        return [required("spec.selector"), required("spec.template")]
    errs = validate_nonnegative(spec.replicas, "spec.replicas")
    errs += validate_selector_and_template(spec, "spec")
    errs += validate_deployment_strategy(spec.strategy, "spec.strategy")
    errs += validate_nonnegative(spec.minReadySeconds, "spec.minReadySeconds")
    errs += validate_nonnegative(spec.revisionHistoryLimit, "spec.revisionHistoryLimit")
    deadline = spec.progressDeadlineSeconds
    if deadline is not None:
        errs += validate_nonnegative(deadline, "spec.progressDeadlineSeconds")
        if deadline <= (spec.minReadySeconds or 0):
            errs.append(
                invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds")
            )
    return errs


def validate_deployment(d: Deployment) -> list[FieldError]:
    errs = validate_object_meta(_meta(d), namespaced=True, name_fn=name_is_dns_subdomain)
    return errs + _validate_deployment_spec(d)


def validate_deployment_update(new: Deployment, old: Deployment) -> list[FieldError]:
    errs = validate_object_meta_update(_meta(new), _meta(old))
    errs += _validate_deployment_spec(new)
    return errs + selector_immutable(new, old)


# --------------------------------------------------------------------------
# Lease (coordination.k8s.io/v1): loose, as Kubernetes' own.
# --------------------------------------------------------------------------


def _validate_lease_spec(lease: Lease) -> list[FieldError]:
    spec = lease.spec
    if spec is None:
        return []
    errs: list[FieldError] = []
    if spec.leaseDurationSeconds is not None and spec.leaseDurationSeconds <= 0:
        errs.append(
            invalid("spec.leaseDurationSeconds", spec.leaseDurationSeconds, "must be greater than 0")
        )
    if spec.leaseTransitions is not None and spec.leaseTransitions < 0:
        errs.append(invalid("spec.leaseTransitions", spec.leaseTransitions, IS_NEGATIVE))
    return errs


def validate_lease(lease: Lease) -> list[FieldError]:
    errs = validate_object_meta(_meta(lease), namespaced=True, name_fn=name_is_dns_subdomain)
    return errs + _validate_lease_spec(lease)


def validate_lease_update(new: Lease, old: Lease) -> list[FieldError]:
    return validate_object_meta_update(_meta(new), _meta(old)) + _validate_lease_spec(new)
