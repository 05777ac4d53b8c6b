"""Kubernetes' controller.ComputeHash: the short, stable name suffix of a template's revision.

Used for a Deployment's replica sets (pod-template-hash) and for the ControllerRevisions of
DaemonSets and StatefulSets (controller-revision-hash).
"""

from __future__ import annotations

import struct
from typing import Any

import msgspec

# rand.SafeEncodeString's alphabet: no vowels (no words) and no look-alike characters.
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """rand.SafeEncodeString: each character mapped into the safe alphabet."""
    return "".join(_SAFE_ALPHABET[ord(c) % len(_SAFE_ALPHABET)] for c in text)


def compute_hash(template: Any, collision_count: int | None = None) -> str:
    """ComputeHash: a stable short hash of the template (keys sorted, so the order a user
    wrote labels in does not matter), salted with the collision count so a name clash with
    a foreign object can be escaped by bumping it."""
    data = msgspec.json.encode(msgspec.to_builtins(template), order="sorted") if template is not None else b"null"
    if collision_count:
        data += struct.pack("<I", collision_count & 0xFFFFFFFF)
    return safe_encode(str(fnv32a(data)))
