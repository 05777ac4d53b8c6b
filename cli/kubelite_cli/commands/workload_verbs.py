"""Argument definitions of the workload verbs: scale, rollout, set image.

Kept apart from their implementations so building the parser stays cheap;
parser.py calls `add_workload_verbs(sub, common, lazy)` once.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_workload_verbs(sub: Any, common: argparse.ArgumentParser,
                       lazy: Callable[..., Callable[[argparse.Namespace], int]]) -> None:
    p = sub.add_parser("scale", parents=[common], help="set the replicas of a deployment or replica set",
                       description="Set a new size for a deployment or replica set (kubectl scale).")
    p.set_defaults(handler=lazy("scale"))
    p.add_argument("targets", nargs="+", metavar="TYPE/NAME", help="e.g. deploy/web, or deployment web")
    p.add_argument("--replicas", type=int, required=True, help="the new number of replicas")
    p.add_argument("--current-replicas", type=int, default=None,
                   help="precondition: only scale if the current size is this")

    p = sub.add_parser("rollout", parents=[common], help="manage the rollout of a deployment",
                       description="Manage the rollout of a deployment (kubectl rollout).")
    rsub = p.add_subparsers(dest="rollout_verb", metavar="SUBCOMMAND", required=True,
                            parser_class=type(p))

    def rverb(name: str, help_text: str) -> argparse.ArgumentParser:
        rp = rsub.add_parser(name, parents=[common], help=help_text, description=help_text)
        rp.set_defaults(handler=lazy("rollout"))
        rp.add_argument("targets", nargs="+", metavar="TYPE/NAME", help="e.g. deploy/web")
        return rp

    rp = rverb("status", "wait for the rollout to finish; exit 1 if its progress deadline is exceeded")
    rp.add_argument("-w", "--watch", type=_bool, nargs="?", const=True, default=True,
                    help="keep watching until the rollout finishes (default true)")
    rp.add_argument("--revision", type=int, default=0, help="require this revision to be the running one")
    rp.add_argument("--timeout", type=float, default=0, help="seconds to wait (0: forever)")
    rp = rverb("history", "list the revisions of a deployment")
    rp.add_argument("--revision", type=int, default=0, help="show the pod template of this revision")
    rp = rverb("undo", "roll back to the previous (or a given) revision")
    rp.add_argument("--to-revision", type=int, default=0, help="revision to roll back to (0: previous)")
    rverb("pause", "stop rolling out template changes")
    rverb("resume", "resume a paused deployment")
    rverb("restart", "restart every pod by rolling out a new template annotation")

    p = sub.add_parser("set", parents=[common], help="change fields of existing objects",
                       description="Change fields of existing objects (kubectl set).")
    ssub = p.add_subparsers(dest="set_verb", metavar="SUBCOMMAND", required=True, parser_class=type(p))
    sp = ssub.add_parser("image", parents=[common], help="update container images",
                         description="kubelite set image deploy/NAME CONTAINER=IMAGE [...]")
    sp.set_defaults(handler=lazy("set_image"))
    sp.add_argument("args", nargs="+", metavar="TYPE/NAME CONTAINER=IMAGE",
                    help="the object, then one or more CONTAINER=IMAGE ('*' for every container)")


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}")
