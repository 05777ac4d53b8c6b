"""From a CustomResourceDefinition to served resources: what every process that reads the
scheme (apiserver, controller-manager) installs when a CRD is established and removes when it
goes.

`install(crd)` registers, for the CRD's storage version, a ResourceInfo whose type is a Struct
made for it (one field per top-level property, each any JSON: the schema, not the type, checks
the content; unknown top-level fields fall away on decode, the root of pruning), its defaulter
(prune, then the schema's defaults) and its validators (object metadata, then the schema), and,
for every other served version, a kubelite.api.versions entry whose conversion rewrites only
`apiVersion` (conversion strategy None). `uninstall(name)` takes all of that back.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from typing import Any

import msgspec

from kubelite import codec
from kubelite.api import defaults, scheme, validation, versions
from kubelite.api.crd import schema as structural
from kubelite.api.crd.columns import values_at
from kubelite.api.meta import Object
from kubelite.api.scheme import ResourceInfo
from kubelite.api.validation.names import validate_object_meta, validate_object_meta_update
from kubelite.api.validation.rbac import path_segment_name
from kubelite.errors import FieldError

JSON = dict[str, Any]
ROOT_FIELDS = ("spec", "status")  # always there, whatever the schema names


class CustomObject(Object, forbid_unknown_fields=False):
    """Base of every custom resource's Struct."""


@dataclass
class CustomResource:
    """What `install` registered for one CRD."""

    crd_name: str
    info: ResourceInfo
    schemas: dict[str, JSON]  # version -> openAPIV3Schema
    columns: dict[str, list[JSON]]  # version -> additionalPrinterColumns
    scale: JSON | None  # the storage version's scale subresource paths
    spec: JSON = field(default_factory=dict)  # the CRD spec it was built from
    served: list[versions.ServedVersion] = field(default_factory=list)

    @property
    def schema(self) -> JSON:
        return self.schemas.get(self.info.version) or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}

    def unknown_fields(self, obj: JSON) -> list[str]:
        """Fields `obj` has that the schema would prune (for fieldValidation=Strict)."""
        return structural.unknown_fields(obj, self.schema)

    def default(self, obj: Object) -> None:
        """Prune, then default, in place (the defaulter the registry calls on every write)."""
        doc = structural.apply_defaults(structural.prune(codec.to_builtins(obj), self.schema), self.schema)
        fresh = msgspec.convert(doc, type(obj))
        for f in msgspec.structs.fields(type(obj)):
            if f.name not in ("apiVersion", "kind", "metadata"):
                setattr(obj, f.name, getattr(fresh, f.name))

    # -- the scale subresource, at the CRD's paths (".spec.replicas", ".status.replicas", ...)
    def scale_of(self, obj: Object) -> JSON:
        doc, paths = codec.to_builtins(obj), self.scale or {}
        meta = obj.metadata
        replicas = _path_get(doc, paths.get("specReplicasPath") or "")
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": meta.name, "namespace": meta.namespace, "uid": meta.uid,
                             "resourceVersion": meta.resourceVersion, "creationTimestamp": meta.creationTimestamp},
                "spec": {"replicas": replicas if isinstance(replicas, int) else 0},
                "status": {"replicas": _path_get(doc, paths.get("statusReplicasPath") or "") or 0,
                           "selector": _path_get(doc, paths.get("labelSelectorPath") or "") or ""}}

    def with_replicas(self, obj: Object, replicas: int) -> Object:
        doc = codec.to_builtins(obj)
        _path_set(doc, (self.scale or {}).get("specReplicasPath") or ".spec.replicas", replicas)
        fresh = msgspec.convert(doc, type(obj))
        fresh.metadata = obj.metadata
        return fresh

    def validate(self, obj: Object) -> list[FieldError]:
        errs = validate_object_meta(obj.metadata, namespaced=self.info.namespaced, name_fn=path_segment_name)
        return errs + structural.validate(codec.to_builtins(obj), self.schema)

    def validate_update(self, new: Object, old: Object) -> list[FieldError]:
        return validate_object_meta_update(new.metadata, old.metadata) + structural.validate(
            codec.to_builtins(new), self.schema)


def _path_get(doc: Any, path: str) -> Any:
    """".spec.replicas" in a JSON document (the printer columns' JSONPath); None where absent,
    and for no path at all (an optional labelSelectorPath left out)."""
    found = values_at(doc, path) if path else []
    return found[0] if found else None


def _path_set(doc: JSON, path: str, value: Any) -> None:
    keys = [k for k in path.split(".") if k]
    for key in keys[:-1]:
        doc = doc.setdefault(key, {})
    doc[keys[-1]] = value


_INSTALLED: dict[str, CustomResource] = {}  # CRD name -> what it registered
_LOCK = threading.RLock()  # install() re-registers under it


def installed(crd_name: str) -> CustomResource | None:
    return _INSTALLED.get(crd_name)


def of(info: ResourceInfo) -> CustomResource | None:
    """The custom resource behind a scheme entry (None for a built-in kind)."""
    return info.extra.get("custom")


def storage_version(crd: JSON) -> str:
    return next((v["name"] for v in crd["spec"].get("versions") or [] if v.get("storage")), "")


def _struct_for(kind: str, group: str, props: list[str]) -> type:
    fields = [(name, Any, None) for name in dict.fromkeys([*ROOT_FIELDS, *props])
              if name.isidentifier() and name not in ("apiVersion", "kind", "metadata")]
    name = f"{kind}_{group.replace('.', '_').replace('-', '_')}"
    return msgspec.defstruct(name, fields, bases=(CustomObject,), kw_only=True, omit_defaults=True)


def build(crd: JSON) -> CustomResource:
    """The scheme entries of an (already validated) CRD, not yet registered."""
    spec = crd["spec"]
    names = spec["names"]
    group = spec["group"]
    stored = storage_version(crd)
    by_version = {v["name"]: v for v in spec.get("versions") or []}
    schemas = {n: ((v.get("schema") or {}).get("openAPIV3Schema") or {}) for n, v in by_version.items()}
    props = [p for s in schemas.values() for p in (s.get("properties") or {})]
    subs = (by_version[stored].get("subresources") or {})
    info = ResourceInfo(
        group=group, version=stored, kind=names["kind"], plural=names["plural"],
        singular=names.get("singular") or names["kind"].lower(), namespaced=spec.get("scope") == "Namespaced",
        type=_struct_for(names["kind"], group, props), short_names=tuple(names.get("shortNames") or ()),
        subresources=tuple(s for s in ("status", "scale") if s in subs), categories=tuple(names.get("categories") or ()),
    )
    custom = CustomResource(crd["metadata"]["name"], info, schemas,
                            {n: v.get("additionalPrinterColumns") or [] for n, v in by_version.items()},
                            subs.get("scale"), spec=copy.deepcopy(spec))
    info.extra["custom"] = custom
    storage_api = f"{group}/{stored}"
    for name, version in by_version.items():
        if name != stored and version.get("served"):
            custom.served.append(versions.ServedVersion(
                group, name, names["plural"], stored, _rewrite(storage_api), _rewrite(f"{group}/{name}"), info.type))
    return custom


def _rewrite(api_version: str) -> Any:
    """Conversion strategy None: the object as it is, under another apiVersion."""
    def convert(doc: JSON) -> JSON:
        return {**doc, "apiVersion": api_version}

    return convert


def install(crd: JSON) -> CustomResource:
    """Register (or re-register, after a change to its spec) a CRD's resources in this process;
    a CRD whose spec is as installed (a status write) changes nothing."""
    current = _INSTALLED.get(crd["metadata"]["name"])
    if current is not None and current.spec == crd["spec"]:
        return current
    custom = build(crd)
    with _LOCK:
        uninstall(crd["metadata"]["name"])
        scheme.register(custom.info)
        defaults.register_defaulter(custom.info.type, custom.info.api_version, custom.info.kind, custom.default)
        validation.register_validators(custom.info.type, custom.validate, custom.validate_update)
        for served in custom.served:
            versions.register(served)
        _INSTALLED[custom.crd_name] = custom
    return custom


def uninstall(crd_name: str) -> None:
    with _LOCK:
        custom = _INSTALLED.pop(crd_name, None)
        if custom is None:
            return
        scheme.unregister(custom.info)
        defaults.unregister_defaulter(custom.info.type)
        validation.unregister_validators(custom.info.type)
        for served in custom.served:
            versions.unregister(served)
