"""`kubelite delete (-f FILE | RESOURCE NAME... | RESOURCE --all|-l SEL)`."""

from __future__ import annotations

import argparse

from kubelite.api.scheme import ResourceInfo
from kubelite.errors import APIError
from kubelite_cli.commands.apply import info_for, target_namespace
from kubelite_cli.errors import CLIError
from kubelite_cli.manifests import load_manifests
from kubelite_cli.session import Session, parse_targets, qualified_kind

PROPAGATION = {"background": "Background", "foreground": "Foreground", "orphan": "Orphan"}


def targets(session: Session, args: argparse.Namespace) -> list[tuple[ResourceInfo, str | None, str]]:
    """(resource, namespace, name) of every object to delete."""
    if args.filename:
        if args.resource or args.names:
            raise CLIError("cannot specify both a resource and -f")
        out = []
        for manifest in load_manifests(args.filename):
            info = info_for(manifest)
            ns = target_namespace(info, manifest.obj, session)
            out.append((info, ns, manifest.obj["metadata"]["name"]))
        return out
    if not args.resource:
        raise CLIError("you must provide one or more resources by argument or filename")
    if "/" in args.resource:  # pod/NAME deploy/NAME ...: each argument names its own type
        if args.all or args.selector:
            raise CLIError("cannot combine TYPE/NAME arguments with --all or -l")
        out = []
        for kind, name in parse_targets([args.resource, *args.names]):
            info = session.resource(kind)
            out.append((info, session.namespace if info.namespaced else None, name))
        return out
    info = session.resource(args.resource)
    ns = session.namespace if info.namespaced else None
    if args.all or args.selector:
        if args.names:
            raise CLIError("cannot combine names with --all or -l")
        items = session.api.list(info, ns, label_selector=args.selector).get("items") or []
        return [(info, ns, (o.get("metadata") or {}).get("name", "")) for o in items]
    if not args.names:
        raise CLIError(f'resource(s) were provided, but no name was specified for "{args.resource}"')
    return [(info, ns, name) for name in args.names]


def run(args: argparse.Namespace) -> int:
    session = Session.from_args(args)
    try:
        found = targets(session, args)
        for info, ns, name in found:
            try:
                session.api.delete(
                    info, ns, name,
                    grace_period_seconds=args.grace_period if args.grace_period >= 0 else None,
                    propagation_policy=PROPAGATION[args.cascade],
                )
            except APIError as exc:
                if exc.code == 404 and args.ignore_not_found:
                    continue
                raise
            if args.output == "name":
                print(f"{qualified_kind(info)}/{name}", flush=True)
            else:
                print(f'{qualified_kind(info)} "{name}" deleted', flush=True)
        if not found and (args.all or args.selector):
            print("No resources found", flush=True)
    finally:
        session.close()
    return 0
