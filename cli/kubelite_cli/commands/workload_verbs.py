"""Argument definitions of the verbs that change or inspect running objects: scale, rollout,
set image|env, label, annotate, patch, exec, top.

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
    sp = ssub.add_parser("env", parents=[common], help="update environment variables of containers",
                         description="kubelite set env deploy/NAME KEY=VALUE [...] KEY- [...] (or --list)")
    sp.set_defaults(handler=lazy("set_env"))
    sp.add_argument("args", nargs="+", metavar="TYPE/NAME KEY=VALUE|KEY-",
                    help="the object, then variables to set (KEY=VALUE) or remove (KEY-)")
    sp.add_argument("-c", "--containers", default="*", help="the containers to change (a glob; default all)")
    sp.add_argument("--list", action="store_true", help="print the variables instead of changing them")

    for verb, what in (("label", "labels"), ("annotate", "annotations")):
        p = sub.add_parser(verb, parents=[common], help=f"update the {what} of objects",
                           description=f"kubelite {verb} TYPE/NAME KEY=VALUE [...] KEY- [...] (kubectl {verb})")
        p.set_defaults(handler=lazy("metadata"))
        p.add_argument("args", nargs="+", metavar="TYPE/NAME KEY=VALUE|KEY-")
        p.add_argument("--overwrite", action="store_true", help="allow changing a key that already has a value")
        p.add_argument("-l", "--selector", help="every object of the type matching this label selector")
        p.add_argument("--all", action="store_true", help="every object of the type in the namespace")
        p.add_argument("--resource-version", default="", help="only if the object is still at this version")

    p = sub.add_parser("patch", parents=[common], help="update fields of an object with a patch",
                       description="kubelite patch TYPE/NAME -p PATCH (kubectl patch)")
    p.set_defaults(handler=lazy("patch"))
    p.add_argument("targets", nargs="+", metavar="TYPE/NAME")
    p.add_argument("-p", "--patch", default=None, help="the patch, JSON or YAML")
    p.add_argument("--patch-file", default=None, help="a file holding the patch")
    p.add_argument("--type", choices=["strategic", "merge", "json"], default="strategic",
                   help="patch type (default strategic)")
    p.add_argument("--subresource", choices=["status", "scale"], default=None)
    p.add_argument("--dry-run", choices=["none", "server"], default="none")
    p.add_argument("-o", "--output", choices=["json", "yaml"], default=None)

    p = sub.add_parser("exec", parents=[common], help="run a command in a container",
                       description="kubelite exec [-i] [-t] POD [-c CONTAINER] -- COMMAND [ARG...]")
    p.set_defaults(handler=lazy("exec"))
    p.add_argument("pod", help="pod name (or pod/NAME)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command and its arguments")
    p.add_argument("-c", "--container", default=None, help="container name (default: the pod's first)")
    p.add_argument("-i", "--stdin", action="store_true", help="pass stdin to the container")
    p.add_argument("-t", "--tty", action="store_true", help="stdin is a terminal")

    p = sub.add_parser("create", parents=[common], help="create a token (kubectl create token)",
                       description="kubelite create token SERVICEACCOUNT: a bearer token for it (e.g. the dashboard's)")
    csub = p.add_subparsers(dest="create_verb", metavar="SUBCOMMAND", required=True, parser_class=type(p))
    cp = csub.add_parser("token", parents=[common], help="a signed token of a ServiceAccount",
                         description="kubelite create token SERVICEACCOUNT [--duration 1h] [--audience A]")
    cp.set_defaults(handler=lazy("create_token"))
    cp.add_argument("name", metavar="SERVICEACCOUNT")
    cp.add_argument("--duration", default="", help="requested lifetime, e.g. 1h (default: the server's, 1h)")
    cp.add_argument("--audience", action="append", default=[], help="audience of the token (repeatable)")

    p = sub.add_parser("top", parents=[common], help="CPU and memory use of pods or nodes",
                       description="kubelite top pods|nodes [NAME] (from the metrics.k8s.io API)")
    p.set_defaults(handler=lazy("top"))
    p.add_argument("kind", metavar="pods|nodes")
    p.add_argument("name", nargs="?", default=None)
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("-l", "--selector", default=None)
    p.add_argument("--containers", action="store_true", help="one line per container (pods)")


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}")
