"""What this apiserver has itself just written, until its cache's etcd watch brings it.

Why: an update starts from the cache's copy (Registry.read_for_update) and a token request for a
pod checks the cache's pod (satokens.py), but under load the cache's watch runs behind the
writes: at 1,000 nodes filling with pods most bindings arrived before the cache had seen the pod
created, most status updates before it had seen the binding, so each read etcd instead (about
three reads per pod, bench/scale_bench.py's etcd_requests_per_pod), and a copy one write behind
cost a failed compare-and-swap first. The apiserver knows what it wrote: each write it makes is
noted here with its revision, and a cache answers with whichever is newer, its own copy or the
noted write. A write someone else made meanwhile still makes the swap fail, as a stale copy does.

Only the newest write of each object is kept, and only until the cache's copy reaches its
revision (then the entry is dropped when next looked at) or LIMIT newer writes push it out:
LIMIT covers seconds of writes at any rate the apiserver reaches, and a write pushed out only
costs the read it would have saved. LISTs from the cache never see these entries (a LIST is the
cache at one revision).

Example: the scheduler binds pod web-1 (the cache has web-1 at revision 700, the apiserver
created it at 705): the noted write 705 is newer, so the binding is encoded from it and swapped
on 705 — no etcd read, no failed swap. The cache's watch then delivers 705 and the binding's
707; the entry at 707 is newer than the copy until then, and dropped when the copy has 707.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

LIMIT = 4096  # entries: pods average ~3 writes, so ~1,300 pods' worth, seconds at 150-450 writes/s


class OwnWrites:
    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._latest: OrderedDict[tuple[str, str], tuple[int, Any]] = OrderedDict()

    def note(self, namespace: str, name: str, revision: int, obj: Any) -> None:
        """This apiserver wrote `obj` (None: deleted it) at `revision`."""
        key = (namespace, name)
        entry = self._latest.get(key)
        if entry is not None and entry[0] >= revision:
            return  # a later write of ours was noted first (answers can arrive out of order)
        self._latest[key] = (revision, obj)
        self._latest.move_to_end(key)
        while len(self._latest) > self.limit:
            self._latest.popitem(last=False)

    def newer_than(self, namespace: str, name: str, revision: int) -> tuple[int, Any] | None:
        """(its revision, what was written: None for a delete) when this apiserver wrote the
        object after `revision` (the cache's copy; 0: it has none); else None, and an entry
        the copy has caught up with is dropped."""
        key = (namespace, name)
        entry = self._latest.get(key)
        if entry is None:
            return None
        if entry[0] <= revision:
            del self._latest[key]
            return None
        return entry

    def __len__(self) -> int:
        return len(self._latest)


def stored_form(encoded: bytes, resource_version: str) -> bytes | None:
    """An object's JSON as etcd stores it, from its JSON with `resource_version` (what the
    registry encodes to publish a write): without the field, byte for byte; None when it is not
    where the encoder puts it (never first in metadata: the name comes before it).
    Example: b'{"metadata":{"name":"a","resourceVersion":"7"}}' -> b'{"metadata":{"name":"a"}}'."""
    needle = b',"resourceVersion":"' + resource_version.encode() + b'"'
    at = encoded.find(needle)
    if at < 0:
        return None
    return encoded[:at] + encoded[at + len(needle):]
