"""Validation of policy/v1 PodDisruptionBudget (pkg/apis/policy/validation)."""

from __future__ import annotations

from typing import Any

from kubelite.api.policy_v1 import ALWAYS_ALLOW, IF_HEALTHY_BUDGET, PodDisruptionBudget
from kubelite.api.validation.apps import int_or_percent, int_or_percent_value
from kubelite.api.validation.core import validate_label_selector
from kubelite.api.validation.names import (
    name_is_dns_subdomain,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.errors import FieldError, invalid, not_supported

EVICTION_POLICIES = [ALWAYS_ALLOW, IF_HEALTHY_BUDGET]


def _amount(value: Any, path: str) -> list[FieldError]:
    errs = int_or_percent(value, path)
    if isinstance(value, str) and (int_or_percent_value(value) or 0) > 100:
        errs.append(invalid(path, value, "must not be greater than 100%"))
    return errs


def _spec(pdb: PodDisruptionBudget) -> list[FieldError]:
    spec = pdb.spec
    if spec is None:
        return []
    errs: list[FieldError] = []
    if spec.minAvailable is not None and spec.maxUnavailable is not None:
        errs.append(invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
    if spec.minAvailable is not None:
        errs += _amount(spec.minAvailable, "spec.minAvailable")
    if spec.maxUnavailable is not None:
        errs += _amount(spec.maxUnavailable, "spec.maxUnavailable")
    if spec.selector is not None:
        errs += validate_label_selector(spec.selector, "spec.selector")
    policy = spec.unhealthyPodEvictionPolicy
    if policy is not None and policy not in EVICTION_POLICIES:
        errs.append(not_supported("spec.unhealthyPodEvictionPolicy", policy, EVICTION_POLICIES))
    return errs


def validate_pdb(pdb: PodDisruptionBudget) -> list[FieldError]:
    return validate_object_meta(pdb.metadata, namespaced=True, name_fn=name_is_dns_subdomain) + _spec(pdb)


def validate_pdb_update(new: PodDisruptionBudget, old: PodDisruptionBudget) -> list[FieldError]:
    return validate_object_meta_update(new.metadata, old.metadata) + _spec(new)
