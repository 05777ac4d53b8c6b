"""Change events: the apiserver publishes one WatchEvent after every committed write.

    kubelite.changes.<plural>.<namespace|->.<name>    every change of every object
    kubelite.node.<node>.pods                         a pod with spec.nodeName, again, for that node

so a node agent hears only its own work. The payload is a Kubernetes
`WatchEvent` ({"type": ADDED|MODIFIED|DELETED, "object": {...}}), the same
shape as an HTTP watch line. Published after the etcd commit; a crash in
between loses the event but not the state, which readers recover on their
periodic re-list (design rule 4).
"""

from __future__ import annotations

import msgspec

from kubelite.api.meta import WatchEvent
from kubelite.bus.subjects import PREFIX, token

__all__ = ["WatchEvent", "decoder", "event_bytes", "node_pods", "of", "subject"]

decoder = msgspec.json.Decoder(WatchEvent)


def subject(plural: str, namespace: str | None, name: str) -> str:
    return f"{PREFIX}.changes.{plural}.{token(namespace)}.{token(name)}"


def of(plural: str = "*") -> str:
    """Wildcard for every change of one resource (or of all: plural='*')."""
    return f"{PREFIX}.changes.{plural}.>" if plural != "*" else f"{PREFIX}.changes.>"


def node_pods(node: str) -> str:
    """kubelite.node.<node>.pods: the pods bound to one node."""
    return f"{PREFIX}.node.{token(node)}.pods"


def event_bytes(event_type: str, encoded_obj: bytes) -> bytes:
    """WatchEvent JSON built by concatenation: the object is already encoded."""
    return b'{"type":"' + event_type.encode() + b'","object":' + encoded_obj + b"}"
