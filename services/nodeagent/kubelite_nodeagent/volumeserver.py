"""Local-path volumes on this node: where they live and deleting one when asked
(protocol: kubelite.bus.volumes).

The controller-manager's provisioner puts a volume's directory under the root this node
advertises (Node annotation kubelite.io/local-path-root); the directory is made when a pod
first mounts the claim. When a released volume with reclaim policy Delete is deleted, the
provisioner asks this agent to remove the directory. Only paths strictly under the root are
ever removed: a request for anything else is refused, whoever sent it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from typing import Any

from kubelite.bus import volumes as wire

log = logging.getLogger("kubelite.nodeagent.volumes")


def volume_root(node_root: str) -> str:
    """<node data dir>/volumes"""
    return os.path.join(node_root, "volumes")


def inside(root: str, path: str) -> bool:
    """`path` lies strictly under `root` once symlinks and `..` are resolved.
    Example: root /d/volumes: /d/volumes/pvc-1 yes; /d/volumes, /d/volumes/../etc, /etc no."""
    real_root, real = os.path.realpath(root), os.path.realpath(path)
    return real != real_root and real.startswith(real_root.rstrip("/") + "/")


def delete_volume(root: str, path: str) -> wire.VolumeDeleteReply:
    if not inside(root, path):
        return wire.VolumeDeleteReply(ok=False, message=f"{path} is not under this node's volume root {root}")
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        return wire.VolumeDeleteReply(ok=False, message=f"removing {path}: {exc}")
    return wire.VolumeDeleteReply(ok=True)


class VolumeServer:
    def __init__(self, *, nc: Any, node_name: str, root: str) -> None:
        self.nc = nc
        self.node_name = node_name
        self.root = root

    async def subscribe(self) -> Any:
        return await self.nc.subscribe(wire.subject(self.node_name), cb=self._on_request)

    async def _on_request(self, msg: Any) -> None:
        try:
            req = wire.request_decoder.decode(msg.data)
        except Exception as exc:
            reply = wire.VolumeDeleteReply(ok=False, message=f"unreadable request: {exc}")
        else:
            reply = await asyncio.to_thread(delete_volume, self.root, req.path)
            log.info("volume %s at %s: %s", req.volume, req.path, "deleted" if reply.ok else reply.message)
        if msg.reply:
            await self.nc.publish(msg.reply, wire.encoder.encode(reply))
