"""A watch hub's life (watchhub.py) against a real etcd: opened by a watch, shared by the next,
closed once idle for IDLE_SECONDS (its etcd watch with it), opened again on demand."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from kubelite import codec
from kubelite.api.scheme import ResourceInfo, by_plural
from kubelite.storage import KV
from kubelite.storage.etcd import EtcdStore
from kubelite_apiserver import watchhub
from kubelite_apiserver.params import ListOptions
from kubelite_apiserver.watchhub import WatchHubs
from tests.fakeclock import FakeClock


class _Registry:
    """What a hub uses of the Registry: its store and its decode."""

    def __init__(self, store: EtcdStore) -> None:
        self.store = store

    def decode(self, info: ResourceInfo, kv: KV) -> Any:
        obj = codec.decoder_for(info.type).decode(kv.value)
        obj.metadata.resourceVersion = str(kv.mod_revision)
        return obj


async def test_a_hub_is_shared_then_closed_when_idle(store: EtcdStore) -> None:
    info = by_plural("", "configmaps")
    assert info is not None
    ns = f"hub-{uuid.uuid4().hex[:10]}"
    clock = FakeClock(0.0)
    hubs = WatchHubs(_Registry(store), clock=clock)
    try:
        first = await hubs.watch(info, ns, ListOptions(resource_version="0"), None)
        second = await hubs.watch(info, ns, ListOptions(resource_version="0"), None)
        assert first is not None and second is not None and len(hubs) == 1
        await store.create(info.key(ns, "a"), json.dumps({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": ns}}).encode())
        for events in (first, second):
            line = await asyncio.wait_for(anext(events), 5)
            assert json.loads(line)["object"]["metadata"]["name"] == "a"
            await events.aclose()
        await hubs.close_idle()  # no watcher from now on
        assert len(hubs) == 1, "an idle hub stays for a while (the next watch reuses it)"
        clock.now += watchhub.IDLE_SECONDS
        await hubs.close_idle()
        assert len(hubs) == 0, "a hub idle for IDLE_SECONDS is closed"
        again = await hubs.watch(info, ns, ListOptions(resource_version="0"), None)
        assert again is not None and len(hubs) == 1
        first_line = json.loads(await asyncio.wait_for(anext(again), 5))
        assert first_line["object"]["metadata"]["name"] == "a", "a new hub's watch starts with the current state"
        await again.aclose()
    finally:
        await hubs.stop()
