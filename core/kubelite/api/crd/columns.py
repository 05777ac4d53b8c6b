"""additionalPrinterColumns of a CustomResourceDefinition: the Table columns `kubectl get` shows
for custom objects (pure).

A column's `jsonPath` is Kubernetes' simple JSONPath: `.spec.replicas`, `.metadata.labels.app`,
`.spec.items[0].name`, `.status.conditions[?(@.type=="Ready")].status`; the first value found is
the cell, nothing found is an empty cell. Without columns a custom object shows NAME and AGE.

Worked example: columns [{name: Replicas, type: integer, jsonPath: .spec.replicas}] and an object
with spec.replicas 3 give the header [Name, Replicas] and the cells ["w", 3].
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from kubelite.printers import age

_STEP = re.compile(r"""\.([A-Za-z0-9_\-]+)|\[(\d+|\*)\]|\[\?\(@\.([A-Za-z0-9_.\-]+)\s*==\s*["']([^"']*)["']\)\]""")
AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def _steps(path: str) -> list[tuple[str, Any]]:
    out, pos = [], 0
    path = path.strip().removeprefix("{").removesuffix("}")
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None:
            return []  # not a path this evaluator reads: an empty cell, as for a missing value
        if m.group(1) is not None:
            out.append(("key", m.group(1)))
        elif m.group(2) is not None:
            out.append(("index", m.group(2)))
        else:
            out.append(("filter", (m.group(3), m.group(4))))
        pos = m.end()
    return out


def _get(value: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def values_at(obj: Any, path: str) -> list[Any]:
    current = [obj]
    for kind, arg in _steps(path):
        nxt: list[Any] = []
        for v in current:
            if kind == "key" and isinstance(v, dict) and arg in v:
                nxt.append(v[arg])
            elif kind == "index" and isinstance(v, list):
                nxt += v if arg == "*" else ([v[int(arg)]] if int(arg) < len(v) else [])
            elif kind == "filter" and isinstance(v, list):
                nxt += [item for item in v if str(_get(item, arg[0])) == arg[1]]
        current = nxt
    return current


def columns(printer_columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Table's column definitions: Name, then the CRD's (or Age when it names none)."""
    chosen = printer_columns or [AGE]
    return [{"name": "Name", "type": "string", "format": "name", "description": "name", "priority": 0},
            *({"name": c["name"], "type": c.get("type") or "string", "format": c.get("format") or "",
               "description": c.get("description") or c["name"], "priority": c.get("priority") or 0}
              for c in chosen)]


def cells(obj: dict[str, Any], printer_columns: list[dict[str, Any]], now: datetime) -> list[Any]:
    out: list[Any] = [(obj.get("metadata") or {}).get("name", "")]
    for c in printer_columns or [AGE]:
        found = values_at(obj, c.get("jsonPath") or "")
        value = found[0] if found else None
        if c is AGE and isinstance(value, str):
            value = age(value, now)  # the default column, shown as kubectl shows ages
        out.append(value)
    return out
