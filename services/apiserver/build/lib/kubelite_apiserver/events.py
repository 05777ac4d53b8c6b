"""Publishing committed changes on NATS (the only place the apiserver publishes).

Every committed write produces one WatchEvent on
  kubelite.changes.<plural>.<namespace|->.<name>
and a pod with spec.nodeName also on its node's subject
  kubelite.node.<node>.pods
so each node agent hears only its own work. Published after the etcd commit;
a crash in between loses the event but not the state, which readers recover
on their periodic resync (DESIGN rule 4).
"""

from __future__ import annotations

import logging
from typing import Any

from kubelite.api.scheme import ResourceInfo
from kubelite.bus import subjects

log = logging.getLogger("kubelite.apiserver.events")


def watch_event_bytes(event_type: str, encoded_obj: bytes) -> bytes:
    """WatchEvent JSON built by concatenation: the object is already encoded."""
    return b'{"type":"' + event_type.encode() + b'","object":' + encoded_obj + b"}"


class Publisher:
    def __init__(self, nc: Any) -> None:
        self.nc = nc

    async def publish(self, info: ResourceInfo, event_type: str, obj: Any, encoded: bytes) -> None:
        payload = watch_event_bytes(event_type, encoded)
        meta = obj.metadata
        try:
            await self.nc.publish(subjects.changes(info.plural, meta.namespace, meta.name), payload)
            if info.kind == "Pod":
                node = getattr(obj.spec, "nodeName", None)
                if node:
                    await self.nc.publish(subjects.node_pods(node), payload)
        except Exception as exc:  # the write is committed; readers resync
            log.warning("publish failed for %s %s/%s: %s", info.plural, meta.namespace, meta.name, exc)


class NullPublisher:
    async def publish(self, info: ResourceInfo, event_type: str, obj: Any, encoded: bytes) -> None:
        return None
