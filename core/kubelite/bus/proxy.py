"""Proxy acknowledgements: "this proxy now forwards by Endpoints version R".

After applying an Endpoints change, every proxy publishes an `Applied` on
kubelite.proxy.<node>.applied; a node agent holds a terminating pod's SIGTERM
until every proxy has applied a version without it (zero-drop termination,
docs/architecture.md).
"""

from __future__ import annotations

import msgspec

from kubelite.bus.subjects import PREFIX, token

APPLIED_ALL = f"{PREFIX}.proxy.*.applied"


def applied(node: str) -> str:
    """kubelite.proxy.<node>.applied"""
    return f"{PREFIX}.proxy.{token(node)}.applied"


class Applied(msgspec.Struct):
    node: str  # the proxy's node
    namespace: str  # of the Endpoints
    name: str
    resourceVersion: str  # the Endpoints version now in force on that node


encoder = msgspec.json.Encoder()
decoder = msgspec.json.Decoder(Applied)
