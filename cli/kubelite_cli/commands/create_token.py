"""`kubelite create token SERVICEACCOUNT [--duration 1h] [--audience A]` (kubectl's)."""

from __future__ import annotations

import argparse

from kubelite.durations import parse_duration
from kubelite_cli.errors import CLIError
from kubelite_cli.session import Session
from kubelite_cli.tokens import create_token


def run(args: argparse.Namespace) -> int:
    seconds = None
    if args.duration:
        try:
            seconds = int(parse_duration(args.duration))
        except ValueError as exc:
            raise CLIError(f"invalid --duration {args.duration!r}: {exc}") from exc
        if seconds < 600:
            raise CLIError("--duration must be at least 10m (the apiserver's minimum token lifetime)")
    session = Session.from_args(args)
    try:
        print(create_token(session, session.namespace, args.name, seconds=seconds, audiences=args.audience or None))
    finally:
        session.close()
    return 0
