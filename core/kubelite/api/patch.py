"""Patches on plain JSON data: JSON merge patch, JSON patch, strategic merge patch.

All three take JSON-like Python values (dict/list/str/int/float/bool/None), never
mutate their inputs, and either return the whole patched document or raise
`PatchError` (a ValueError) having changed nothing.

Strategic merge patch follows k8s.io/apimachinery/pkg/util/strategicpatch as the
apiserver runs it (MergeParallelList and IgnoreUnmatchedNulls on). The schema is a
table of `patchStrategy`/`patchMergeKey` tags from k8s.io/api core/v1 and apps/v1
for the kinds kubelite serves; see `_KIND_SCHEMAS`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

JSON = Any  # dict | list | str | int | float | bool | None


class PatchError(ValueError):
    """A patch that cannot be applied: bad shape, bad directive, bad path, failed test."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _json_equal(a: JSON, b: JSON) -> bool:
    """Equality as JSON sees it: true != 1, but 1 == 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(_json_equal(v, b[k]) for k, v in a.items())
        )
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


# ============================================================ RFC 7386 merge patch
def json_merge_patch(target: JSON, patch: JSON) -> JSON:
    """Apply an RFC 7386 JSON merge patch (null deletes; non-objects replace)."""
    return _merge_patch(copy.deepcopy(target), patch)


def _merge_patch(target: JSON, patch: JSON) -> JSON:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for name, value in patch.items():
        if value is None:
            target.pop(name, None)
        else:
            target[name] = _merge_patch(target.get(name), value)
    return target


# ============================================================ RFC 6902 JSON patch
def _parse_pointer(pointer: Any, what: str) -> list[str]:
    if not isinstance(pointer, str):
        raise PatchError(f"{what} must be a string JSON pointer, got {pointer!r}")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f'JSON pointer must be empty or start with "/": {pointer!r}')
    tokens = []
    for raw in pointer[1:].split("/"):
        i = raw.find("~")
        while i != -1:
            if i + 1 >= len(raw) or raw[i + 1] not in "01":
                raise PatchError(
                    f"invalid escape in JSON pointer {pointer!r}: only ~0 and ~1 are allowed"
                )
            i = raw.find("~", i + 2)
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tokens


def _array_index(token: str, length: int, pointer: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return length
    if not token.isdigit() or (len(token) > 1 and token[0] == "0") or not token.isascii():
        raise PatchError(f"invalid array index {token!r} in path {pointer!r}")
    index = int(token)
    if index > length or (index == length and not allow_end):
        raise PatchError(f"array index {index} out of bounds in path {pointer!r}")
    return index


def _resolve(doc: JSON, tokens: list[str], pointer: str) -> JSON:
    node = doc
    for token in tokens:
        if isinstance(node, dict):
            if token not in node:
                raise PatchError(f"path {pointer!r} does not exist: missing key {token!r}")
            node = node[token]
        elif isinstance(node, list):
            node = node[_array_index(token, len(node), pointer, allow_end=False)]
        else:
            raise PatchError(
                f"path {pointer!r} does not exist: {token!r} is not inside an object or array"
            )
    return node


def _add(doc: JSON, tokens: list[str], value: JSON, pointer: str) -> JSON:
    return _put(doc, tokens, value, pointer, add=True)


def _remove(doc: JSON, tokens: list[str], pointer: str) -> tuple[JSON, JSON]:
    """Remove the value at tokens; returns (doc, removed value)."""
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent = _resolve(doc, tokens[:-1], pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path {pointer!r} does not exist: missing key {last!r}")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_array_index(last, len(parent), pointer, allow_end=False))
    raise PatchError(f"path {pointer!r} does not exist: parent is not an object or array")


def _replace(doc: JSON, tokens: list[str], value: JSON, pointer: str) -> JSON:
    return _put(doc, tokens, value, pointer, add=False)


def _put(doc: JSON, tokens: list[str], value: JSON, pointer: str, *, add: bool) -> JSON:
    """RFC 6902 add (a new key, or an insert before an array index; "-" appends) or
    replace (the key or index must exist)."""
    if not tokens:
        return value
    parent = _resolve(doc, tokens[:-1], pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        if not add and last not in parent:
            raise PatchError(f"path {pointer!r} does not exist: missing key {last!r}")
        parent[last] = value
    elif isinstance(parent, list):
        index = _array_index(last, len(parent), pointer, allow_end=add)
        if add:
            parent.insert(index, value)
        else:
            parent[index] = value
    elif add:
        raise PatchError(f"cannot add at {pointer!r}: parent is not an object or array")
    else:
        raise PatchError(f"path {pointer!r} does not exist: parent is not an object or array")
    return doc


def json_patch(target: JSON, ops: list[Any]) -> JSON:
    """Apply an RFC 6902 JSON patch atomically: all operations or none."""
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be an array of operations")
    doc = copy.deepcopy(target)
    for n, op in enumerate(ops):
        try:
            doc = _apply_op(doc, op)
        except PatchError as e:
            raise PatchError(f"operation {n}: {e.message}") from None
    return doc


def _apply_op(doc: JSON, op: Any) -> JSON:
    if not isinstance(op, dict):
        raise PatchError(f"an operation must be an object, got {op!r}")
    kind = op.get("op")
    pointer = op.get("path")
    tokens = _parse_pointer(pointer, '"path"')
    if kind in ("add", "replace", "test") and "value" not in op:
        raise PatchError(f'"{kind}" operation is missing "value"')
    if kind == "add":
        return _add(doc, tokens, copy.deepcopy(op["value"]), pointer)
    if kind == "remove":
        return _remove(doc, tokens, pointer)[0]
    if kind == "replace":
        return _replace(doc, tokens, copy.deepcopy(op["value"]), pointer)
    if kind == "test":
        if not _json_equal(_resolve(doc, tokens, pointer), op["value"]):
            raise PatchError(f"test failed: value at {pointer!r} is not {op['value']!r}")
        return doc
    if kind in ("move", "copy"):
        source = op.get("from")
        from_tokens = _parse_pointer(source, '"from"')
        if kind == "move":
            if from_tokens == tokens:
                return doc
            if tokens[: len(from_tokens)] == from_tokens:
                raise PatchError(f"cannot move {source!r} into its own child {pointer!r}")
            doc, value = _remove(doc, from_tokens, source)
        else:
            value = copy.deepcopy(_resolve(doc, from_tokens, source))
        return _add(doc, tokens, value, pointer)
    raise PatchError(
        f"unknown operation {kind!r}: expected add, remove, replace, move, copy or test"
    )


# ============================================================ strategic merge patch
DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"
SET_ELEMENT_ORDER = "$setElementOrder/"


@dataclass(frozen=True)
class FieldMeta:
    """patchStrategy/patchMergeKey of one field and the schema below it."""

    strategy: frozenset[str] = frozenset()  # "merge", "replace", "retainKeys"
    merge_key: str | None = None
    children: dict[str, FieldMeta] = field(default_factory=dict)


_NO_SCHEMA: dict[str, FieldMeta] = {}


def _f(
    strategy: str = "", merge_key: str | None = None, children: dict[str, FieldMeta] | None = None
) -> FieldMeta:
    return FieldMeta(frozenset(s for s in strategy.split(",") if s), merge_key, children or {})


# Tags from k8s.io/api/core/v1/types.go and apps/v1, batch/v1 types.go.
_CONDITIONS = _f("merge", "type")
_OBJECT_META = {"ownerReferences": _f("merge", "uid"), "finalizers": _f("merge")}
_CONTAINER = {
    "ports": _f("merge", "containerPort"),
    "env": _f("merge", "name"),
    "volumeMounts": _f("merge", "mountPath"),
    "volumeDevices": _f("merge", "devicePath"),
}
_POD_SPEC = {
    "containers": _f("merge", "name", _CONTAINER),
    "initContainers": _f("merge", "name", _CONTAINER),
    "ephemeralContainers": _f("merge", "name", _CONTAINER),
    "volumes": _f("merge,retainKeys", "name"),
    "imagePullSecrets": _f("merge", "name"),
    "hostAliases": _f("merge", "ip"),
    "topologySpreadConstraints": _f("merge", "topologyKey"),
    "schedulingGates": _f("merge", "name"),
    "resourceClaims": _f("merge,retainKeys", "name"),
}
_POD_STATUS = {"conditions": _CONDITIONS, "podIPs": _f("merge", "ip"), "hostIPs": _f("merge", "ip")}
_POD_TEMPLATE = {"metadata": _f(children=_OBJECT_META), "spec": _f(children=_POD_SPEC)}
_WORKLOAD_SPEC = {"template": _f(children=_POD_TEMPLATE)}
_CONDITIONS_STATUS = _f(children={"conditions": _CONDITIONS})


def _kind(**fields: FieldMeta) -> dict[str, FieldMeta]:
    return {"metadata": _f(children=_OBJECT_META), **fields}


_KIND_SCHEMAS: dict[str, dict[str, FieldMeta]] = {
    "Pod": _kind(spec=_f(children=_POD_SPEC), status=_f(children=_POD_STATUS)),
    "PodTemplate": _kind(template=_f(children=_POD_TEMPLATE)),
    "Deployment": _kind(
        spec=_f(children={**_WORKLOAD_SPEC, "strategy": _f("retainKeys")}),
        status=_CONDITIONS_STATUS,
    ),
    "ReplicaSet": _kind(spec=_f(children=_WORKLOAD_SPEC), status=_CONDITIONS_STATUS),
    "ReplicationController": _kind(spec=_f(children=_WORKLOAD_SPEC), status=_CONDITIONS_STATUS),
    "DaemonSet": _kind(spec=_f(children=_WORKLOAD_SPEC), status=_CONDITIONS_STATUS),
    "StatefulSet": _kind(spec=_f(children=_WORKLOAD_SPEC), status=_CONDITIONS_STATUS),
    "Job": _kind(spec=_f(children=_WORKLOAD_SPEC), status=_CONDITIONS_STATUS),
    "CronJob": _kind(
        spec=_f(children={"jobTemplate": _f(children={"spec": _f(children=_WORKLOAD_SPEC)})})
    ),
    "Service": _kind(spec=_f(children={"ports": _f("merge", "port")}), status=_CONDITIONS_STATUS),
    "Node": _kind(
        spec=_f(children={"podCIDRs": _f("merge")}),
        status=_f(children={"conditions": _CONDITIONS, "addresses": _f("merge", "type")}),
    ),
    "Namespace": _kind(status=_CONDITIONS_STATUS),
}
_DEFAULT_SCHEMA = _kind()


def patch_schema(kind: str) -> dict[str, FieldMeta]:
    """The merge-key table for a kind (metadata only for kinds not listed)."""
    return _KIND_SCHEMAS.get(kind, _DEFAULT_SCHEMA)


def strategic_merge_patch(target: JSON, patch: JSON, kind: str) -> JSON:
    """Apply a Kubernetes strategic merge patch to `target` (an object of `kind`)."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object")
    if target is None:
        target = {}
    if not isinstance(target, dict):
        raise PatchError("a strategic merge patch applies to a JSON object")
    return _merge_map(copy.deepcopy(target), copy.deepcopy(patch), patch_schema(kind), "")


def _child_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _split_directive_key(key: str, prefix: str) -> str:
    name = key[len(prefix) :]
    if not name:
        raise PatchError(f"directive {key!r} names no field")
    return name


def _merge_map(original: dict, patch: dict, schema: dict[str, FieldMeta], path: str) -> dict:
    """Merge `patch` into `original` (both owned by us; `original` is modified)."""
    if DIRECTIVE in patch:
        directive = patch.pop(DIRECTIVE)
        if directive == "replace":
            return _fresh_map(patch, schema, path)
        if directive == "delete":
            return {}
        if directive != "merge":  # "merge" is the default for maps; accept it as a no-op
            raise PatchError(f"unknown patch type: {directive} in map at {path or '<root>'}")
    _apply_retain_keys(original, patch, path)
    _apply_set_element_order(original, patch, schema, path)

    # Deletions from primitive lists first, so a patch never sees a half-deleted list.
    for key in [k for k in patch if k.startswith(DELETE_FROM_PRIMITIVE_LIST)]:
        name = _split_directive_key(key, DELETE_FROM_PRIMITIVE_LIST)
        to_delete = patch.pop(key)
        if not isinstance(to_delete, list):
            raise PatchError(f"{key} at {path or '<root>'} must be a list")
        current = original.get(name)
        if isinstance(current, list):
            original[name] = [x for x in current if not any(_json_equal(x, d) for d in to_delete)]

    for key, value in patch.items():
        if key.startswith("$"):
            raise PatchError(
                f"unknown strategic merge patch directive {key!r} at {path or '<root>'}"
            )
        if value is None:
            original.pop(key, None)
            continue
        meta = schema.get(key)
        children = meta.children if meta else _NO_SCHEMA
        here = _child_path(path, key)
        current = original.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            if meta and "replace" in meta.strategy:
                original[key] = _fresh_map(value, children, here)
            else:
                original[key] = _merge_map(current, value, children, here)
        elif isinstance(current, list) and isinstance(value, list):
            original[key] = _merge_list_field(current, value, meta, here)
        else:  # new key, scalar, or type change: the patch value wins
            original[key] = _fresh(value, meta, here)
    return original


def _fresh_map(patch: dict, schema: dict[str, FieldMeta], path: str) -> dict:
    """A patch map used as a whole value: directives applied, nulls dropped."""
    return _merge_map({}, patch, schema, path)


def _fresh(value: JSON, meta: FieldMeta | None, path: str) -> JSON:
    if isinstance(value, dict):
        return _fresh_map(value, meta.children if meta else _NO_SCHEMA, path)
    if isinstance(value, list):
        return _merge_list_field([], value, meta, path)
    return value


def _merge_list_field(current: list, patch: list, meta: FieldMeta | None, path: str) -> list:
    if meta is None or "merge" not in meta.strategy:
        # No merge strategy: the patch list replaces the list (elements cleaned of nulls).
        children = meta.children if meta else _NO_SCHEMA
        return [_fresh_map(e, children, path) if isinstance(e, dict) else e for e in patch]
    return _merge_list(current, patch, meta.merge_key, meta.children, path)


def _hashable(value: JSON) -> Any:
    """A hashable stand-in with JSON equality (true != 1, 1 == 1.0)."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", value)
    if isinstance(value, str):
        return ("s", value)
    if value is None:
        return ("z", None)
    return ("j", json.dumps(value, sort_keys=True))


class _Positions:
    """First position of each element of a list, by merge key (maps) or value (scalars)."""

    def __init__(self, items: list, merge_key: str | None) -> None:
        self.merge_key = merge_key
        self.first: dict[Any, int] = {}
        for i, e in enumerate(items):
            self.first.setdefault(self.key(e), i)

    def key(self, element: JSON) -> Any:
        if self.merge_key and isinstance(element, dict):
            return ("m", _hashable(element.get(self.merge_key)))
        return _hashable(element)

    def index(self, element: JSON) -> int:
        return self.first.get(self.key(element), -1)


def _merge_list(
    current: list, patch: list, merge_key: str | None, children: dict[str, FieldMeta], path: str
) -> list:
    if not current and not patch:
        return current
    are_maps = [isinstance(e, dict) for e in (*current, *patch)]
    if any(isinstance(e, list) for e in (*current, *patch)):
        raise PatchError(f"cannot merge lists of lists at {path}")
    if any(are_maps) and not all(are_maps):
        raise PatchError(f"cannot merge a list of mixed maps and scalars at {path}")

    if not all(are_maps):  # primitives: union, first occurrence wins
        merged: list = []
        seen: set[Any] = set()
        for e in (*current, *patch):
            if (k := _hashable(e)) not in seen:
                seen.add(k)
                merged.append(e)
        order_key = None
    else:
        if not merge_key:
            raise PatchError(f"cannot merge lists without merge key for {path}")
        current, patch = _apply_list_directives(current, patch, merge_key, path)
        merged = [_fresh_map(e, children, path) if patch is None else e for e in current]
        positions = _Positions(merged, merge_key)
        for element in patch or ():
            if merge_key not in element:
                raise PatchError(f"map: {element} does not contain declared merge key: {merge_key}")
            i = positions.index(element)
            if i >= 0:
                merged[i] = _merge_map(merged[i], element, children, path)
            else:
                positions.first[positions.key(element)] = len(merged)
                merged.append(_fresh_map(element, children, path))
        order_key = merge_key
    return _order(merged, patch or [], current, order_key)


def _apply_list_directives(
    current: list, patch: list, merge_key: str, path: str
) -> tuple[list, list | None]:
    """Handle list elements carrying `$patch` (patchWithoutSpecialElements).

    Returns (current, remaining patch); a `$patch: replace` element means the
    remaining patch elements *are* the list, signalled by returning (elements, None).
    """
    remaining, replace = [], False
    for element in patch:
        if DIRECTIVE not in element:
            remaining.append(element)
            continue
        directive = element[DIRECTIVE]
        if directive == "delete":
            if merge_key not in element:
                raise PatchError(f"map: {element} does not contain declared merge key: {merge_key}")
            current = [e for e in current if not _json_equal(e.get(merge_key), element[merge_key])]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise PatchError(f"merging lists cannot yet be specified in the patch (at {path})")
        else:
            raise PatchError(f"unknown patch type: {directive} in list element at {path}")
    if replace:
        return remaining, None
    return current, remaining


def _order(merged: list, patch_order: list, server_order: list, merge_key: str | None) -> list:
    """Kubernetes' element order: patch items in patch order, server-only items in
    live order, interleaved by their live positions (normalizeElementOrder)."""
    in_patch_order = _Positions(patch_order, merge_key)
    live = _Positions(server_order, merge_key)
    in_patch = [e for e in merged if in_patch_order.index(e) >= 0]
    server_only = [e for e in merged if in_patch_order.index(e) < 0]
    in_patch.sort(key=in_patch_order.index)
    server_only.sort(key=live.index)
    return _merge_sorted(server_only, in_patch, live)


def _merge_sorted(left: list, right: list, live: _Positions) -> list:
    """mergeSortedSlice: take a left item first only if both are live and it comes first."""
    out: list = []
    i = j = 0
    while i < len(left) or j < len(right):
        if j >= len(right):
            out.append(left[i])
            i += 1
        elif i >= len(left):
            out.append(right[j])
            j += 1
        else:
            li, ri = live.index(left[i]), live.index(right[j])
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _apply_retain_keys(original: dict, patch: dict, path: str) -> None:
    if RETAIN_KEYS not in patch:
        return
    retain = patch.pop(RETAIN_KEYS)
    if not isinstance(retain, list):
        raise PatchError(f"invalid patch format of retainKeys at {path or '<root>'}")
    keep = set(retain)
    for key, value in patch.items():
        if value is None or key.startswith(
            (DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER, DIRECTIVE)
        ):
            continue
        if key not in keep:
            raise PatchError(
                f"invalid patch format of retainKeys at {path or '<root>'}: {key!r} is not in $retainKeys"
            )
    for key in [k for k in original if k not in keep]:
        del original[key]


def _apply_set_element_order(
    original: dict, patch: dict, schema: dict[str, FieldMeta], path: str
) -> None:
    """Merge each list named by `$setElementOrder/<field>` and order it as listed."""
    for key in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        name = _split_directive_key(key, SET_ELEMENT_ORDER)
        order = patch.pop(key)
        here = _child_path(path, name)
        if not isinstance(order, list):
            raise PatchError(f"{key} at {path or '<root>'} must be a list")
        if name in patch and patch[name] is None:
            continue  # the list itself is being deleted
        meta = schema.get(name)
        merge_key = meta.merge_key if meta else None
        if merge_key:
            for element in order:
                if not isinstance(element, dict) or merge_key not in element:
                    raise PatchError(
                        f"map: {element} does not contain declared merge key: {merge_key}"
                    )
        current, value = original.get(name), patch.pop(name, None)
        if isinstance(value, list):
            _check_order_matches(value, order, merge_key, here)
        if isinstance(value, list) and isinstance(current, list):
            merged = _merge_list_field(current, value, meta, here)
        elif isinstance(value, list):
            merged = _fresh(value, meta, here)
        elif isinstance(current, list):
            merged = current
        else:
            if value is not None:
                patch[name] = value  # not a list: let the ordinary merge handle it
            continue
        server_order = current if isinstance(current, list) else []
        key_for = merge_key if merged and isinstance(merged[0], dict) else None
        original[name] = _order(merged, order, server_order, key_for)


def _check_order_matches(patch_list: list, order: list, merge_key: str | None, path: str) -> None:
    """The patch list (minus directive elements) must follow $setElementOrder's order."""

    def key(e: JSON) -> JSON:
        if not merge_key:
            return e
        return e.get(merge_key) if isinstance(e, dict) else None

    items = [e for e in patch_list if not (isinstance(e, dict) and DIRECTIVE in e)]
    i = 0
    for wanted in order:
        if i < len(items) and _json_equal(key(items[i]), key(wanted)):
            i += 1
    if i < len(items):
        raise PatchError(
            f"the order in patch list {patch_list} doesn't match $setElementOrder list {order} at {path}"
        )
