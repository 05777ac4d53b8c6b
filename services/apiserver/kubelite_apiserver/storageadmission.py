"""Storage admission on create, as Kubernetes' admission plugins do:

- DefaultStorageClass: a PersistentVolumeClaim without `storageClassName` gets the default
  StorageClass (annotated `storageclass.kubernetes.io/is-default-class: "true"`; the newest
  when several are, as Kubernetes since 1.26); an explicit `""` means "no class" and stays.
- StorageObjectInUseProtection: claims get the `kubernetes.io/pvc-protection` finalizer and
  volumes `kubernetes.io/pv-protection`, so neither disappears while in use (the
  controller-manager's protection controllers lift them).

And a cluster with no StorageClass at all gets `local-path` (kubelite's node-local
provisioner, WaitForFirstConsumer) as its default at start.
"""

from __future__ import annotations

import logging
from typing import Any

from kubelite import codec, errors
from kubelite.api.storage_v1 import (
    DEFAULT_CLASS_ANNOTATION,
    LOCAL_PATH_PROVISIONER,
    PV_PROTECTION,
    PVC_PROTECTION,
    STORAGECLASSES,
    StorageClass,
    is_default_class,
)

log = logging.getLogger("kubelite.apiserver")



def default_class(classes: list[StorageClass]) -> str | None:
    """GetDefaultClass: the newest default class (by creationTimestamp, then name)."""
    defaults = sorted((c for c in classes if is_default_class(c)),
                      key=lambda c: (c.metadata.creationTimestamp or "", c.metadata.name or ""))
    return defaults[-1].metadata.name if defaults else None


def _add_finalizer(obj: Any, finalizer: str) -> None:
    if finalizer not in (obj.metadata.finalizers or []):
        obj.metadata.finalizers = [*(obj.metadata.finalizers or []), finalizer]


class StorageAdmission:
    def __init__(self, store: Any) -> None:
        self.store = store

    async def __call__(self, info: Any, obj: Any) -> None:
        if info.kind == "PersistentVolume":
            _add_finalizer(obj, PV_PROTECTION)
        if info.kind != "PersistentVolumeClaim":
            return
        _add_finalizer(obj, PVC_PROTECTION)
        if obj.spec is not None and obj.spec.storageClassName is None:
            obj.spec.storageClassName = default_class(await self._classes())

    async def _classes(self) -> list[StorageClass]:
        kvs, _, _ = await self.store.list(STORAGECLASSES.key_prefix())
        decoder = codec.decoder_for(StorageClass)
        return [decoder.decode(kv.value) for kv in kvs]


def local_path_class() -> StorageClass:
    return codec.convert({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "local-path", "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
        "provisioner": LOCAL_PATH_PROVISIONER, "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer"}, StorageClass)


async def ensure_default_storage_class(reg: Any) -> None:
    """A cluster without any StorageClass gets `local-path` (once: a class the user made, or
    deleted after others exist, is left alone)."""
    existing, _, _ = await reg.store.list(STORAGECLASSES.key_prefix(), limit=1)
    if existing:
        return
    try:
        await reg.create(STORAGECLASSES, "", local_path_class())
        log.info("created the default StorageClass local-path")
    except errors.APIError as exc:
        if exc.code != 409:
            raise
