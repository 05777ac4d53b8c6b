"""The in-use protection controllers (Kubernetes' pvcprotection and pvprotection): a claim
being deleted keeps `kubernetes.io/pvc-protection` while any running pod uses it, and a volume
being deleted keeps `kubernetes.io/pv-protection` while it is Bound. Keys: ("claim", ns/name)
and ("volume", name)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubelite.api.core_v1 import PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, PODS, Pod
from kubelite.api.storage_v1 import PV_PROTECTION, PVC_PROTECTION
from kubelite.errors import APIError
from kubelite.reconcile.cache import INDEX_NAMESPACE, key_of, split_key
from kubelite.reconcile.controller import Controller

if TYPE_CHECKING:
    from kubelite_controller_manager.app import ControllerContext


def claims_used(pod: Pod) -> list[str]:
    """The claims a pod that has not finished mounts (a finished pod no longer holds them)."""
    if pod.status is not None and pod.status.phase in ("Succeeded", "Failed"):
        return []
    return [v.persistentVolumeClaim.claimName or "" for v in (pod.spec.volumes or [] if pod.spec else [])
            if v.persistentVolumeClaim is not None]


class ProtectionController(Controller):
    name = "storage-protection"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(workers=1, name="storage-protection")
        self.api = ctx.api
        self.claims = ctx.informers.get(PERSISTENTVOLUMECLAIMS)
        self.volumes = ctx.informers.get(PERSISTENTVOLUMES)
        self.pods = ctx.informers.get(PODS)
        self.watch(self.claims, lambda c: ("claim", key_of(c)) if c.metadata.deletionTimestamp else None)
        self.watch(self.volumes, lambda v: ("volume", v.metadata.name) if v.metadata.deletionTimestamp else None)
        self.watch(self.pods, lambda p: [("claim", f"{p.metadata.namespace}/{c}") for c in claims_used(p)] or None)

    async def reconcile(self, key: Any) -> None:
        kind, name = key
        if kind == "claim":
            ns, claim_name = split_key(name)
            claim = self.claims.get(ns, claim_name)
            if claim is None or claim.metadata.deletionTimestamp is None:
                return
            pods = self.pods.by_index(INDEX_NAMESPACE, ns)
            if not any(claim_name in claims_used(p) for p in pods):
                await self._release(PERSISTENTVOLUMECLAIMS, claim, PVC_PROTECTION)
        else:
            pv = self.volumes.get("", name)
            if pv is not None and pv.metadata.deletionTimestamp is not None and \
                    (pv.status is None or pv.status.phase != "Bound"):
                await self._release(PERSISTENTVOLUMES, pv, PV_PROTECTION)

    async def _release(self, info: Any, obj: Any, finalizer: str) -> None:
        if finalizer not in (obj.metadata.finalizers or []):
            return
        left = [f for f in obj.metadata.finalizers or [] if f != finalizer]
        try:
            await self.api.patch(info, obj.metadata.namespace or "", obj.metadata.name or "", {"metadata": {
                "finalizers": left or None, "resourceVersion": obj.metadata.resourceVersion}})
        except APIError as exc:
            if exc.code not in (404, 409):
                raise


def new_controller(ctx: ControllerContext) -> ProtectionController:
    return ProtectionController(ctx)
