"""Deleting a provisioned local volume's data on its node (request-reply).

Subject `kubelite.node.<node>.rpc.volumedelete`: the controller-manager's local-path
provisioner asks the agent of the node that holds a released PersistentVolume (reclaim
policy Delete) to remove its directory. The agent removes it only when it lies under its own
local-path root (it never deletes anything else), and answers with a `VolumeDeleteReply`;
the provisioner then lets the PersistentVolume go (drops its cleanup finalizer).
"""

from __future__ import annotations

import msgspec

from kubelite.bus.subjects import node_rpc


def subject(node: str) -> str:
    """kubelite.node.<node>.rpc.volumedelete"""
    return node_rpc(node, "volumedelete")


class VolumeDeleteRequest(msgspec.Struct, kw_only=True):
    volume: str  # the PersistentVolume's name (for the agent's log)
    path: str  # its spec.local.path


class VolumeDeleteReply(msgspec.Struct, kw_only=True, omit_defaults=True):
    ok: bool
    message: str = ""


encoder = msgspec.json.Encoder()
request_decoder = msgspec.json.Decoder(VolumeDeleteRequest)
reply_decoder = msgspec.json.Decoder(VolumeDeleteReply)
