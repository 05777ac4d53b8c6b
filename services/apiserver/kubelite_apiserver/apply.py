"""Server-side apply and managedFields bookkeeping (pure; the registry does the I/O).

- `record_update`: after a create/PUT/PATCH by `manager`, that manager (operation
  Update) owns what it changed, and every other manager loses those fields.
- `apply_config`: PATCH application/apply-patch+yaml. Merges the applied
  configuration into the live object, removes fields this manager applied before
  and no longer does (unless someone else owns them), and refuses with 409 when it
  would change a field another manager owns (unless force), as Kubernetes does.

Entries are plain dicts shaped like metav1.ManagedFieldsEntry.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kubelite.api.meta import StatusCause, StatusDetails
from kubelite.api.patch import FieldMeta
from kubelite.errors import APIError, invalid_object, required
from kubelite_apiserver import managedfields as mf

Entry = dict[str, Any]


def manager_from_user_agent(user_agent: str) -> str:
    """Kubernetes' default field manager: the User-Agent up to its first '/'."""
    return user_agent.split("/", 1)[0][:128]


def check_patch_options(is_apply: bool, manager: str | None, force: bool) -> None:
    if is_apply and not manager:
        raise invalid_object("PatchOptions", "", [required("fieldManager", "is required for apply patch")],
                             "meta.k8s.io")
    if force and not is_apply:
        from kubelite.errors import forbidden

        raise invalid_object("PatchOptions", "", [forbidden("force", "may not be specified for non-apply patch")],
                             "meta.k8s.io")


# ------------------------------------------------------------------ entries
def _same(e: Entry, manager: str, operation: str, api_version: str, subresource: str) -> bool:
    return (
        e.get("manager") == manager
        and e.get("operation") == operation
        and (operation == "Apply" or e.get("apiVersion") == api_version)
        and (e.get("subresource") or "") == subresource
    )


def _entry(manager: str, operation: str, api_version: str, subresource: str, now: str,
           fields: mf.FieldSet) -> Entry:
    e: Entry = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now,
                "fieldsType": "FieldsV1", "fieldsV1": mf.to_fields_v1(fields)}
    if subresource:
        e["subresource"] = subresource
    return e


def _entry_tree(manager: str, operation: str, api_version: str, subresource: str, now: str,
                tree: dict[str, Any]) -> Entry:
    e: Entry = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now,
                "fieldsType": "FieldsV1", "fieldsV1": tree}
    if subresource:
        e["subresource"] = subresource
    return e


def _without(fields: mf.FieldSet, taken: mf.FieldSet) -> mf.FieldSet:
    """`fields` minus every path in `taken` and everything below those paths."""
    if not taken:
        return fields
    return {p for p in fields if not any(p[:i] in taken for i in range(1, len(p) + 1))}


def _replace_entry(entries: list[Entry], new: Entry, match) -> list[Entry]:
    out, placed = [], False
    for e in entries:
        if match(e):
            if not placed:
                out.append(new)
                placed = True
        else:
            out.append(e)
    if not placed:
        out.append(new)
    return out


def record_update(
    entries: list[Entry] | None, old: dict[str, Any] | None, new: dict[str, Any], *,
    manager: str, kind: str, api_version: str, subresource: str, now: str,
) -> list[Entry] | None:
    """managedFields after `manager` turned `old` (None: create) into `new` with an Update."""
    if old is None:  # create: the fast path
        tree = mf.created_tree(new, kind)
        return [_entry_tree(manager, "Update", api_version, subresource, now, tree)] if tree else None
    status = subresource == "status"
    changed = mf.diff(old, new, kind, status=status)
    if not changed:
        return entries or None
    present = {p for p in changed if mf.get_path(new, p) is not mf.MISSING}
    out: list[Entry] = []
    mine: mf.FieldSet = set()
    for e in entries or []:
        fields = mf.from_fields_v1(e.get("fieldsV1"))
        if _same(e, manager, "Update", api_version, subresource):
            mine = _without(fields, changed)
            continue
        kept = _without(fields, changed)
        if kept == fields:
            out.append(e)
        elif kept:
            out.append({**e, "fieldsV1": mf.to_fields_v1(kept)})
    mine |= present
    if mine:
        out.append(_entry(manager, "Update", api_version, subresource, now, mine))
    return out or None


# -------------------------------------------------------------------- apply
def apply_config(
    live: dict[str, Any] | None, config: dict[str, Any], entries: list[Entry] | None, *,
    manager: str, force: bool, kind: str, api_version: str, now: str,
) -> tuple[dict[str, Any], list[Entry]]:
    """(merged object, new managedFields) for an apply by `manager`; 409 on conflicts."""
    schema = mf.kind_schema(kind)
    config = _strip_config(config)
    applied = mf.fields_of(config, kind, status=False)
    base = copy.deepcopy(live) if live is not None else {}
    merged = _merge_map(base, config, schema)

    entries = list(entries or [])
    prev: mf.FieldSet = set()
    others: list[tuple[Entry, mf.FieldSet]] = []
    for e in entries:
        fields = mf.from_fields_v1(e.get("fieldsV1"))
        if _same(e, manager, "Apply", api_version, ""):
            prev = fields
        else:
            others.append((e, fields))
    owned_by_others = set().union(*(f for _, f in others)) if others else set()

    _remove_dropped(merged, prev - applied, applied | owned_by_others)

    changed = mf.diff(live or {}, merged, kind, status=False)
    conflicts = [
        (e, p) for e, fields in others for p in sorted(fields)
        if any(p[:i] in changed for i in range(1, len(p) + 1))
    ]
    if conflicts and not force:
        raise conflict_error(conflicts)

    out: list[Entry] = []
    for e, fields in others:
        kept = _without(fields, changed)
        if kept == fields:
            out.append(e)
        elif kept:
            out.append({**e, "fieldsV1": mf.to_fields_v1(kept)})
    old_mine = next((e for e in entries if _same(e, manager, "Apply", api_version, "")), None)
    if old_mine is not None and prev == applied and old_mine.get("time"):
        now = old_mine["time"]  # ownership unchanged: Kubernetes keeps the entry's time
    mine = _entry(manager, "Apply", api_version, "", now, applied)
    out = _replace_entry(out, mine, lambda e: _same(e, manager, "Apply", api_version, ""))
    return merged, out


def _remove_dropped(merged: dict[str, Any], dropped: mf.FieldSet, kept: mf.FieldSet) -> None:
    """Remove what this manager applied before and no longer does, unless the path or one of its
    descendants is still applied or owned by someone else.

    Shortest paths first, so a dropped list item goes whole: removing its leaves first would
    change its key (a Service port 80 → 8080 left an empty item behind). The key fields of an item
    that stays (another manager owns part of it) stay too: they are what names it.
    """
    removed: list[mf.Path] = []
    for path in sorted(dropped, key=len):
        n = len(path)
        if any(path[:len(r)] == r for r in removed) or any(q[:n] == path for q in kept):
            continue
        if _is_key_field(path):
            continue
        mf.remove_path(merged, path)
        removed.append(path)


def _is_key_field(path: mf.Path) -> bool:
    """`…, k:{"port":80,"protocol":"TCP"}, f:port`: a field that is part of its item's key."""
    if len(path) < 2 or not path[-2].startswith("k:") or not path[-1].startswith("f:"):
        return False
    return path[-1][2:] in json.loads(path[-2][2:])


def _strip_config(config: dict[str, Any]) -> dict[str, Any]:
    meta = config.get("metadata")
    if isinstance(meta, dict):
        keep = {k: v for k, v in meta.items() if k not in mf.META_IGNORED or k in ("name", "namespace")}
        config = {**config, "metadata": keep}
    return {k: v for k, v in config.items() if k != "status"}


def _merge_map(live: dict[str, Any], config: dict[str, Any], schema: dict[str, FieldMeta]) -> dict[str, Any]:
    out = dict(live)
    for key, value in config.items():
        if value is None:
            out.pop(key, None)
            continue
        meta = schema.get(key)
        out[key] = _merge_value(out.get(key), value, meta, key)
    return out


def _merge_value(live: Any, value: Any, meta: FieldMeta | None, name: str) -> Any:
    if isinstance(value, dict) and isinstance(live, dict) and name not in mf.ATOMIC_FIELDS:
        return _merge_map(live, value, meta.children if meta else {})
    if isinstance(value, list) and isinstance(live, list):
        keys = mf.key_fields(meta)
        if keys and all(isinstance(x, dict) for x in (*live, *value)):
            result = list(live)
            index = {mf.item_key(x, keys): i for i, x in enumerate(result)}
            for item in value:
                ik = mf.item_key(item, keys)
                if ik in index:
                    result[index[ik]] = _merge_map(result[index[ik]], item, meta.children)
                else:
                    index[ik] = len(result)
                    result.append(copy.deepcopy(item))
            return result
        if mf.is_set_list(meta):
            seen = {mf.value_key(x) for x in live}
            return [*live, *(x for x in value if mf.value_key(x) not in seen)]
    return copy.deepcopy(value)


# ----------------------------------------------------------------- conflict
def _print_manager(e: Entry) -> str:
    text = f'"{e.get("manager") or ""}"'
    if e.get("subresource"):
        text += f' with subresource "{e["subresource"]}"'
    if e.get("operation") == "Update":
        text += f" using {e.get('apiVersion')}"
    return text


def conflict_error(conflicts: list[tuple[Entry, mf.Path]]) -> APIError:
    """409 as k8s.io/apimachinery's NewConflictError words it."""
    causes = [
        StatusCause(reason="FieldManagerConflict", message=f"conflict with {_print_manager(e)}",
                    field=mf.path_string(p))
        for e, p in conflicts
    ]
    if len(conflicts) == 1:
        e, p = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {_print_manager(e)}: {mf.path_string(p)}"
    else:
        by_manager: dict[str, list[str]] = {}
        for e, p in conflicts:
            by_manager.setdefault(_print_manager(e), []).append(mf.path_string(p))
        lines = []
        for who in sorted(by_manager):
            lines.append(f"conflicts with {who}:")
            lines.extend(f"- {p}" for p in by_manager[who])
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return APIError(409, "Conflict", message, StatusDetails(causes=causes))
