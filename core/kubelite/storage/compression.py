"""Stored values compressed with a preset dictionary: how etcd keeps kubelite's objects.

Kubernetes stores objects in etcd as protobuf, about half their JSON size; kubelite stores
JSON, and etcd holds every value several times: the live revision, each older one until
compaction (one to two compaction intervals of history), and the raft log's recent entries
in memory. At 150,000 pods that was 1.2 GB of etcd's memory, most of it pod JSON. So values
are stored deflated (zlib) against a preset dictionary of the boilerplate every object repeats
(`dictionary_v1`): a 2.5 KB running pod is stored in about 300 bytes. A value is stored as

    kubelite:z1:<raw deflate of the JSON, primed with dictionary v1>

Only JSON objects (values that start with `{`) of MIN_SIZE bytes or more are compressed, and
only when that saves bytes; anything else (an encrypted value, which starts `k8s:enc:`, a
counter) is stored as given. Reading is the other way round and needs no setting: a value
without the prefix is returned as is, so data written before compression, or by an apiserver
with `--storage-compression=none`, reads unchanged. Every reader of etcd goes through
`kubelite.storage.etcd`, which applies both. docs/architecture.md ("etcd key layout", and where
kubelite differs) says what this means for etcdctl and for upgrades.

Worked example (bench/scale_bench.py's Deployment pod, Running): 2,505 bytes of JSON →
300 bytes stored (19 µs to pack, 4 µs to unpack on this machine); its Node 1,984 → 292; a
node Lease 435 → 122.
"""

from __future__ import annotations

import zlib

from kubelite.storage import StorageError
from kubelite.storage.dictionary_v1 import DICTIONARY

PREFIX = b"kubelite:z1:"
MIN_SIZE = 64  # below this the prefix and deflate's framing leave little to gain
LEVEL = 6  # zlib's default: level 1 stores a pod in 370 bytes instead of 300, for 20 % less CPU
_WBITS = -15  # raw deflate (no zlib header: the prefix says what it is), 32 KiB window

# Primed once; each pack copies it, which skips re-reading the 15 KB dictionary (19 µs a pod
# instead of 32).
_PRIMED = zlib.compressobj(LEVEL, zlib.DEFLATED, _WBITS, 8, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)


def pack(value: bytes) -> bytes:
    """The form `value` is stored in: compressed if it is a JSON object that shrinks."""
    if len(value) < MIN_SIZE or value[:1] != b"{":
        return value
    c = _PRIMED.copy()
    packed = PREFIX + c.compress(value) + c.flush()
    return packed if len(packed) < len(value) else value


def unpack(stored: bytes) -> bytes:
    """The value `stored` holds (as written to `pack`)."""
    if not stored.startswith(PREFIX):
        return stored
    d = zlib.decompressobj(_WBITS, zdict=DICTIONARY)
    try:
        value = d.decompress(memoryview(stored)[len(PREFIX):])
    except zlib.error as exc:
        raise StorageError(f"a stored value does not decompress ({exc}): {stored[:40]!r}") from None
    if not d.eof:
        raise StorageError(f"a stored value is truncated: {stored[:40]!r}")
    return value
