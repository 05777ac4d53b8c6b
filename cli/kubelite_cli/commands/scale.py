"""`kubelite scale --replicas N TYPE/NAME | TYPE NAME...` through the scale subresource."""

from __future__ import annotations

import argparse

from kubelite_cli.commands.rollout import qualified_plural
from kubelite_cli.errors import CLIError
from kubelite_cli.session import Session, parse_targets, qualified_kind


def run(args: argparse.Namespace) -> int:
    if args.replicas is None or args.replicas < 0:
        raise CLIError("The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
    session = Session.from_args(args)
    try:
        for kind, name in parse_targets(args.targets):
            info = session.resource(kind)
            if "scale" not in info.subresources:
                raise CLIError(f'cannot scale "{qualified_plural(info)}": no scale subresource')
            if args.current_replicas is not None and args.current_replicas >= 0:
                current = session.api.get(info, session.namespace, name, subresource="scale")
                have = (current.get("spec") or {}).get("replicas")
                if have != args.current_replicas:
                    raise CLIError(f"Expected replicas to be {args.current_replicas}, was {have}")
            session.api.patch(info, session.namespace, name, {"spec": {"replicas": args.replicas}},
                              subresource="scale")
            print(f"{qualified_kind(info)}/{name} scaled", flush=True)
        return 0
    finally:
        session.close()
