"""What etcd itself records about a key, read past EtcdStore (which does not expose it)."""

from __future__ import annotations

from typing import Any

from aetcd import rpc


async def lease_of(store: Any, key: str) -> int | None:
    """The etcd lease `key` is attached to (0: none), None when the key is gone."""
    resp = await store._kv.Range(rpc.RangeRequest(key=key.encode()), timeout=10)
    return int(resp.kvs[0].lease) if resp.kvs else None
