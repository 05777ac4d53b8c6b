"""`kubelite logs POD [-c CONTAINER] [-f] [--tail N] [--previous] [--timestamps]`."""

from __future__ import annotations

import argparse
import sys

from kubelite.client.http import stream_pod_logs
from kubelite_cli.session import Session


def run(args: argparse.Namespace) -> int:
    session = Session.from_args(args)
    pod = args.pod.removeprefix("pod/").removeprefix("pods/")
    try:
        out = sys.stdout.buffer
        for chunk in stream_pod_logs(
            session.api, session.namespace, pod, container=args.container or "",
            follow=args.follow, tail_lines=args.tail, previous=args.previous,
            timestamps=args.timestamps,
        ):
            out.write(chunk)
            out.flush()
    except KeyboardInterrupt:
        return 130
    finally:
        session.close()
    return 0
