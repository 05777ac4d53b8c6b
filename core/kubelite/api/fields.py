"""Field selectors, as k8s.io/apimachinery/pkg/fields, and each kind's selectable fields.

`parse_field_selector("spec.nodeName=n1,status.phase!=Failed")` parses once;
`FieldSelector.matches(fields_of(obj))` filters. The apiserver calls
`convert_for_kind(selector, kind)` to reject labels the kind does not expose with
Kubernetes' 400 message "field label not supported: <label>".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

EQUALS = "="
DOUBLE_EQUALS = "=="
NOT_EQUALS = "!="
_TERM_OPERATORS = (NOT_EQUALS, DOUBLE_EQUALS, EQUALS)  # order matters: longest first


# ---------------------------------------------------------------- escaping
def escape_value(value: str) -> str:
    """Escape `\\`, `,` and `=` so a value can be embedded in a selector string."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_value(value: str) -> str:
    """Inverse of escape_value; raises ValueError with apimachinery's messages."""
    if not any(c in value for c in "\\,="):
        return value
    out: list[str] = []
    in_slash = False
    for c in value:
        if in_slash:
            if c not in "\\,=":
                raise ValueError(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c in ",=":
            raise ValueError(f"invalid field selector: unescaped character in value: {c}")
        else:
            out.append(c)
    if in_slash:
        raise ValueError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(s: str) -> list[str]:
    """Split on commas that are not backslash-escaped."""
    if not s:
        return []
    terms, start, in_slash = [], 0, False
    for i, c in enumerate(s):
        if in_slash:
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c == ",":
            terms.append(s[start:i])
            start = i + 1
    terms.append(s[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in _TERM_OPERATORS:
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


# ---------------------------------------------------------------- selector
@dataclass(frozen=True, slots=True)
class FieldRequirement:
    field: str
    operator: str  # "=" or "!="
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        # A field the object does not have reads as "" (fields.Set.Get).
        have = fields.get(self.field, "")
        return have != self.value if self.operator == NOT_EQUALS else have == self.value

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{escape_value(self.value)}"


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """A conjunction of field requirements. No requirements selects everything."""

    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, fields: Mapping[str, str]) -> bool:
        for r in self.requirements:
            if not r.matches(fields):
                return False
        return True

    def matches_object(self, obj: Any, kind: str | None = None) -> bool:
        """Match an object (dict or Struct); pass `kind` when the object may lack `kind`. Reads
        only the fields the requirements name."""
        if not self.requirements:
            return True
        kind = kind or _get(obj, "kind") or ""
        for r in self.requirements:
            have = field_value(obj, kind, r.field)
            if (have == r.value) == (r.operator == NOT_EQUALS):
                return False
        return True

    def requires_exact_match(self, field: str) -> str | None:
        """The value `field` must equal, if pinned (e.g. spec.nodeName for a node's pods)."""
        for r in self.requirements:
            if r.field == field and r.operator != NOT_EQUALS:
                return r.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def parse_field_selector(s: str) -> FieldSelector:
    """Parse `a=b`, `a==b`, `a!=b` terms joined by commas (fields.ParseSelector).

    Like Kubernetes, whitespace is not trimmed and terms are kept sorted by their text.
    Raises ValueError for a term without an operator or a badly escaped value.
    """
    reqs: list[FieldRequirement] = []
    for part in sorted(_split_terms(s)):
        if part == "":
            continue
        split = _split_term(part)
        if split is None:
            raise ValueError(f"invalid selector: '{s}'; can't understand '{part}'")
        field, op, raw = split
        # "==" and "=" mean the same (both are hasTerm in Kubernetes); keep one spelling.
        op = NOT_EQUALS if op == NOT_EQUALS else EQUALS
        reqs.append(FieldRequirement(field, op, unescape_value(raw)))
    return FieldSelector(tuple(reqs))


def selector_from_fields(fields: Mapping[str, str]) -> FieldSelector:
    """`field=value` for every entry (fields.SelectorFromSet)."""
    return FieldSelector(tuple(FieldRequirement(k, EQUALS, v) for k, v in sorted(fields.items())))


# ---------------------------------------------------------------- selectable fields per kind
_META_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
# Kinds with their own field label conversion in Kubernetes (pkg/apis/core/v1/conversion.go,
# apps/v1). Cluster-scoped Node and Namespace do not accept metadata.namespace there.
_KIND_FIELDS: dict[str, frozenset[str]] = {
    "Pod": _META_FIELDS
    | {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.podIPs",
        "status.nominatedNodeName",
    },
    "Node": frozenset({"metadata.name", "spec.unschedulable"}),
    "Event": _META_FIELDS
    | {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    },
    "Secret": _META_FIELDS | {"type"},
    "Namespace": frozenset({"metadata.name", "status.phase"}),
    "ReplicaSet": _META_FIELDS | {"status.replicas"},
    "Job": _META_FIELDS | {"status.successful"},
}
# Old v1 clients send spec.host for pods; Kubernetes rewrites it.
_ALIASES: dict[str, dict[str, str]] = {"Pod": {"spec.host": "spec.nodeName"}}


def supported_fields(kind: str) -> frozenset[str]:
    """Field labels a kind can be selected by (at least metadata.name)."""
    return _KIND_FIELDS.get(kind, _META_FIELDS)


def convert_for_kind(selector: FieldSelector, kind: str) -> FieldSelector:
    """Check every field label against `kind` and apply Kubernetes' label aliases.

    Raises ValueError with Kubernetes' message, which the apiserver returns unchanged as
    400 BadRequest: "field label not supported: <label>" for kinds with their own
    conversion, and the generic "<label> is not a known field selector" text otherwise.
    """
    if not selector.requirements:
        return selector
    allowed = supported_fields(kind)
    aliases = _ALIASES.get(kind, {})
    out: list[FieldRequirement] = []
    for r in selector.requirements:
        field = aliases.get(r.field, r.field)
        if field not in allowed:
            if kind in _KIND_FIELDS:
                raise ValueError(f"field label not supported: {r.field}")
            raise ValueError(
                f'"{r.field}" is not a known field selector: only "metadata.name", "metadata.namespace"'
            )
        out.append(r if field == r.field else FieldRequirement(field, r.operator, r.value))
    return FieldSelector(tuple(out))


def _get(obj: Any, *path: str) -> Any:
    for name in path:
        if obj is None:
            return None
        obj = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
    return obj


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _at(*path: str) -> Callable[[Any], str]:
    return lambda obj: _text(_get(obj, *path))


def _flag(*path: str) -> Callable[[Any], str]:
    return lambda obj: _text(bool(_get(obj, *path)))


def _count(*path: str) -> Callable[[Any], str]:
    return lambda obj: _text(_get(obj, *path) or 0)


def _pod_ip(obj: Any) -> str:
    pod_ips = _get(obj, "status", "podIPs")
    return _text(_get(pod_ips[0], "ip") if pod_ips else _get(obj, "status", "podIP"))


def _event_source(obj: Any) -> str:
    return _text(_get(obj, "source", "component")) or _text(_get(obj, "reportingComponent"))


# How each selectable field is read from an object (dict or Struct): one field at a time, so a
# selector reads only what it names (an informer or a LIST by spec.nodeName tests every pod).
_META_READERS: dict[str, Callable[[Any], str]] = {
    "metadata.name": _at("metadata", "name"), "metadata.namespace": _at("metadata", "namespace"),
}
_READERS: dict[str, dict[str, Callable[[Any], str]]] = {
    "Pod": {
        "spec.nodeName": _at("spec", "nodeName"), "spec.restartPolicy": _at("spec", "restartPolicy"),
        "spec.schedulerName": _at("spec", "schedulerName"),
        "spec.serviceAccountName": _at("spec", "serviceAccountName"),
        "spec.hostNetwork": _flag("spec", "hostNetwork"), "status.phase": _at("status", "phase"),
        "status.podIP": _pod_ip, "status.nominatedNodeName": _at("status", "nominatedNodeName"),
    },
    "Node": {"spec.unschedulable": _flag("spec", "unschedulable")},
    "Event": {
        **{f"involvedObject.{name}": _at("involvedObject", name) for name in (
            "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")},
        "reason": _at("reason"), "reportingComponent": _at("reportingComponent"), "source": _event_source,
        "type": _at("type"),
    },
    "Secret": {"type": _at("type")},
    "Namespace": {"status.phase": _at("status", "phase")},
    "ReplicaSet": {"status.replicas": _count("status", "replicas")},
    "Job": {"status.successful": _count("status", "succeeded")},
}  # fmt: skip


def field_value(obj: Any, kind: str, field: str) -> str:
    """One selectable field of an object; "" for a field the kind does not have."""
    reader = _META_READERS.get(field) or _READERS.get(kind, {}).get(field)
    return reader(obj) if reader is not None else ""


def fields_of(obj: Any, kind: str | None = None) -> dict[str, str]:
    """The selectable fields of an object (dict or Struct); `kind` defaults to obj.kind.

    Missing values read as "" (and false for booleans), as Kubernetes' field sets do.
    """
    kind = kind or _get(obj, "kind") or ""
    readers = {**_META_READERS, **_READERS.get(kind, {})}
    return {field: read(obj) for field, read in readers.items()}
