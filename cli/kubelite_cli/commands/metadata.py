"""`kubelite label|annotate TYPE/NAME KEY=VALUE... KEY-... [--overwrite]` (kubectl's verbs)."""

from __future__ import annotations

import argparse
from typing import Any

from kubelite.api.scheme import ResourceInfo
from kubelite_cli.errors import CLIError
from kubelite_cli.keyvalues import split_changes
from kubelite_cli.session import Session, parse_targets, qualified_kind

JSON = dict[str, Any]
FIELDS = {"label": "labels", "annotate": "annotations"}
DONE = {"label": "labeled", "annotate": "annotated"}


def split_args(args: list[str], what: str = "label") -> tuple[list[str], dict[str, str], list[str]]:
    """(targets, KEY=VALUE, KEYs to remove); at least one change is required."""
    targets, sets, removes = split_changes(args)
    if not sets and not removes:
        raise CLIError(f"at least one {what} update is required" if targets else "one or more resources must be specified")
    overlap = sorted(set(sets) & set(removes))
    if overlap:
        raise CLIError(f"can not both modify and remove the following {what}(s) in the same command: "
                       f"{', '.join(overlap)}")
    return targets, sets, removes


def metadata_patch(current: dict[str, str], sets: dict[str, str], removes: list[str], *,
                   overwrite: bool) -> dict[str, str | None]:
    """The merge patch of labels or annotations (None removes); refuses to change a value
    without `overwrite`, as kubectl does. Empty when nothing would change."""
    patch: dict[str, str | None] = {}
    for key, value in sets.items():
        if key in current and current[key] != value and not overwrite:
            raise CLIError(f"'{key}' already has a value ({current[key]}), and --overwrite is false")
        if current.get(key) != value:
            patch[key] = value
    for key in removes:
        if key in current:
            patch[key] = None
    return patch


def _apply(session: Session, info: ResourceInfo, name: str, args: argparse.Namespace,
           sets: dict[str, str], removes: list[str]) -> str:
    field = FIELDS[args.verb]
    ns = session.namespace if info.namespaced else None
    obj = session.api.get(info, ns, name)
    meta = obj.get("metadata") or {}
    patch = metadata_patch(meta.get(field) or {}, sets, removes, overwrite=args.overwrite)
    if not patch:
        return f"{qualified_kind(info)}/{name} not {DONE[args.verb]}"
    body = {"metadata": {field: patch, "resourceVersion": meta.get("resourceVersion")}}
    if args.resource_version:
        body["metadata"]["resourceVersion"] = args.resource_version
    session.api.patch(info, ns, name, body, patch_type="merge")
    return f"{qualified_kind(info)}/{name} {DONE[args.verb]}"


def run(args: argparse.Namespace) -> int:
    raw_targets, sets, removes = split_args(args.args, "label" if args.verb == "label" else "annotation")
    session = Session.from_args(args)
    try:
        if args.selector or args.all:
            if len(raw_targets) != 1:
                raise CLIError("with -l or --all give one resource type and no names")
            info = session.resource(raw_targets[0])
            ns = session.namespace if info.namespaced else None
            items = session.api.list(info, ns, label_selector=args.selector).get("items") or []
            found = [(info, (o.get("metadata") or {}).get("name", "")) for o in items]
        else:
            found = [(session.resource(kind), name) for kind, name in parse_targets(raw_targets)]
        for info, name in found:
            print(_apply(session, info, name, args, sets, removes), flush=True)
        return 0
    finally:
        session.close()
