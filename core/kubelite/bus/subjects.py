"""What every subject shares: the `kubelite.` prefix and name escaping.

Each conversation on the bus lives in its own module next to its message types
(`api`, `changes`, `decisions`, `proxy`, `logs`, `streaming`); `catalog` lists
them all (the table in docs/architecture.md is generated from it).

Object names may contain dots (DNS subdomains), which NATS treats as token
separators, so names are escaped with `token()`: '.' becomes '~' (a character
no Kubernetes name may contain).
"""

from __future__ import annotations

import secrets

PREFIX = "kubelite"
EVERYTHING = f"{PREFIX}.>"


def token(name: str | None) -> str:
    """One subject token for a name or namespace ('-' for none)."""
    if not name:
        return "-"
    return name.replace(".", "~")


def untoken(tok: str) -> str:
    return "" if tok == "-" else tok.replace("~", ".")


def node_rpc(node: str, op: str) -> str:
    """kubelite.node.<node>.rpc.<op>: request-reply served by that node's agent (logs, exec, ...)."""
    return f"{PREFIX}.node.{token(node)}.rpc.{op}"


def node_session(node: str) -> str:
    """kubelite.node.<node>.session.<random>: the subjects of one log, exec or port-forward
    stream with that node's agent. Under the node's own subjects, so only that agent and
    the apiserver may use them (kubelite.bus.permissions)."""
    return f"{PREFIX}.node.{token(node)}.session.{secrets.token_hex(8)}"
