"""etcd access: the only code in kubelite that talks to etcd.

The apiserver writes through `EtcdStore`; control-plane readers (scheduler,
controller-manager) list and watch through it. Values are opaque bytes here;
the object model lives above. `resourceVersion` is etcd's mod_revision.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KV:
    key: str
    value: bytes
    mod_revision: int
    create_revision: int


@dataclass(frozen=True, slots=True)
class StoreEvent:
    """One change seen by a watch: type is 'PUT' or 'DELETE'.

    For DELETE, `kv.value` is the value before deletion (from prev_kv) and
    `kv.mod_revision` is the revision of the delete itself.
    For PUT, `is_create` tells a creation from an update and `prev` holds the
    previous value when there was one.
    """

    type: str
    kv: KV
    prev: KV | None
    is_create: bool


class StorageError(Exception):
    pass


class KeyExists(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key exists: {key}")
        self.key = key


class KeyNotFound(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key not found: {key}")
        self.key = key


class RevisionMismatch(StorageError):
    """A compare-and-swap lost: `current` is what is stored now (None if gone)."""

    def __init__(self, key: str, current: KV | None) -> None:
        super().__init__(f"revision mismatch on {key}")
        self.key = key
        self.current = current


class GuardFailed(StorageError):
    """A write's guard key no longer had the revision it was expected to have."""

    def __init__(self, key: str) -> None:
        super().__init__(f"guard key changed: {key}")
        self.key = key


class Compacted(StorageError):
    """The asked-for revision is older than etcd's compaction point."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(f"revision {requested} compacted (compact revision {compacted})")
        self.requested = requested
        self.compacted = compacted


class Unavailable(StorageError):
    pass


class LeaseNotFound(StorageError):
    """A write named an etcd lease etcd no longer has (revoked, expired, or an etcd restored
    from a backup older than it)."""
