"""Every NATS subject kubelite uses, in one place (documented in docs/architecture.md).

Object names may contain dots (DNS subdomains), which NATS treats as token
separators, so names are escaped with `token()`: '.' becomes '~' (a character
no Kubernetes name may contain).
"""

from __future__ import annotations

PREFIX = "kubelite"

# Queue group shared by all apiserver replicas: each RPC goes to exactly one.
APISERVER_QUEUE = "kubelite-apiserver"


def token(name: str | None) -> str:
    """One subject token for a name or namespace ('-' for none)."""
    if not name:
        return "-"
    return name.replace(".", "~")


def untoken(tok: str) -> str:
    return "" if tok == "-" else tok.replace("~", ".")


# --- change events: published by the apiserver after every committed write ---
# kubelite.changes.<plural>.<namespace|->.<name>   payload: WatchEvent JSON
def changes(plural: str, namespace: str | None, name: str) -> str:
    return f"{PREFIX}.changes.{plural}.{token(namespace)}.{token(name)}"


def changes_of(plural: str = "*") -> str:
    """Wildcard for every change of one resource (or of all: plural='*')."""
    return f"{PREFIX}.changes.{plural}.>" if plural != "*" else f"{PREFIX}.changes.>"


# --- node-scoped: pods bound to a node, so a node agent hears only its own work ---
# kubelite.node.<node>.pods   payload: WatchEvent JSON of a Pod
def node_pods(node: str) -> str:
    return f"{PREFIX}.node.{token(node)}.pods"


# kubelite.node.<node>.rpc.<op>   request-reply served by that node's agent (logs, exec)
def node_rpc(node: str, op: str) -> str:
    return f"{PREFIX}.node.{token(node)}.rpc.{op}"


# --- API over NATS: request-reply, served by every apiserver in APISERVER_QUEUE ---
# kubelite.api.<verb>.<plural>   payload: APIRequest JSON, reply: APIResponse JSON
def api(verb: str, plural: str) -> str:
    return f"{PREFIX}.api.{verb}.{plural}"


API_ALL = f"{PREFIX}.api.>"

# Watch over NATS: a component asks the apiserver to stream a watch to an inbox.
# (The apiserver replies on the inbox with WatchEvent messages.)

# --- decisions and controller activity, for humans and tools (`kubelite events -f`) ---
# kubelite.decisions.scheduler.<namespace>.<pod>
def scheduler_decision(namespace: str, pod: str) -> str:
    return f"{PREFIX}.decisions.scheduler.{token(namespace)}.{token(pod)}"


# kubelite.decisions.<controller>.<namespace>.<name>
def controller_decision(controller: str, namespace: str | None, name: str) -> str:
    return f"{PREFIX}.decisions.{controller}.{token(namespace)}.{token(name)}"


DECISIONS_ALL = f"{PREFIX}.decisions.>"
EVERYTHING = f"{PREFIX}.>"
