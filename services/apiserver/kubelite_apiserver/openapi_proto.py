"""/openapi/v2 as protobuf (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`): the
gnostic `openapi.v2.Document` kubectl and helm ask for first (kubectl 1.20 for every client-side
validation, newer ones and helm when resolving a kind they do not know).

What is encoded is what those clients read (kube-openapi's proto models): `swagger`, `info`, and
every definition with its schema: type, format, description, required, properties, items,
additionalProperties, `$ref`, enum and bounds, and the vendor extensions, above all
`x-kubernetes-group-version-kind`, by which a kind is found; and every path's operations with
their id, query and path parameters and vendor extensions, which kubectl 1.20's dry-run check
reads (`kubectl diff` asks whether a kind's patch takes `dryRun`). Responses are left out (no
client reads them). Field numbers are those of gnostic's openapiv2/OpenAPIv2.proto.

Vendor extensions and `default`/`enum` values are `Any{yaml: ...}` as gnostic writes them: the
value in YAML (JSON is YAML).
"""

from __future__ import annotations

import json
import struct
from functools import lru_cache
from typing import Any

# What clients ask for (kube-openapi accepts the '@' form, which Go's mime parser refuses in an
# answer) and what the answer is labelled (kube-openapi's subTypeProtobuf).
ACCEPTED = ("com.github.proto-openapi.spec.v2@v1.0+protobuf", "com.github.proto-openapi.spec.v2.v1.0+protobuf")
CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def wanted(accept: str) -> bool:
    """Whether the Accept header's first choice is gnostic's protobuf."""
    return any(a in accept.split(",")[0] for a in ACCEPTED)

# openapi.v2.Schema field numbers
_REF, _FORMAT, _TITLE, _DESCRIPTION, _DEFAULT = 1, 2, 3, 4, 5
_MULTIPLE_OF, _MAXIMUM, _EXCL_MAX, _MINIMUM, _EXCL_MIN = 6, 7, 8, 9, 10
_MAX_LEN, _MIN_LEN, _PATTERN, _MAX_ITEMS, _MIN_ITEMS, _UNIQUE = 11, 12, 13, 14, 15, 16
_MAX_PROPS, _MIN_PROPS, _REQUIRED, _ENUM, _ADDITIONAL, _TYPE = 17, 18, 19, 20, 21, 22
_ITEMS, _ALL_OF, _PROPERTIES, _READ_ONLY, _VENDOR = 23, 24, 25, 27, 31
_INTS = {"maxLength": _MAX_LEN, "minLength": _MIN_LEN, "maxItems": _MAX_ITEMS, "minItems": _MIN_ITEMS,
         "maxProperties": _MAX_PROPS, "minProperties": _MIN_PROPS}
_DOUBLES = {"multipleOf": _MULTIPLE_OF, "maximum": _MAXIMUM, "minimum": _MINIMUM}
_BOOLS = {"exclusiveMaximum": _EXCL_MAX, "exclusiveMinimum": _EXCL_MIN, "uniqueItems": _UNIQUE,
          "readOnly": _READ_ONLY}
_STRINGS = {"$ref": _REF, "format": _FORMAT, "title": _TITLE, "description": _DESCRIPTION, "pattern": _PATTERN}


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64s are ten bytes, as protobuf writes them
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _tag(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _bytes(field: int, data: bytes) -> bytes:
    return _tag(field, 2) + _varint(len(data)) + data


def _str(field: int, text: str) -> bytes:
    return _bytes(field, text.encode()) if text else b""


def _any(value: Any) -> bytes:
    """gnostic's Any: the value as YAML text (field 2); JSON is valid YAML."""
    return _str(2, json.dumps(value, separators=(",", ":")))


def _named_any(name: str, value: Any) -> bytes:
    return _str(1, name) + _bytes(2, _any(value))


def schema(node: dict[str, Any]) -> bytes:
    """One openapi.v2.Schema message."""
    out = bytearray()
    for key, field in _STRINGS.items():
        if isinstance(node.get(key), str):
            out += _str(field, node[key])
    if "default" in node:
        out += _bytes(_DEFAULT, _any(node["default"]))
    for key, field in _DOUBLES.items():
        if isinstance(node.get(key), int | float) and not isinstance(node.get(key), bool):
            out += _tag(field, 1) + struct.pack("<d", float(node[key]))
    for key, field in _BOOLS.items():
        if node.get(key) is True:
            out += _tag(field, 0) + b"\x01"
    for key, field in _INTS.items():
        if isinstance(node.get(key), int) and not isinstance(node.get(key), bool):
            out += _tag(field, 0) + _varint(node[key])
    for name in node.get("required") or []:
        out += _str(_REQUIRED, name)
    for value in node.get("enum") or []:
        out += _bytes(_ENUM, _any(value))
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        out += _bytes(_ADDITIONAL, _bytes(1, schema(extra)))
    elif isinstance(extra, bool):
        out += _bytes(_ADDITIONAL, _tag(2, 0) + (b"\x01" if extra else b"\x00"))
    types = node.get("type")
    if types:
        out += _bytes(_TYPE, b"".join(_str(1, t) for t in (types if isinstance(types, list) else [types])))
    items = node.get("items")
    if isinstance(items, dict):
        out += _bytes(_ITEMS, _bytes(1, schema(items)))
    for sub in node.get("allOf") or []:
        out += _bytes(_ALL_OF, schema(sub))
    props = node.get("properties")
    if isinstance(props, dict) and props:
        out += _bytes(_PROPERTIES, b"".join(_bytes(1, _str(1, k) + _bytes(2, schema(v))) for k, v in props.items()))
    for key, value in node.items():
        if key.startswith("x-"):
            out += _bytes(_VENDOR, _named_any(key, value))
    return bytes(out)


# PathItem's operations, QueryParameterSubSchema / PathParameterSubSchema by `in`
_METHODS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}
_PARAM_KINDS = {"query": 3, "path": 4, "header": 1}


def parameter(p: dict[str, Any]) -> bytes:
    """A ParametersItem holding a NonBodyParameter (kubelite's parameters are never bodies)."""
    kind = _PARAM_KINDS.get(p.get("in", ""), 3)
    sub = (_tag(1, 0) + b"\x01" if p.get("required") else b"") + _str(2, p.get("in", "")) + _str(4, p["name"])
    sub += _str(6 if kind == 3 else 5, p.get("type", ""))  # `type` is 6 in a query parameter, 5 elsewhere
    return _bytes(1, _bytes(2, _bytes(kind, sub)))


def operation(op: dict[str, Any]) -> bytes:
    out = bytearray(_str(5, op.get("operationId", "")))
    for p in op.get("parameters") or []:
        out += _bytes(8, parameter(p))
    for key, value in op.items():
        if key.startswith("x-"):
            out += _bytes(13, _named_any(key, value))
    return bytes(out)


def path_item(item: dict[str, Any]) -> bytes:
    out = bytearray()
    for method, field in _METHODS.items():
        if isinstance(item.get(method), dict):
            out += _bytes(field, operation(item[method]))
    for p in item.get("parameters") or []:
        out += _bytes(9, parameter(p))
    return bytes(out)


def document(doc: dict[str, Any]) -> bytes:
    """The openapi.v2.Document of a Swagger 2.0 JSON document (paths without responses)."""
    info = doc.get("info") or {}
    out = bytearray(_str(1, doc.get("swagger", "2.0")))
    out += _bytes(2, _str(1, info.get("title", "")) + _str(2, info.get("version", "")))
    paths = doc.get("paths") or {}
    out += _bytes(8, b"".join(_bytes(2, _str(1, name) + _bytes(2, path_item(item))) for name, item in paths.items()))
    definitions = doc.get("definitions") or {}
    out += _bytes(9, b"".join(_bytes(1, _str(1, name) + _bytes(2, schema(s))) for name, s in definitions.items()))
    return bytes(out)


@lru_cache(maxsize=1)
def document_of(v2_json: bytes) -> bytes:
    """Cached per JSON document (it changes only when a CRD does)."""
    return document(json.loads(v2_json))
