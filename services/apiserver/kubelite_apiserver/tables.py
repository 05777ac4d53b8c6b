"""Server-side printing: Kubernetes `Table` answers for `Accept: ...;as=Table` (kubectl get).

Columns come from `kubelite.printers`, shared with the kubelite CLI, so both
print the same thing; wide columns get priority 1 as Kubernetes marks them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from kubelite import printers
from kubelite.api.crd import columns as crd_columns
from kubelite.api.crd import registration
from kubelite.api.scheme import ResourceInfo

TABLE_CONTENT_TYPE = b"application/json;as=Table;v=v1;g=meta.k8s.io"


def wants_table(accept: str) -> bool:
    """Kubernetes negotiates the first acceptable type; kubectl lists Table first."""
    first = accept.split(",")[0]
    return "as=Table" in first and "g=meta.k8s.io" in first


def _printer_columns(info: ResourceInfo) -> list[dict[str, Any]] | None:
    """A custom resource's additionalPrinterColumns ([] for none); None for a built-in kind."""
    custom = registration.of(info)
    return None if custom is None else custom.columns.get(info.version, [])


def _columns(info: ResourceInfo) -> list[dict[str, Any]]:
    printer = _printer_columns(info)
    if printer is not None:
        return crd_columns.columns(printer)
    if info.plural == "events":
        names, wide = list(printers.EVENT_COLUMNS), []
    else:
        spec = printers.TABLES.get(info.plural, printers.TableSpec(("AGE",), (), printers._default_row))
        names, wide = ["NAME", *spec.columns], list(spec.wide)
    cols = []
    for priority, group in ((0, names), (1, wide)):
        for name in group:
            cols.append({
                "name": name.title() if name not in ("IP", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)") else name,
                "type": "string",
                "format": "name" if name == "NAME" else "",
                "description": name.lower(),
                "priority": priority,
            })
    return cols


def _row(info: ResourceInfo, obj: dict[str, Any], now: datetime, include: str) -> dict[str, Any]:
    printer = _printer_columns(info)
    if printer is not None:
        rows = [crd_columns.cells(obj, printer, now)]
    else:
        _, rows = printers.table_for(info.plural, [obj], now, wide=True)
    if include == "Object":
        embedded = obj
    elif include == "None":
        embedded = None
    else:
        embedded = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj.get("metadata", {})}
    row: dict[str, Any] = {"cells": rows[0]}
    if embedded is not None:
        row["object"] = embedded
    return row


def to_table(info: ResourceInfo, body: bytes, include: str = "Metadata") -> bytes:
    """A list or single-object answer re-shaped as a meta.k8s.io/v1 Table."""
    doc = msgspec.json.decode(body)
    now = datetime.now(UTC)
    items = doc.get("items") if isinstance(doc.get("items"), list) else [doc]
    meta = doc.get("metadata", {}) if "items" in doc else {
        "resourceVersion": doc.get("metadata", {}).get("resourceVersion", "")}
    table = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {k: v for k, v in meta.items() if k in ("resourceVersion", "continue")},
        "columnDefinitions": _columns(info),
        "rows": [_row(info, item, now, include) for item in items],
    }
    return msgspec.json.encode(table)


def watch_event_as_table(info: ResourceInfo, line: bytes, include: str = "Metadata") -> bytes:
    """One watch event whose object becomes a one-row Table (ERROR and BOOKMARK events pass through)."""
    event = msgspec.json.decode(line)
    if event.get("type") in ("ERROR", "BOOKMARK"):
        return line
    obj = event["object"]
    table = msgspec.json.decode(to_table(info, msgspec.json.encode(obj), include))
    return msgspec.json.encode({"type": event["type"], "object": table})
