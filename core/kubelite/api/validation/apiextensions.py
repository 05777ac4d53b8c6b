"""CustomResourceDefinition validation (apiextensions-apiserver's ValidateCustomResourceDefinition,
the parts kubelite serves): names, scope, versions with exactly one storage version, a structural
schema for each, conversion strategy None, scale paths."""

from __future__ import annotations

from typing import Any

from kubelite.api.crd.schema import structural_errors
from kubelite.api.validation.names import (
    each_invalid,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.errors import FieldError, forbidden, invalid, not_supported, required

SCOPES = ["Cluster", "Namespaced"]


def _names(names: Any, path: str) -> list[FieldError]:
    if names is None:
        return [required(path)]
    errs: list[FieldError] = []
    if not names.plural:
        errs.append(required(f"{path}.plural"))
    else:
        errs += each_invalid(f"{path}.plural", names.plural, is_dns1123_label(names.plural))
    if names.singular:
        errs += each_invalid(f"{path}.singular", names.singular, is_dns1123_label(names.singular))
    if not names.kind:
        errs.append(required(f"{path}.kind"))
    elif names.kind[0].islower() or not names.kind.isalnum():
        errs.append(invalid(f"{path}.kind", names.kind, "may have mixed case, but should otherwise match: "
                                                         "[a-z]([-a-z0-9]*[a-z0-9])? starting with a capital"))
    if names.listKind and names.listKind == names.kind:
        errs.append(invalid(f"{path}.listKind", names.listKind, "kind and listKind may not be the same"))
    for i, short in enumerate(names.shortNames or []):
        errs += each_invalid(f"{path}.shortNames[{i}]", short, is_dns1123_label(short))
    return errs


def _version(v: Any, path: str, has_scale: list[bool]) -> list[FieldError]:
    errs: list[FieldError] = []
    if not v.name:
        errs.append(required(f"{path}.name"))
    else:
        errs += each_invalid(f"{path}.name", v.name, is_dns1035_label(v.name))
    schema = (v.schema.openAPIV3Schema if v.schema is not None else None)
    if schema is None:
        errs.append(required(f"{path}.schema.openAPIV3Schema", "schemas are required"))
    else:
        errs += [FieldError("Invalid", f"{path}.schema.{msg.split(':', 1)[0]}", msg.split(":", 1)[1].strip())
                 for msg in structural_errors(schema)]
    subs = v.subresources
    if subs is not None and subs.scale is not None:
        has_scale.append(True)
        scale = subs.scale
        if not (scale.specReplicasPath or "").startswith(".spec."):
            errs.append(invalid(f"{path}.subresources.scale.specReplicasPath", scale.specReplicasPath,
                                "should be a json path under .spec"))
        if not (scale.statusReplicasPath or "").startswith(".status."):
            errs.append(invalid(f"{path}.subresources.scale.statusReplicasPath", scale.statusReplicasPath,
                                "should be a json path under .status"))
    for j, col in enumerate(v.additionalPrinterColumns or []):
        where = f"{path}.additionalPrinterColumns[{j}]"
        if not col.name:
            errs.append(required(f"{where}.name"))
        if not col.jsonPath:
            errs.append(required(f"{where}.jsonPath"))
        if col.type not in ("integer", "number", "string", "boolean", "date"):
            errs.append(not_supported(f"{where}.type", col.type, ["boolean", "date", "integer", "number", "string"]))
    return errs


def _versions(versions: list[Any] | None) -> list[FieldError]:
    if not versions:
        return [invalid("spec.versions", versions, "must have exactly one version marked as storage version")]
    errs: list[FieldError] = []
    seen: set[str] = set()
    scale: list[bool] = []
    for i, v in enumerate(versions):
        errs += _version(v, f"spec.versions[{i}]", scale)
        if v.name in seen:
            errs.append(invalid("spec.versions", v.name, "must contain unique version names"))
        seen.add(v.name or "")
    if sum(1 for v in versions if v.storage) != 1:
        errs.append(invalid("spec.versions", [v.name for v in versions],
                            "must have exactly one version marked as storage version"))
    if not any(v.served for v in versions):
        errs.append(invalid("spec.versions", [v.name for v in versions], "must have at least one version served"))
    return errs


def validate_crd(crd: Any) -> list[FieldError]:
    errs = validate_object_meta(crd.metadata, namespaced=False)
    spec = crd.spec
    if spec is None:
        return [*errs, required("spec")]
    if not spec.group:
        errs.append(required("spec.group"))
    else:
        errs += each_invalid("spec.group", spec.group, is_dns1123_subdomain(spec.group))
        if "." not in spec.group:
            errs.append(invalid("spec.group", spec.group, "should be a domain with at least one dot"))
    errs += _names(spec.names, "spec.names")
    plural = spec.names.plural if spec.names is not None else None
    if plural and spec.group and crd.metadata.name != f"{plural}.{spec.group}":
        errs.append(invalid("metadata.name", crd.metadata.name, "must be spec.names.plural+\".\"+spec.group"))
    if spec.scope not in SCOPES:
        errs.append(not_supported("spec.scope", spec.scope, SCOPES) if spec.scope else required("spec.scope"))
    errs += _versions(spec.versions)
    strategy = spec.conversion.strategy if spec.conversion is not None else None
    if strategy not in (None, "None"):
        errs.append(not_supported("spec.conversion.strategy", strategy, ["None"]))
    if spec.preserveUnknownFields:
        errs.append(invalid("spec.preserveUnknownFields", True, "must be false in order to use defaults in the schema"))
    return errs


def validate_crd_update(new: Any, old: Any) -> list[FieldError]:
    errs = validate_object_meta_update(new.metadata, old.metadata)
    if new.spec is None or old.spec is None:
        return errs + validate_crd(new)
    if new.spec.group != old.spec.group:
        errs.append(invalid("spec.group", new.spec.group, "field is immutable"))
    if new.spec.scope != old.spec.scope:
        errs.append(invalid("spec.scope", new.spec.scope, "field is immutable"))
    stored = set((old.status.storedVersions if old.status is not None else None) or [])
    listed = {v.name for v in new.spec.versions or []}
    for missing in sorted(stored - listed):
        errs.append(forbidden("status.storedVersions", f"must appear in spec.versions: {missing}"))
    return errs + [e for e in validate_crd(new) if e.field != "metadata.name" or e.type != "Invalid"]
