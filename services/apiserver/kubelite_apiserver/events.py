"""Publishing committed changes on NATS (the only place the apiserver publishes);
the subjects and payload are kubelite.bus.changes."""

from __future__ import annotations

import logging
from typing import Any

from kubelite.api.scheme import ResourceInfo
from kubelite.bus import changes

log = logging.getLogger("kubelite.apiserver.events")


class Publisher:
    def __init__(self, nc: Any) -> None:
        self.nc = nc

    async def publish(self, info: ResourceInfo, event_type: str, obj: Any, encoded: bytes) -> None:
        payload = changes.event_bytes(event_type, encoded)
        meta = obj.metadata
        try:
            await self.nc.publish(changes.subject(info.plural, meta.namespace, meta.name), payload)
            if info.kind == "Pod":
                node = getattr(obj.spec, "nodeName", None)
                if node:
                    await self.nc.publish(changes.node_pods(node), payload)
        except Exception as exc:  # the write is committed; readers resync
            log.warning("publish failed for %s %s/%s: %s", info.plural, meta.namespace, meta.name, exc)


class NullPublisher:
    async def publish(self, info: ResourceInfo, event_type: str, obj: Any, encoded: bytes) -> None:
        return None
