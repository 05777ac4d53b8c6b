"""Structural OpenAPI v3 schemas of CustomResourceDefinitions: validate, default, prune (pure).

What k8s.io/apiextensions-apiserver does to a custom object on every write, in this order:
1. prune: drop every field the schema does not name (unless `x-kubernetes-preserve-unknown-fields`
   or `additionalProperties` keeps it); `apiVersion`, `kind` and `metadata` at the root stay;
2. default: fill each missing property that has a `default` (deepest first, as Kubernetes does);
3. validate: type, nullable, enum, required, bounds, lengths, pattern, items, properties,
   additionalProperties, int-or-string, allOf/anyOf/oneOf/not, with Kubernetes' field paths and
   messages (`spec.replicas: Invalid value: "x": spec.replicas in body must be of type integer: "string"`).

Worked example: schema {spec: {type: object, properties: {replicas: {type: integer, default: 1,
minimum: 0}}}} and the object {spec: {size: 3}}: pruning drops spec.size, defaulting sets
spec.replicas to 1, validation passes. {spec: {replicas: -1}} fails with
`spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0`.

`structural_errors(schema)` is what a CRD's own validation asks: a type at every level that has
properties or items, no `$ref`, a root of type object.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kubelite.errors import FieldError, invalid, not_supported, required

JSON = Any
ROOT_KEPT = ("apiVersion", "kind", "metadata")
PRESERVE = "x-kubernetes-preserve-unknown-fields"
INT_OR_STRING = "x-kubernetes-int-or-string"
_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool}


# --------------------------------------------------------------------------- structural check
def structural_errors(schema: JSON, path: str = "openAPIV3Schema") -> list[str]:
    """Why `schema` is not structural (Kubernetes' rules, the common part); [] when it is."""
    if not isinstance(schema, dict):
        return [f"{path}: must be an object"]
    out: list[str] = []
    if path == "openAPIV3Schema" and schema.get("type") != "object":
        out.append(f"{path}.type: Required value: must be object at the root")
    if "$ref" in schema:
        out.append(f"{path}.$ref: Forbidden: $ref is not supported")
    has_shape = "properties" in schema or "items" in schema or "additionalProperties" in schema
    if has_shape and not schema.get("type") and not schema.get(INT_OR_STRING):
        out.append(f"{path}.type: Required value: must not be empty for specified object fields")
    for name, sub in (schema.get("properties") or {}).items():
        out += structural_errors(sub, f"{path}.properties[{name}]")
    if isinstance(schema.get("items"), dict):
        out += structural_errors(schema["items"], f"{path}.items")
    if isinstance(schema.get("additionalProperties"), dict):
        out += structural_errors(schema["additionalProperties"], f"{path}.additionalProperties")
    if schema.get("properties") and isinstance(schema.get("additionalProperties"), dict):
        out.append(f"{path}.additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive")
    return out


# --------------------------------------------------------------------------- prune
def prune(obj: JSON, schema: JSON, *, root: bool = True) -> JSON:
    """A copy of `obj` without the fields `schema` does not allow."""
    return _prune(copy.deepcopy(obj), schema, root)


def _prune(value: JSON, schema: JSON, root: bool = False) -> JSON:
    if not isinstance(schema, dict) or (schema.get(PRESERVE) and not schema.get("properties")):
        return value
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key in list(value):
            if root and key in ROOT_KEPT:
                continue
            if key in props:
                value[key] = _prune(value[key], props[key])
            elif isinstance(extra, dict):
                value[key] = _prune(value[key], extra)
            elif extra is True or schema.get(PRESERVE):
                continue
            else:
                del value[key]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_prune(v, schema["items"]) for v in value]
    return value


def unknown_fields(obj: JSON, schema: JSON) -> list[str]:
    """The paths of the fields pruning would drop ("spec.size"): what fieldValidation=Strict refuses."""
    out: list[str] = []
    _unknown(obj, schema, "", out, root=True)
    return out


def _unknown(value: JSON, schema: JSON, path: str, out: list[str], root: bool = False) -> None:
    if not isinstance(schema, dict) or (schema.get(PRESERVE) and not schema.get("properties")):
        return
    if isinstance(value, dict):
        props, extra = schema.get("properties") or {}, schema.get("additionalProperties")
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if root and key in ROOT_KEPT:
                continue
            if key in props:
                _unknown(item, props[key], where, out)
            elif isinstance(extra, dict):
                _unknown(item, extra, where, out)
            elif extra is not True and not schema.get(PRESERVE):
                out.append(where)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _unknown(item, schema["items"], f"{path}[{i}]", out)


# --------------------------------------------------------------------------- default
def apply_defaults(obj: JSON, schema: JSON) -> JSON:
    """A copy of `obj` with every missing property that has a `default` filled in."""
    return _default(copy.deepcopy(obj), schema)


def _default(value: JSON, schema: JSON) -> JSON:
    if not isinstance(schema, dict):
        return value
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if key in value:
                value[key] = _default(value[key], sub)
            elif isinstance(sub, dict) and "default" in sub:
                value[key] = _default(copy.deepcopy(sub["default"]), sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in value:
                if key not in props:
                    value[key] = _default(value[key], extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_default(v, schema["items"]) for v in value]
    return value


# --------------------------------------------------------------------------- validate
def validate(obj: JSON, schema: JSON) -> list[FieldError]:
    """Every way `obj` breaks `schema` (the root's apiVersion, kind and metadata are the
    apiserver's to check)."""
    if not isinstance(obj, dict):
        return [invalid("", obj, "must be of type object")]
    errs: list[FieldError] = []
    props = (schema or {}).get("properties") or {}
    body = {k: v for k, v in obj.items() if k not in ROOT_KEPT}
    root_schema = {**(schema or {}), "properties": {k: v for k, v in props.items() if k not in ROOT_KEPT}}
    root_schema["required"] = [r for r in (schema or {}).get("required") or [] if r not in ROOT_KEPT]
    _validate(body, root_schema, "", errs)
    return errs


def _type_name(value: JSON) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {dict: "object", list: "array", str: "string"}.get(type(value), type(value).__name__)


def _type_ok(value: JSON, want: str) -> bool:
    if want == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if want == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    tp = _TYPES.get(want)
    return tp is None or isinstance(value, tp)


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _validate(value: JSON, schema: JSON, path: str, errs: list[FieldError]) -> None:
    if not isinstance(schema, dict):
        return
    if value is None:
        if not schema.get("nullable") and schema.get("type"):
            errs.append(invalid(path, "null", f"{path or '<root>'} in body must be of type {schema['type']}: \"null\""))
        return
    want = schema.get("type")
    if schema.get(INT_OR_STRING):
        if not (isinstance(value, str) or _type_ok(value, "integer")):
            errs.append(invalid(path, value, f"{path} in body must be of type integer or string: "
                                             f"\"{_type_name(value)}\""))
            return
    elif want and not _type_ok(value, want):
        errs.append(invalid(path, value, f"{path} in body must be of type {want}: \"{_type_name(value)}\""))
        return
    _check_enum_and_bounds(value, schema, path, errs)
    _check_combinators(value, schema, path, errs)
    if isinstance(value, dict):
        _validate_object(value, schema, path, errs)
    elif isinstance(value, list):
        _validate_array(value, schema, path, errs)


def _check_enum_and_bounds(value: JSON, schema: JSON, path: str, errs: list[FieldError]) -> None:
    if "enum" in schema and value not in schema["enum"]:
        errs.append(not_supported(path, value, [str(e) for e in schema["enum"]]))
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and (value < low or (schema.get("exclusiveMinimum") and value == low)):
            op = "greater than" if schema.get("exclusiveMinimum") else "greater than or equal to"
            errs.append(invalid(path, value, f"{path} in body should be {op} {low}"))
        if high is not None and (value > high or (schema.get("exclusiveMaximum") and value == high)):
            op = "less than" if schema.get("exclusiveMaximum") else "less than or equal to"
            errs.append(invalid(path, value, f"{path} in body should be {op} {high}"))
        if schema.get("multipleOf") and value % schema["multipleOf"]:
            errs.append(invalid(path, value, f"{path} in body should be a multiple of {schema['multipleOf']}"))
    if isinstance(value, str):
        if schema.get("minLength") is not None and len(value) < schema["minLength"]:
            errs.append(invalid(path, value, f"{path} in body should be at least {schema['minLength']} chars long"))
        if schema.get("maxLength") is not None and len(value) > schema["maxLength"]:
            errs.append(invalid(path, value, f"{path} in body may not be longer than {schema['maxLength']}"))
        if schema.get("pattern") and not re.search(schema["pattern"], value):
            errs.append(invalid(path, value, f"{path} in body should match '{schema['pattern']}'"))


def _check_combinators(value: JSON, schema: JSON, path: str, errs: list[FieldError]) -> None:
    def fails(sub: JSON) -> bool:
        found: list[FieldError] = []
        _validate(value, sub, path, found)
        return bool(found)

    for sub in schema.get("allOf") or []:
        _validate(value, sub, path, errs)
    if schema.get("anyOf") and all(fails(s) for s in schema["anyOf"]):
        errs.append(invalid(path, value, f"{path} in body must match at least one schema in anyOf"))
    if schema.get("oneOf") and sum(not fails(s) for s in schema["oneOf"]) != 1:
        errs.append(invalid(path, value, f"{path} in body must match exactly one schema in oneOf"))
    if isinstance(schema.get("not"), dict) and not fails(schema["not"]):
        errs.append(invalid(path, value, f"{path} in body must not validate the schema (not)"))


def _validate_object(value: dict, schema: JSON, path: str, errs: list[FieldError]) -> None:
    props = schema.get("properties") or {}
    for name in schema.get("required") or []:
        if name not in value:
            errs.append(required(_at(path, name)))
    for key, item in value.items():
        if key in props:
            _validate(item, props[key], _at(path, key), errs)
        elif isinstance(schema.get("additionalProperties"), dict):
            _validate(item, schema["additionalProperties"], _at(path, key), errs)
    if schema.get("maxProperties") is not None and len(value) > schema["maxProperties"]:
        errs.append(invalid(path, len(value), f"{path} in body should have at most {schema['maxProperties']} properties"))
    if schema.get("minProperties") is not None and len(value) < schema["minProperties"]:
        errs.append(invalid(path, len(value), f"{path} in body should have at least {schema['minProperties']} properties"))


def _validate_array(value: list, schema: JSON, path: str, errs: list[FieldError]) -> None:
    if schema.get("maxItems") is not None and len(value) > schema["maxItems"]:
        errs.append(invalid(path, len(value), f"{path} in body should have at most {schema['maxItems']} items"))
    if schema.get("minItems") is not None and len(value) < schema["minItems"]:
        errs.append(invalid(path, len(value), f"{path} in body should have at least {schema['minItems']} items"))
    if schema.get("uniqueItems") and len({repr(v) for v in value}) != len(value):
        errs.append(invalid(path, value, f"{path} in body shouldn't contain duplicates"))
    if isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _validate(item, schema["items"], f"{path}[{i}]", errs)
