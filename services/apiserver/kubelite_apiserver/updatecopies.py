"""Copies of one resource's objects, kept by an etcd watch, that updates start from.

Kubernetes' GuaranteedUpdate starts a read-modify-write from the watch cache's copy and reads
etcd only when the compare-and-swap on that copy's revision fails; kubelite's Registry does the
same through `Registry.caches` (read_for_update). The pod cache (podcache.py) is one such cache;
this is the plain one for resources that are updated often but never listed in bulk, first of
all Leases: 5,000 nodes renew theirs every 10 s, which without a copy is 500 reads of etcd a
second (idle at 5,000 fake nodes: etcd 0.18 → 0.12 cores with the copies; the apiserver's
decoding and admission of each renewal remain, 0.26 cores). LISTs still read etcd (`list`
answers None).

Example: node n7 renews Lease kube-node-lease/n7 (resourceVersion 9120 in its body); the copy
says 9120, so the update is encoded from it and written with a compare-and-swap on 9120 — one
etcd request instead of two. Had another writer got there first, the swap fails and the update
is decided again on a fresh read from etcd.
"""

from __future__ import annotations

from typing import Any

import msgspec

from kubelite import codec
from kubelite.api.scheme import ResourceInfo
from kubelite.reconcile.informer import Informer
from kubelite.storage import KV
from kubelite_apiserver.ownwrites import OwnWrites, stored_form


class UpdateCopies:
    def __init__(self, store: Any, info: ResourceInfo) -> None:
        self.informer = Informer(store, info, owner_indexed=False)
        self.own = OwnWrites()  # this apiserver's writes the watch has not brought yet (ownwrites.py)

    def start(self) -> None:
        self.informer.start()

    async def stop(self) -> None:
        await self.informer.stop()

    def written(self, namespace: str, name: str, revision: int, obj: Any, encoded: bytes) -> None:
        """This apiserver wrote `obj` (None: deleted it) at `revision`, `encoded` its JSON
        (Registry.announce); kept as stored, so a caller changing `obj` afterwards changes nothing."""
        stored = (stored_form(encoded, str(revision)) or _stored(obj)) if obj is not None else None
        self.own.note(namespace, name, revision, stored)

    def current(self, key: str, namespace: str, name: str) -> KV | None:
        """The object as etcd would return it (no resourceVersion in the value, the revision
        beside it), from the copy or this apiserver's own later write; None before the first
        sync or when there is neither (then etcd is read)."""
        if not self.informer.has_synced:
            return None
        obj = self.informer.get(namespace, name)
        revision = int(obj.metadata.resourceVersion or 0) if obj is not None else 0
        own = self.own.newer_than(namespace, name, revision)
        if own is not None:
            own_revision, stored = own
            return KV(key, stored, own_revision, 0) if stored is not None else None
        if obj is None or not revision:
            return None
        return KV(key, _stored(obj), revision, 0)

    async def list(self, namespace: str, opts: Any, label_sel: Any, field_sel: Any) -> None:
        """LISTs are not served from these copies: always None (read etcd)."""
        return None


def _stored(obj: Any) -> bytes:
    """`obj` as etcd holds it: without its resourceVersion."""
    return codec.encode(msgspec.structs.replace(obj, metadata=msgspec.structs.replace(obj.metadata,
                                                                                      resourceVersion=None)))
