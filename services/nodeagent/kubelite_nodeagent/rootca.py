"""Each namespace's `kube-root-ca.crt` ConfigMap, read once, then followed on the bus.

Every pod's ServiceAccount token volume projects `ca.crt` from the kube-root-ca.crt of its
namespace (the controller-manager's root CA publisher keeps one in every namespace). The kubelet
watches each ConfigMap its pods refer to and reads them from that cache; the node agent asked
the apiserver for this one at every pod start: in a burst of 50 pods, 50 requests on the path of
every start. Now it reads it at the first pod of a namespace and follows its change events, which
node agents may subscribe to for this one name in every namespace (kubelite.bus.permissions: the
content is the cluster's CA certificate, which every node holds already). Events may be missed
while the connection is down: after a reconnect everything is read again.

One cache per node agent process, shared by its nodes (like the Service cache).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec

from kubelite.api.core_v1 import ConfigMap
from kubelite.api.serviceaccounts import ROOT_CA_CONFIGMAP
from kubelite.bus import changes
from kubelite.client.nats import NatsAPIClient
from kubelite.errors import APIError

log = logging.getLogger(__name__)

_DECODER = msgspec.json.Decoder(ConfigMap)

# per namespace: (resourceVersion, the ConfigMap or None when there is none); newer wins
_Entry = tuple[int, ConfigMap | None]


class RootCACache:
    def __init__(self, nc: Any) -> None:
        self._nc = nc
        self._sub: Any = None
        self._entries: dict[str, _Entry] = {}
        self._reading: dict[str, asyncio.Future[ConfigMap | None]] = {}  # namespace -> read under way

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(changes.root_ca_configmaps(), cb=self._on_message)

    async def stop(self) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await sub.unsubscribe()

    async def on_reconnect(self) -> None:
        self._entries.clear()  # changes may have been missed meanwhile

    async def get(self, api: NatsAPIClient, namespace: str) -> ConfigMap | None:
        """The namespace's kube-root-ca.crt (None when it has none). The first time it is read
        from the apiserver as the caller (a node may read it for its pods), once for all the
        pods that ask meanwhile."""
        if self._sub is not None and (entry := self._entries.get(namespace)) is not None:
            return entry[1]
        reading = self._reading.get(namespace)
        if reading is None:
            reading = self._reading[namespace] = asyncio.ensure_future(self._read(api, namespace))
            reading.add_done_callback(lambda _done: self._reading.pop(namespace, None))
        return await asyncio.shield(reading)

    def cached(self, namespace: str) -> ConfigMap | None:
        """What is held for `namespace` (None: nothing, or it has none), without reading."""
        entry = self._entries.get(namespace)
        return entry[1] if entry is not None else None

    async def _read(self, api: NatsAPIClient, namespace: str) -> ConfigMap | None:
        try:
            read = await api.get("configmaps", namespace, ROOT_CA_CONFIGMAP)
        except APIError as exc:
            if exc.code != 404:
                raise
            read = None
        version = int(read.metadata.resourceVersion or 0) if read is not None else 0
        current = self._entries.get(namespace)
        if current is None or version > current[0]:  # else an event during the read was newer
            self._entries[namespace] = (version, read)
        return self._entries[namespace][1]

    async def _on_message(self, msg: Any) -> None:
        try:
            event = changes.decoder.decode(msg.data)
            obj = _DECODER.decode(event.object)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("undecodable %s event: %s", ROOT_CA_CONFIGMAP, exc)
            return
        namespace = obj.metadata.namespace or ""
        if namespace not in self._entries and namespace not in self._reading:
            return  # no pod here asked for it yet: read when one does
        version = int(obj.metadata.resourceVersion or 0)
        current = self._entries.get(namespace)
        if current is None or version > current[0]:
            self._entries[namespace] = (version, None if event.type == "DELETED" else obj)
