"""`kubelite apply -f`: create each object, or update it when it exists."""

from __future__ import annotations

import argparse
from typing import Any

from kubelite.api import scheme
from kubelite.api.scheme import ResourceInfo
from kubelite.errors import APIError
from kubelite_cli.errors import CLIError
from kubelite_cli.manifests import Manifest, load_manifests
from kubelite_cli.merge import merged_for_update, unchanged
from kubelite_cli.session import Session, qualified_kind

CONFLICT_RETRIES = 3


def info_for(manifest: Manifest) -> ResourceInfo:
    obj = manifest.obj
    info = scheme.by_kind(obj["apiVersion"], obj["kind"])
    if info is None:
        name = (obj.get("metadata") or {}).get("name", "")
        raise CLIError(
            f'resource mapping not found for name: "{name}" from "{manifest.source}": '
            f'no matches for kind "{obj["kind"]}" in version "{obj["apiVersion"]}"'
        )
    return info


def target_namespace(info: ResourceInfo, obj: dict[str, Any], session: Session) -> str | None:
    """The file's namespace, else -n / the context's; a clash with an explicit -n is an error."""
    if not info.namespaced:
        return None
    meta = obj.setdefault("metadata", {})
    in_file = meta.get("namespace")
    if in_file and session.namespace_explicit and in_file != session.namespace:
        raise CLIError(
            f'the namespace from the provided object "{in_file}" does not match the namespace '
            f'"{session.namespace}". You must pass \'--namespace={in_file}\' to perform this operation.'
        )
    meta["namespace"] = in_file or session.namespace
    return meta["namespace"]


def apply_one(session: Session, manifest: Manifest, dry_run: bool) -> str:
    """Create or update one object; returns 'created' | 'configured' | 'unchanged'."""
    info = info_for(manifest)
    obj = manifest.obj
    ns = target_namespace(info, obj, session)
    name = obj["metadata"].get("name")
    api = session.api
    for attempt in range(CONFLICT_RETRIES + 1):
        current = None
        if name:
            try:
                current = api.get(info, ns, name)
            except APIError as exc:
                if exc.code != 404:
                    raise
        try:
            if current is None:
                created = api.create(info, ns, obj, dry_run=dry_run or None)
                obj["metadata"]["name"] = (created.get("metadata") or {}).get("name", name)
                return "created"
            if unchanged(obj, current):
                return "unchanged"
            api.update(info, ns, name, merged_for_update(obj, current), dry_run=dry_run or None)
            return "configured"
        except APIError as exc:
            # Someone wrote in between (a controller updating status, a racing create):
            # read again and redo the decision, as kubectl does.
            if exc.code != 409 or attempt == CONFLICT_RETRIES:
                raise
    raise AssertionError("unreachable")


def run(args: argparse.Namespace) -> int:
    manifests = load_manifests(args.filename)
    session = Session.from_args(args)
    dry_run = args.dry_run == "server"
    suffix = " (server dry run)" if dry_run else ""
    try:
        for manifest in manifests:
            outcome = apply_one(session, manifest, dry_run)
            info = info_for(manifest)
            ref = f"{qualified_kind(info)}/{manifest.obj['metadata'].get('name')}"
            print(ref if args.output == "name" else f"{ref} {outcome}{suffix}", flush=True)
    finally:
        session.close()
    return 0
