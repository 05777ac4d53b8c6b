"""`kubelite get RESOURCE [NAME...]`: tables per kind, -o wide|yaml|json|name, -w."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from kubelite.api import scheme
from kubelite.api.scheme import ResourceInfo
from kubelite.printers import render_table, table_for
from kubelite_cli.errors import CLIError
from kubelite_cli.output import as_list, name_ref, to_json, to_yaml, with_type
from kubelite_cli.session import Session

JSON = dict[str, Any]

# `get all` when the scheme marks no resource with the "all" category (kubectl's list).
_ALL_FALLBACK = ("pods", "services", "daemonsets", "deployments", "replicasets",
                 "statefulsets", "jobs", "cronjobs")


def resources_for(arg: str, session: Session) -> list[ResourceInfo]:
    """'pods', 'po,svc' or 'all' -> the resources to show, in order."""
    out: list[ResourceInfo] = []
    for part in arg.split(","):
        if part.lower() == "all":
            tagged = [i for i in scheme.all_resources() if "all" in i.categories]
            found = tagged or [i for i in map(scheme.resolve, _ALL_FALLBACK) if i is not None]
            out.extend(i for i in found if i not in out)
        else:
            info = session.resource(part)
            if info not in out:
                out.append(info)
    return out


def fetch(session: Session, info: ResourceInfo, args: argparse.Namespace) -> tuple[list[JSON], str]:
    """The objects to show and the list's resourceVersion (for -w)."""
    ns = None if args.all_namespaces or not info.namespaced else session.namespace
    if args.names:
        objs = [session.api.get(info, ns, name) for name in args.names]
        # one object: watch from its version; several: no single version to start at
        rv = (objs[0].get("metadata") or {}).get("resourceVersion", "") if len(objs) == 1 else ""
        return objs, str(rv)
    result = session.api.list(info, ns, label_selector=args.selector,
                              field_selector=args.field_selector)
    items = result.get("items") or []
    return items, str((result.get("metadata") or {}).get("resourceVersion") or "")


def print_objects(args: argparse.Namespace, info: ResourceInfo, items: list[JSON],
                  single: bool, prefix: bool, with_header: bool = True) -> None:
    fmt = args.output
    if fmt in ("json", "yaml"):
        typed = [with_type(o, info) for o in items]
        doc = typed[0] if single and len(typed) == 1 else as_list(typed)
        print(to_json(doc) if fmt == "json" else to_yaml(doc), flush=True)
    elif fmt == "name":
        for obj in items:
            print(name_ref(obj, info), flush=True)
    else:
        name_prefix = name_ref({}, info) if prefix else ""
        header, rows = table_for(
            info.plural, items, datetime.now(UTC), wide=fmt == "wide",
            all_namespaces=args.all_namespaces and info.namespaced,
            show_labels=args.show_labels, name_prefix=name_prefix,
        )
        print(render_table(header, rows, with_header=with_header), flush=True)


def _no_resources(session: Session, args: argparse.Namespace, infos: list[ResourceInfo]) -> str:
    if args.all_namespaces or not any(i.namespaced for i in infos):
        return "No resources found"
    return f"No resources found in {session.namespace} namespace."


def watch(session: Session, info: ResourceInfo, args: argparse.Namespace, rv: str,
          header_shown: bool) -> None:
    """Print each change after the list's resourceVersion; --request-timeout bounds it."""
    ns = None if args.all_namespaces or not info.namespaced else session.namespace
    limit = args.request_timeout
    deadline = time.monotonic() + limit if limit else None
    events = session.api.watch(
        info, ns, args.names[0] if len(args.names) == 1 else None, idle_timeout=limit,
        label_selector=args.selector, field_selector=args.field_selector,
        resource_version=rv or None, timeout_seconds=int(limit) if limit else None,
    )
    try:
        for etype, obj in events:
            if etype != "BOOKMARK":
                print_objects(args, info, [obj], single=True, prefix=False,
                              with_header=not header_shown)
                header_shown = True
            if deadline is not None and time.monotonic() > deadline:
                break
    except httpx.ReadTimeout:
        if deadline is None:
            raise


def run(args: argparse.Namespace) -> int:
    if args.names and args.all_namespaces:
        raise CLIError("a resource cannot be retrieved by name across all namespaces")
    session = Session.from_args(args)
    infos = resources_for(args.resource, session)
    if args.watch and len(infos) > 1:
        session.close()
        raise CLIError("you may only specify a single resource type with --watch")
    try:
        fetched = [(info, *fetch(session, info, args)) for info in infos]
        if args.output in ("json", "yaml"):
            # one document for everything, as kubectl prints `get all -o yaml`
            typed = [with_type(o, info) for info, items, _ in fetched for o in items]
            doc = typed[0] if args.names and len(typed) == 1 else as_list(typed)
            print(to_json(doc) if args.output == "json" else to_yaml(doc), flush=True)
        shown = 0
        for info, items, _ in fetched:
            if not items or args.output in ("json", "yaml"):
                continue
            if shown and args.output != "name":
                print()
            print_objects(args, info, items, single=bool(args.names), prefix=len(infos) > 1)
            shown += 1
        if not any(items for _, items, _ in fetched) and args.output in (None, "wide"):
            print(_no_resources(session, args, infos), file=sys.stderr)
        if args.watch:
            info, items, rv = fetched[0]
            watch(session, info, args, rv, header_shown=bool(items))
    finally:
        session.close()
    return 0
