"""Validation of apps/v1 DaemonSet, StatefulSet and ControllerRevision.

After pkg/apis/apps/validation/validation.go. What kubelite does not implement is
refused with a clear error instead of being accepted and ignored (a StatefulSet's
alpha `rollingUpdate.maxUnavailable`, volume claim templates in Block mode).
"""

from __future__ import annotations

from typing import Any

import msgspec

from kubelite.api.apps_v1 import ControllerRevision, DaemonSet, StatefulSet
from kubelite.api.core_v1 import PersistentVolumeClaimVolumeSource, Volume
from kubelite.api.meta import ObjectMeta
from kubelite.api.validation.apps import (
    selector_immutable,
    validate_rolling_update,
    validate_selector_and_template,
)
from kubelite.api.validation.names import (
    FIELD_IMMUTABLE,
    each_invalid,
    name_is_dns_label,
    name_is_dns_subdomain,
    validate_nonnegative,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.api.validation.storage import claim_spec_errors
from kubelite.errors import FieldError, forbidden, invalid, not_supported, required

UPDATE_TYPES = ["OnDelete", "RollingUpdate"]
POD_MANAGEMENT = ["OrderedReady", "Parallel"]
RETENTION = ["Delete", "Retain"]


def _meta(obj: Any) -> ObjectMeta:
    return obj.metadata if obj.metadata is not None else ObjectMeta()


# --------------------------------------------------------------------------
# DaemonSet
# --------------------------------------------------------------------------


def _daemonset_strategy(strategy: Any, path: str) -> list[FieldError]:
    if strategy is None:
        return []
    kind = strategy.type or "RollingUpdate"
    if kind not in UPDATE_TYPES:
        return [not_supported(f"{path}.type", kind, UPDATE_TYPES)]
    if kind == "OnDelete":
        return []
    if strategy.rollingUpdate is None:
        return [required(f"{path}.rollingUpdate")]
    return validate_rolling_update(strategy.rollingUpdate, f"{path}.rollingUpdate")


def _daemonset_spec(ds: DaemonSet) -> list[FieldError]:
    spec = ds.spec
    if spec is None:
        return [required("spec.selector"), required("spec.template")]
    errs = validate_selector_and_template(spec, "spec")
    errs += _daemonset_strategy(spec.updateStrategy, "spec.updateStrategy")
    errs += validate_nonnegative(spec.minReadySeconds, "spec.minReadySeconds")
    errs += validate_nonnegative(spec.revisionHistoryLimit, "spec.revisionHistoryLimit")
    if spec.templateGeneration is not None:
        errs.append(forbidden("spec.templateGeneration", "is an extensions/v1beta1 field; not served by apps/v1"))
    return errs


def validate_daemonset(ds: DaemonSet) -> list[FieldError]:
    errs = validate_object_meta(_meta(ds), namespaced=True, name_fn=name_is_dns_subdomain)
    return errs + _daemonset_spec(ds)


def validate_daemonset_update(new: DaemonSet, old: DaemonSet) -> list[FieldError]:
    errs = validate_object_meta_update(_meta(new), _meta(old))
    return errs + _daemonset_spec(new) + selector_immutable(new, old)


# --------------------------------------------------------------------------
# StatefulSet
# --------------------------------------------------------------------------


def _statefulset_strategy(strategy: Any, path: str) -> list[FieldError]:
    if strategy is None:
        return []
    kind = strategy.type or "RollingUpdate"
    if kind not in UPDATE_TYPES:
        return [not_supported(f"{path}.type", kind, UPDATE_TYPES)]
    rolling = strategy.rollingUpdate
    if rolling is None:
        return []
    if kind == "OnDelete":
        return [forbidden(f"{path}.rollingUpdate", "only allowed for updateStrategy 'RollingUpdate'")]
    errs = validate_nonnegative(rolling.partition, f"{path}.rollingUpdate.partition")
    if rolling.maxUnavailable is not None:
        errs.append(forbidden(f"{path}.rollingUpdate.maxUnavailable",
                              "not supported (the MaxUnavailableStatefulSet feature is off, as in Kubernetes)"))
    return errs


def _claim_templates(templates: list[Any] | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, claim in enumerate(templates or []):
        p = f"{path}[{i}]"
        name = claim.metadata.name if claim.metadata else None
        if not name:
            errs.append(required(f"{p}.metadata.name"))
        else:
            errs += each_invalid(f"{p}.metadata.name", name, name_is_dns_subdomain(name))
            if name in seen:
                errs.append(invalid(f"{p}.metadata.name", name, "duplicate volume claim template name"))
            seen.add(name)
        errs += claim_spec_errors(claim.spec, f"{p}.spec")
    return errs


def _retention(policy: Any, path: str) -> list[FieldError]:
    if policy is None:
        return []
    errs = []
    for field in ("whenDeleted", "whenScaled"):
        value = getattr(policy, field)
        if value is not None and value not in RETENTION:
            errs.append(not_supported(f"{path}.{field}", value, RETENTION))
    return errs


def _statefulset_spec(sts: StatefulSet) -> list[FieldError]:
    spec = sts.spec
    if spec is None:
        return [required("spec.selector"), required("spec.template"), required("spec.serviceName")]
    errs = validate_nonnegative(spec.replicas, "spec.replicas")
    if spec.podManagementPolicy not in (None, *POD_MANAGEMENT):
        errs.append(not_supported("spec.podManagementPolicy", spec.podManagementPolicy, POD_MANAGEMENT))
    if not spec.serviceName:
        errs.append(required("spec.serviceName", "the headless Service that gives each pod its DNS name"))
    else:
        errs += each_invalid("spec.serviceName", spec.serviceName, name_is_dns_label(spec.serviceName))
    errs += _statefulset_strategy(spec.updateStrategy, "spec.updateStrategy")
    errs += validate_nonnegative(spec.minReadySeconds, "spec.minReadySeconds")
    errs += validate_nonnegative(spec.revisionHistoryLimit, "spec.revisionHistoryLimit")
    if spec.ordinals is not None:
        errs += validate_nonnegative(spec.ordinals.start, "spec.ordinals.start")
    errs += _retention(spec.persistentVolumeClaimRetentionPolicy, "spec.persistentVolumeClaimRetentionPolicy")
    errs += _claim_templates(spec.volumeClaimTemplates, "spec.volumeClaimTemplates")
    return errs + validate_selector_and_template(_with_claim_volumes(spec), "spec")


def _with_claim_volumes(spec: Any) -> Any:
    """The spec as its pods will see it: each claim template is a volume (so a volumeMount
    naming a claim template is valid, as Kubernetes accepts)."""
    template = spec.template
    if not spec.volumeClaimTemplates or template is None or template.spec is None:
        return spec
    have = {v.name for v in template.spec.volumes or []}
    extra = [Volume(name=c.metadata.name, persistentVolumeClaim=PersistentVolumeClaimVolumeSource(
        claimName=c.metadata.name)) for c in spec.volumeClaimTemplates
        if c.metadata and c.metadata.name and c.metadata.name not in have]
    pod_spec = msgspec.structs.replace(template.spec, volumes=[*(template.spec.volumes or []), *extra] or None)
    return msgspec.structs.replace(spec, template=msgspec.structs.replace(template, spec=pod_spec))


def validate_statefulset(sts: StatefulSet) -> list[FieldError]:
    errs = validate_object_meta(_meta(sts), namespaced=True, name_fn=name_is_dns_subdomain)
    return errs + _statefulset_spec(sts)


# What an update may change (ValidateStatefulSetUpdate); anything else is forbidden.
_MUTABLE_STS_FIELDS = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
                       "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


def validate_statefulset_update(new: StatefulSet, old: StatefulSet) -> list[FieldError]:
    errs = validate_object_meta_update(_meta(new), _meta(old))
    errs += _statefulset_spec(new)
    if new.spec is not None and old.spec is not None:
        reset = {f: getattr(old.spec, f) for f in _MUTABLE_STS_FIELDS}
        if msgspec.structs.replace(new.spec, **reset) != old.spec:
            errs.append(forbidden("spec", "updates to statefulset spec for fields other than 'replicas', "
                                          "'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', "
                                          "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are "
                                          "forbidden"))
    return errs


# --------------------------------------------------------------------------
# ControllerRevision
# --------------------------------------------------------------------------


def validate_controller_revision(rev: ControllerRevision) -> list[FieldError]:
    errs = validate_object_meta(_meta(rev), namespaced=True, name_fn=name_is_dns_subdomain)
    if rev.data is None:
        errs.append(required("data"))
    return errs + validate_nonnegative(rev.revision, "revision")


def validate_controller_revision_update(new: ControllerRevision, old: ControllerRevision) -> list[FieldError]:
    errs = validate_object_meta_update(_meta(new), _meta(old))
    errs += validate_nonnegative(new.revision, "revision")
    if new.data != old.data:
        errs.append(invalid("data", "<data>", FIELD_IMMUTABLE))
    return errs
