"""`kubelite set env TYPE/NAME KEY=VALUE... KEY-... [-c CONTAINER] [--list]` (kubectl's `set env`)."""

from __future__ import annotations

import argparse
import copy
import fnmatch
from typing import Any

from kubelite_cli.errors import CLIError
from kubelite_cli.keyvalues import split_changes
from kubelite_cli.podtemplate import all_containers, containers_patch, pod_spec
from kubelite_cli.session import Session, parse_targets, qualified_kind, resolve_resource

JSON = dict[str, Any]


def split_args(args: list[str]) -> tuple[list[str], dict[str, str], list[str]]:
    """(targets, KEY=VALUE to set, KEYs to remove): kubectl takes the resource arguments first."""
    targets, sets, removes = split_changes(args)
    if "" in sets:
        raise CLIError("invalid environment variable '=...': expected KEY=VALUE")
    return targets, sets, removes


def with_env(obj: JSON, container: str, sets: dict[str, str], removes: list[str]) -> JSON:
    """A copy of `obj` whose matching containers (`container` is a glob, '*' all) have the
    variables set (in place when present, else appended) and the removed ones dropped."""
    out = copy.deepcopy(obj)
    matched = [c for c in all_containers(pod_spec(out)) if fnmatch.fnmatchcase(c.get("name", ""), container)]
    if not matched:
        raise CLIError(f'unable to find container named "{container}"')
    for c in matched:
        env = [e for e in (c.get("env") or []) if e.get("name") not in removes]
        for key, value in sets.items():
            entry = next((e for e in env if e.get("name") == key), None)
            if entry is None:
                env.append({"name": key, "value": value})
            else:
                entry.clear()
                entry.update({"name": key, "value": value})
        if env:
            c["env"] = env
        else:
            c.pop("env", None)
    return out


def env_listing(obj: JSON, plural: str, name: str, container: str) -> str:
    """`--list`: each container's variables as KEY=VALUE lines (references as comments)."""
    lines = []
    for c in all_containers(pod_spec(obj)):
        if not fnmatch.fnmatchcase(c.get("name", ""), container):
            continue
        lines.append(f"# {plural}/{name}, container {c.get('name')}")
        for e in c.get("env") or []:
            if "value" in e or "valueFrom" not in e:
                lines.append(f"{e.get('name')}={e.get('value', '')}")
            else:
                source = next(iter(e["valueFrom"]), "valueFrom")
                lines.append(f"# {e.get('name')} from {source}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    raw_targets, sets, removes = split_args(args.args)
    if not args.list and not sets and not removes:
        raise CLIError("at least one environment variable must be provided")
    session = Session.from_args(args)
    try:
        for kind, name in parse_targets(raw_targets):
            info = resolve_resource(kind)
            obj = session.api.get(info, session.namespace, name)
            if args.list:
                print(env_listing(obj, info.plural, name, args.containers), flush=True)
                continue
            updated = with_env(obj, args.containers, sets, removes)
            if updated == obj:
                continue  # kubectl prints nothing when nothing changes
            session.api.patch(info, session.namespace, name, containers_patch(obj, updated), patch_type="merge")
            print(f"{qualified_kind(info)}/{name} env updated", flush=True)
        return 0
    finally:
        session.close()
