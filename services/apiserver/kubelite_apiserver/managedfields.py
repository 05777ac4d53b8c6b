"""Field ownership (metadata.managedFields) as Kubernetes' structured-merge-diff keeps it.

Pure functions over plain JSON values (dicts/lists from msgspec.to_builtins).
A *field set* is a Python set of paths; a path is a tuple of fieldsV1 keys:
``("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"web"}', "f:image")``.
A path in the set means that node is owned (a leaf, or a list item / map node
itself, which fieldsV1 writes as ``".": {}``).

List semantics come from the kind's strategic-merge schema (kubelite.api.patch):
a list with a merge key is an associative list (``k:{...}`` items), a "merge"
list without one is a set (``v:...`` items), every other list is atomic.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import msgspec

from kubelite.api.patch import FieldMeta, patch_schema

Path = tuple[str, ...]
FieldSet = set[Path]

# Never owned by anyone: set by the server, or identity rather than content.
TOP_IGNORED = frozenset({"apiVersion", "kind"})
META_IGNORED = frozenset({
    "name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
    "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink",
})
# Maps/structs Kubernetes marks atomic (+mapType=atomic / +structType=atomic).
ATOMIC_FIELDS = frozenset({"selector", "nodeSelector", "labelSelector", "namespaceSelector"})
# Non-pointer structs: present in Kubernetes' zero object, so an Update never "adds" them.
STRUCT_FIELDS = frozenset({"metadata", "spec", "status", "template", "strategy"})
# Associative lists whose key has a second, defaulted field (x-kubernetes-list-map-keys).
EXTRA_KEYS = {"containerPort": ("protocol", "TCP"), "port": ("protocol", "TCP")}


def kind_schema(kind: str) -> dict[str, FieldMeta]:
    return patch_schema(kind)


# ----------------------------------------------------------------- list keys
def key_fields(meta: FieldMeta | None) -> tuple[str, ...] | None:
    if meta is None or not meta.merge_key:
        return None
    extra = EXTRA_KEYS.get(meta.merge_key)
    return (meta.merge_key, extra[0]) if extra else (meta.merge_key,)


def is_set_list(meta: FieldMeta | None) -> bool:
    return meta is not None and not meta.merge_key and "merge" in meta.strategy


def item_key(item: Any, keys: tuple[str, ...]) -> str:
    """`k:{"name":"web"}` for an associative-list item (defaulted key fields filled in)."""
    parts = {}
    for k in keys:
        if isinstance(item, dict) and k in item:
            parts[k] = item[k]
        else:
            default = next((d for f, d in EXTRA_KEYS.values() if f == k), None)
            if default is not None:
                parts[k] = default
    return "k:" + msgspec.json.encode(parts).decode()


def value_key(value: Any) -> str:
    return "v:" + msgspec.json.encode(value, order="sorted").decode()


# ---------------------------------------------------------- sets of a value
def fields_of(obj: dict[str, Any], kind: str, *, status: bool) -> FieldSet:
    """Every field an applied configuration sets (Apply): leaves and list items."""
    out: FieldSet = set()
    for key, value in obj.items():
        if key in TOP_IGNORED or (key == "status" and not status):
            continue
        if key == "metadata" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in META_IGNORED}
            if not value:
                continue
        _walk_leaves(value, ("f:" + key,), kind_schema(kind).get(key), out)
    return out


def _walk_leaves(value: Any, path: Path, meta: FieldMeta | None, out: FieldSet) -> None:
    name = path[-1][2:] if path[-1].startswith("f:") else ""
    if isinstance(value, dict) and value and name not in ATOMIC_FIELDS:
        children = meta.children if meta else {}
        for k, v in value.items():
            _walk_leaves(v, (*path, "f:" + k), children.get(k), out)
        return
    if isinstance(value, list) and value:
        keys = key_fields(meta)
        if keys:
            for item in value:
                ipath = (*path, item_key(item, keys))
                out.add(ipath)
                if isinstance(item, dict):
                    for k, v in item.items():
                        _walk_leaves(v, (*ipath, "f:" + k), meta.children.get(k), out)
            return
        if is_set_list(meta):
            out.update((*path, value_key(v)) for v in value)
            return
    out.add(path)


def diff(old: dict[str, Any], new: dict[str, Any], kind: str, *, status: bool) -> FieldSet:
    """Fields an Update set or changed (added or modified) from `old` to `new`, plus removed
    ones; with status=True only status is compared (the status subresource)."""
    out: FieldSet = set()
    schema = kind_schema(kind)
    keys = ("status",) if status else tuple(k for k in {**old, **new} if k not in TOP_IGNORED and k != "status")
    for key in keys:
        o, n = old.get(key), new.get(key)
        if key == "metadata":
            o = {k: v for k, v in (o or {}).items() if k not in META_IGNORED}
            n = {k: v for k, v in (n or {}).items() if k not in META_IGNORED}
        _diff(o, n, ("f:" + key,), schema.get(key), out)
    return out


MISSING = object()


def _diff(o: Any, n: Any, path: Path, meta: FieldMeta | None, out: FieldSet) -> None:
    if o == n:
        return
    name = path[-1][2:] if path[-1].startswith("f:") else ""
    if isinstance(o, dict) and isinstance(n, dict) and name not in ATOMIC_FIELDS:
        children = meta.children if meta else {}
        for k in {**o, **n}:
            _diff(o.get(k, MISSING), n.get(k, MISSING), (*path, "f:" + k), children.get(k), out)
        return
    if isinstance(o, list) and isinstance(n, list):
        keys = key_fields(meta)
        if keys and all(isinstance(x, dict) for x in (*o, *n)):
            old_items = {item_key(x, keys): x for x in o}
            for item in n:
                ik = item_key(item, keys)
                before = old_items.pop(ik, MISSING)
                ipath = (*path, ik)
                if before is MISSING:
                    _added(item, ipath, meta, out)
                else:
                    _diff(before, item, ipath, meta, out)
            out.update((*path, ik) for ik in old_items)
            return
        if is_set_list(meta):
            ov, nv = {value_key(v) for v in o}, {value_key(v) for v in n}
            out.update((*path, v) for v in ov ^ nv)
            return
    if n is MISSING or n is None:
        out.add(path)  # removed
        return
    if o is MISSING or o is None:
        _added(n, path, meta, out)
        return
    out.add(path)


def _added(value: Any, path: Path, meta: FieldMeta | None, out: FieldSet) -> None:
    """A whole new subtree: its leaves, and its maps and list items as nodes themselves."""
    name = path[-1][2:] if path[-1].startswith("f:") else ""
    if isinstance(value, dict) and value and name not in ATOMIC_FIELDS:
        if name not in STRUCT_FIELDS:
            out.add(path)
        children = meta.children if meta else {}
        for k, v in value.items():
            _added(v, (*path, "f:" + k), children.get(k), out)
        return
    keys = key_fields(meta)
    if isinstance(value, list) and value and keys and all(isinstance(x, dict) for x in value):
        out.add(path)
        for item in value:
            _added(item, (*path, item_key(item, keys)), meta, out)
        return
    if path[-1].startswith("k:") and isinstance(value, dict):
        out.add(path)
        for k, v in value.items():
            _added(v, (*path, "f:" + k), (meta.children if meta else {}).get(k), out)
        return
    _walk_leaves(value, path, meta, out)


def created_tree(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    """fieldsV1 of everything a create sets: `to_fields_v1(diff({}, obj))` in one pass
    (the create path is hot: this keeps the bookkeeping to a few microseconds)."""
    schema = kind_schema(kind)
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key in TOP_IGNORED or key == "status":
            continue
        if key == "metadata":
            value = {k: v for k, v in value.items() if k not in META_IGNORED}
        if value is None or value == {}:
            continue
        out["f:" + key] = _tree(value, key, schema.get(key))
    return out


def _tree(value: Any, name: str, meta: FieldMeta | None) -> dict[str, Any]:
    if type(value) is dict and value and name not in ATOMIC_FIELDS:
        children = meta.children if meta else _NO_CHILDREN
        node: dict[str, Any] = {} if name in STRUCT_FIELDS else {".": {}}
        for k, v in value.items():
            if v is not None:
                node["f:" + k] = _tree(v, k, children.get(k))
        return node
    if type(value) is list and value and meta is not None:
        keys = key_fields(meta)
        if keys and all(type(x) is dict for x in value):
            node = {".": {}}
            for item in value:
                inner: dict[str, Any] = {".": {}}
                for k, v in item.items():
                    if v is not None:
                        inner["f:" + k] = _tree(v, k, meta.children.get(k))
                node[item_key(item, keys)] = inner
            return node
        if is_set_list(meta):
            return {value_key(v): {} for v in value}
    return {}


_NO_CHILDREN: dict[str, FieldMeta] = {}


# ------------------------------------------------------- fieldsV1 encoding
def to_fields_v1(fields: Iterable[Path]) -> dict[str, Any]:
    """The fieldsV1 tree: `{}` for an owned leaf, `".": {}` for an owned node with children."""
    root: dict[str, Any] = {}
    members: set[int] = set()
    for path in sorted(fields):
        node = root
        for el in path:
            node = node.setdefault(el, {})
        members.add(id(node))
    _mark(root, members)
    return root


def _mark(node: dict[str, Any], members: set[int]) -> None:
    for key, child in list(node.items()):
        if child:
            _mark(child, members)
            if id(child) in members:  # "." first, as Kubernetes writes it
                node[key] = {".": {}, **child}


def from_fields_v1(tree: dict[str, Any] | None) -> FieldSet:
    out: FieldSet = set()

    def walk(node: dict[str, Any], path: Path) -> None:
        for key, child in node.items():
            if key == ".":
                out.add(path)
                continue
            if not child:
                out.add((*path, key))
            else:
                walk(child, (*path, key))

    walk(tree or {}, ())
    return out


# ------------------------------------------------------------ path strings
def path_string(path: Path) -> str:
    """`.spec.template.spec.containers[name="web"].image`, as Kubernetes prints it."""
    parts = []
    for el in path:
        tag, _, rest = el.partition(":")
        if tag == "f":
            parts.append("." + rest)
        elif tag == "k":
            keys = json.loads(rest)
            parts.append("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]")
        elif tag == "v":
            parts.append("[=" + rest + "]")
        else:
            parts.append(f"[{rest}]")
    return "".join(parts)


# ---------------------------------------------------------- value access
def get_path(obj: Any, path: Path) -> Any:
    node = obj
    for el in path:
        node = _child(node, el)
        if node is MISSING:
            return MISSING
    return node


def _child(node: Any, el: str) -> Any:
    tag, _, rest = el.partition(":")
    if tag == "f":
        return node.get(rest, MISSING) if isinstance(node, dict) else MISSING
    if not isinstance(node, list):
        return MISSING
    if tag == "k":
        keys = tuple(json.loads(rest))
        return next((x for x in node if item_key(x, keys) == el), MISSING)
    if tag == "v":
        return next((x for x in node if value_key(x) == el), MISSING)
    return MISSING


def remove_path(obj: Any, path: Path) -> None:
    """Delete the field or list item at `path` from `obj` (in place); absent is fine."""
    parent = get_path(obj, path[:-1])
    el = path[-1]
    tag, _, rest = el.partition(":")
    if tag == "f" and isinstance(parent, dict):
        parent.pop(rest, None)
    elif tag in ("k", "v") and isinstance(parent, list):
        target = _child(parent, el)
        if target is not MISSING:
            parent.remove(target)
