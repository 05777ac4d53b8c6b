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
from kubelite.api.serviceaccounts import ROOT_CA_CONFIGMAP
from kubelite.bus.subjects import PREFIX, token

__all__ = ["WatchEvent", "decoder", "event_bytes", "node_pods", "of", "root_ca_configmaps", "subject"]

decoder = msgspec.json.Decoder(WatchEvent)


def subject(plural: str, namespace: str | None, name: str) -> str:
    return f"{PREFIX}.changes.{plural}.{token(namespace)}.{token(name)}"


def of(plural: str = "*") -> str:
    """Wildcard for every change of one resource (or of all: plural='*')."""
    return f"{PREFIX}.changes.{plural}.>" if plural != "*" else f"{PREFIX}.changes.>"


def root_ca_configmaps() -> str:
    """kubelite.changes.configmaps.*.kube-root-ca~crt: that one ConfigMap in every namespace,
    which node agents follow (its content is the cluster's CA certificate)."""
    return subject("configmaps", "*", ROOT_CA_CONFIGMAP)


def node_pods(node: str) -> str:
    """kubelite.node.<node>.pods: the pods bound to one node."""
    return f"{PREFIX}.node.{token(node)}.pods"


def event_bytes(event_type: str, encoded_obj: bytes) -> bytes:
    """WatchEvent JSON built by concatenation: the object is already encoded."""
    return b'{"type":"' + event_type.encode() + b'","object":' + encoded_obj + b"}"
