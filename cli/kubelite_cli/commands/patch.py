"""`kubelite patch TYPE/NAME -p PATCH [--type strategic|merge|json] [--subresource status]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

from kubelite_cli.errors import CLIError
from kubelite_cli.session import Session, parse_targets, qualified_kind


def patch_body(text: str, patch_type: str) -> Any:
    """The patch as JSON or YAML (kubectl takes both); a JSON patch must be a list of operations."""
    try:
        body = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CLIError(f"unable to parse {text!r}: {str(exc).splitlines()[0]}") from exc
    if patch_type == "json" and not isinstance(body, list):
        raise CLIError("a JSON patch (--type json) must be a list of operations, e.g. "
                       '\'[{"op": "replace", "path": "/spec/replicas", "value": 3}]\'')
    if patch_type != "json" and not isinstance(body, dict):
        raise CLIError(f"a {patch_type} patch must be an object, e.g. '{{\"spec\": {{\"replicas\": 3}}}}'")
    return body


def run(args: argparse.Namespace) -> int:
    if (args.patch is None) == (args.patch_file is None):
        raise CLIError("must specify exactly one of --patch (-p) or --patch-file")
    text = args.patch if args.patch is not None else Path(args.patch_file).read_text()
    body = patch_body(text, args.type)
    session = Session.from_args(args)
    try:
        for kind, name in parse_targets(args.targets):
            info = session.resource(kind)
            ns = session.namespace if info.namespaced else None
            before = session.api.get(info, ns, name, subresource=args.subresource)
            after = session.api.patch(info, ns, name, body, patch_type=args.type, subresource=args.subresource,
                                      dry_run=args.dry_run == "server" or None)
            if args.output in ("json", "yaml"):
                print(json.dumps(after, indent=4) if args.output == "json" else yaml.safe_dump(after).rstrip())
                continue
            same = (before.get("metadata") or {}).get("resourceVersion") == (after.get("metadata") or {}).get(
                "resourceVersion")
            dry = " (server dry run)" if args.dry_run == "server" else ""
            print(f"{qualified_kind(info)}/{name} {'patched (no change)' if same else 'patched'}{dry}", flush=True)
        return 0
    finally:
        session.close()
