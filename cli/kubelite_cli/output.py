"""-o json|yaml|name rendering of objects and lists (pure)."""

from __future__ import annotations

import json
from typing import Any

import yaml

from kubelite.api.scheme import ResourceInfo

JSON = dict[str, Any]


def with_type(obj: JSON, info: ResourceInfo) -> JSON:
    """List items come without apiVersion/kind; kubectl fills them in, so do we."""
    if obj.get("kind") and obj.get("apiVersion"):
        return obj
    return {"apiVersion": info.api_version, "kind": info.kind, **obj}


def as_list(items: list[JSON]) -> JSON:
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}


def to_json(doc: JSON) -> str:
    return json.dumps(doc, indent=4, ensure_ascii=False)


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    """Block style for multi-line text; "double quotes" (as kubectl) when plain would not
    read back as a string ("6", "true", timestamps)."""
    style: str | None = None
    if "\n" in value:
        style = "|"
    elif dumper.resolve(yaml.ScalarNode, value, (True, False)) != "tag:yaml.org,2002:str":
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_presenter)


def to_yaml(doc: JSON) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=True, default_flow_style=False,
                     allow_unicode=True).rstrip("\n")


def name_ref(obj: JSON, info: ResourceInfo) -> str:
    kind = info.kind.lower() + (f".{info.group}" if info.group else "")
    return f"{kind}/{(obj.get('metadata') or {}).get('name', '')}"
