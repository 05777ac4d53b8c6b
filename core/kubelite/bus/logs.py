"""Container logs over NATS: the request a node agent serves, its frames and its subject.

Protocol (subject `kubelite.node.<node>.rpc.logs`, request-reply):
1. The client (the apiserver) subscribes to a fresh session subject of that node
   (`subjects.node_session`: only the node and the apiserver may use it) and sends a
   `LogRequest` whose `replyTo` names it.  The agent answers the request itself with an
   empty body when it will stream, or with a Kubernetes `Status` (JSON, first
   byte `{`) when it will not (pod/container not found, waiting to start, ...).
2. The agent then publishes frames to the inbox, in order: `D<bytes>` for log
   data, `S<Status JSON>` for an error mid-stream, and `E` at the end.
3. With `follow`, the agent checks every few seconds that `<inbox>.alive`
   still has a responder and stops when not; the client publishes
   `<inbox>.cancel` when it stops reading early.
"""

from __future__ import annotations

import msgspec

from kubelite.bus.subjects import node_rpc


def subject(node: str) -> str:
    """kubelite.node.<node>.rpc.logs"""
    return node_rpc(node, "logs")


FRAME_DATA = b"D"
FRAME_EOF = b"E"
FRAME_ERROR = b"S"


class LogRequest(msgspec.Struct, kw_only=True, omit_defaults=True):
    """PodLogOptions as the apiserver receives them, plus where to stream to."""

    namespace: str
    pod: str
    container: str = ""
    follow: bool = False
    tailLines: int | None = None
    previous: bool = False
    timestamps: bool = False
    sinceSeconds: int | None = None
    limitBytes: int | None = None
    replyTo: str = ""


encoder = msgspec.json.Encoder()
decoder = msgspec.json.Decoder(LogRequest)
