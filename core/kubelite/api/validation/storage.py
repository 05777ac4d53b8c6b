"""Validation of PersistentVolumeClaim, PersistentVolume (core/v1) and StorageClass (storage.k8s.io/v1).

After pkg/apis/core/validation (ValidatePersistentVolume*, ValidatePersistentVolumeClaim*) and
pkg/apis/storage/validation. Volume sources kubelite cannot mount (csi, Block mode, the
Recycle policy) are refused instead of stored and ignored.
"""

from __future__ import annotations

from typing import Any

import msgspec

from kubelite.api.core_v1 import PersistentVolume, PersistentVolumeClaim
from kubelite.api.quantity import Quantity, parse_quantity
from kubelite.api.storage_v1 import IMMEDIATE, WAIT_FOR_FIRST_CONSUMER, StorageClass
from kubelite.api.validation.core import validate_label_selector
from kubelite.api.validation.names import (
    FIELD_IMMUTABLE,
    each_invalid,
    is_qualified_name,
    name_is_dns_subdomain,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.errors import FieldError, forbidden, invalid, not_supported, required

ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
VOLUME_MODES = ["Filesystem"]  # Block devices are not implemented
PV_RECLAIM = ["Delete", "Retain"]
BINDING_MODES = [IMMEDIATE, WAIT_FOR_FIRST_CONSUMER]


def _access_modes(modes: list[str] | None, path: str) -> list[FieldError]:
    if not modes:
        return [required(path)]
    errs = [not_supported(path, m, ACCESS_MODES) for m in modes if m not in ACCESS_MODES]
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        errs.append(forbidden(path, "may not use ReadWriteOncePod with other access modes"))
    return errs


def _storage(amounts: dict[str, Any] | None, path: str) -> list[FieldError]:
    raw = (amounts or {}).get("storage")
    if raw is None:
        return [required(f"{path}[storage]")]
    try:
        q = parse_quantity(raw)
    except ValueError as exc:
        return [invalid(f"{path}[storage]", raw, str(exc))]
    if q <= Quantity(0):
        return [invalid(f"{path}[storage]", raw, "must be greater than zero")]
    return []


def _volume_mode(mode: str | None, path: str) -> list[FieldError]:
    return [not_supported(path, mode, VOLUME_MODES)] if mode is not None and mode not in VOLUME_MODES else []


def claim_spec_errors(spec: Any, path: str) -> list[FieldError]:
    """ValidatePersistentVolumeClaimSpec (also for a StatefulSet's volumeClaimTemplates)."""
    if spec is None:
        return [required(f"{path}.accessModes"), required(f"{path}.resources[storage]")]
    errs = _access_modes(spec.accessModes, f"{path}.accessModes")
    if spec.selector is not None:
        errs += validate_label_selector(spec.selector, f"{path}.selector")
    errs += _storage(spec.resources.requests if spec.resources else None, f"{path}.resources")
    if spec.storageClassName:
        errs += each_invalid(f"{path}.storageClassName", spec.storageClassName,
                             name_is_dns_subdomain(spec.storageClassName))
    errs += _volume_mode(spec.volumeMode, f"{path}.volumeMode")
    if spec.dataSource is not None or spec.dataSourceRef is not None:
        errs.append(forbidden(f"{path}.dataSource", "populating a claim from a data source is not supported"))
    return errs


def validate_pvc(pvc: PersistentVolumeClaim) -> list[FieldError]:
    errs = validate_object_meta(pvc.metadata, namespaced=True, name_fn=name_is_dns_subdomain)
    return errs + claim_spec_errors(pvc.spec, "spec")


def validate_pvc_update(new: PersistentVolumeClaim, old: PersistentVolumeClaim) -> list[FieldError]:
    """The spec is immutable, except that volumeName and storageClassName may be set once
    (the binder does both)."""
    errs = validate_object_meta_update(new.metadata, old.metadata)
    errs += claim_spec_errors(new.spec, "spec")
    if new.spec is None or old.spec is None:
        return errs
    once = {}
    if not old.spec.volumeName:
        once["volumeName"] = new.spec.volumeName
    if old.spec.storageClassName is None:
        once["storageClassName"] = new.spec.storageClassName
    if new.spec != msgspec.structs.replace(old.spec, **once):
        errs.append(forbidden("spec", "spec is immutable after creation except resources.requests and "
                                      "volumeAttributesClassName for bound claims"))
    return errs


# --------------------------------------------------------------------------
# PersistentVolume
# --------------------------------------------------------------------------

_SOURCES = ("hostPath", "local", "nfs", "csi")


def _pv_source(spec: Any) -> list[FieldError]:
    given = [s for s in _SOURCES if getattr(spec, s) is not None]
    if not given:
        return [required("spec", "must specify a volume type")]
    if len(given) > 1:
        return [forbidden(f"spec.{given[1]}", "may not specify more than 1 volume type")]
    errs: list[FieldError] = []
    if spec.csi is not None:
        errs.append(forbidden("spec.csi", "CSI volumes are not supported (use local or hostPath)"))
    if spec.local is not None:
        if not spec.local.path:
            errs.append(required("spec.local.path"))
        if spec.nodeAffinity is None:
            errs.append(required("spec.nodeAffinity", "Local volumes require node affinity"))
    if spec.hostPath is not None and not spec.hostPath.path:
        errs.append(required("spec.hostPath.path"))
    return errs


def _pv_spec(pv: PersistentVolume) -> list[FieldError]:
    spec = pv.spec
    if spec is None:
        return [required("spec.capacity"), required("spec.accessModes")]
    errs = _access_modes(spec.accessModes, "spec.accessModes")
    errs += _storage(spec.capacity, "spec.capacity")
    policy = spec.persistentVolumeReclaimPolicy
    if policy is not None and policy not in PV_RECLAIM:
        errs.append(not_supported("spec.persistentVolumeReclaimPolicy", policy, PV_RECLAIM))
    errs += _volume_mode(spec.volumeMode, "spec.volumeMode")
    if spec.storageClassName:
        errs += each_invalid("spec.storageClassName", spec.storageClassName,
                             name_is_dns_subdomain(spec.storageClassName))
    return errs + _pv_source(spec)


def validate_pv(pv: PersistentVolume) -> list[FieldError]:
    errs = validate_object_meta(pv.metadata, namespaced=False, name_fn=name_is_dns_subdomain)
    return errs + _pv_spec(pv)


def validate_pv_update(new: PersistentVolume, old: PersistentVolume) -> list[FieldError]:
    errs = validate_object_meta_update(new.metadata, old.metadata)
    errs += _pv_spec(new)
    if new.spec is not None and old.spec is not None:
        for source in _SOURCES:
            if getattr(new.spec, source) != getattr(old.spec, source):
                errs.append(forbidden("spec.persistentvolumesource",
                                      "spec.persistentvolumesource is immutable after creation"))
                break
        if old.spec.nodeAffinity is not None and new.spec.nodeAffinity != old.spec.nodeAffinity:
            errs.append(invalid("spec.nodeAffinity", "<node affinity>", FIELD_IMMUTABLE))
    return errs


# --------------------------------------------------------------------------
# StorageClass
# --------------------------------------------------------------------------


def _class_fields(sc: StorageClass) -> list[FieldError]:
    errs: list[FieldError] = []
    if not sc.provisioner:
        errs.append(required("provisioner"))
    else:
        errs += each_invalid("provisioner", sc.provisioner, is_qualified_name(sc.provisioner.lower()))
    if sc.reclaimPolicy is not None and sc.reclaimPolicy not in PV_RECLAIM:
        errs.append(not_supported("reclaimPolicy", sc.reclaimPolicy, PV_RECLAIM))
    if sc.volumeBindingMode is not None and sc.volumeBindingMode not in BINDING_MODES:
        errs.append(not_supported("volumeBindingMode", sc.volumeBindingMode, BINDING_MODES))
    return errs


def validate_storage_class(sc: StorageClass) -> list[FieldError]:
    return validate_object_meta(sc.metadata, namespaced=False, name_fn=name_is_dns_subdomain) + _class_fields(sc)


def validate_storage_class_update(new: StorageClass, old: StorageClass) -> list[FieldError]:
    errs = validate_object_meta_update(new.metadata, old.metadata)
    errs += _class_fields(new)
    for field in ("parameters", "provisioner", "reclaimPolicy", "volumeBindingMode"):
        if getattr(new, field) != getattr(old, field):
            errs.append(forbidden(field, f"updates to {field} are forbidden."))
    return errs
