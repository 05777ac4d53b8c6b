"""The PersistentVolume controller: binds claims to volumes, provisions local-path volumes,
releases and reclaims (Kubernetes' persistentvolume controller and an external provisioner,
in one loop).

Keys: ("claim", "<ns>/<name>") and ("volume", "<name>"). A claim binds in three writes, each
safe to repeat after a crash: the volume's claimRef (and status Bound), the claim's
volumeName (with the bind-completed annotations), the claim's status Bound. A claim whose
class waits for its first consumer stays Pending until the scheduler names a node
(`volume.kubernetes.io/selected-node`); then a matching volume on that node binds, or the
local-path provisioner makes one there. A volume whose claim is gone is Released; with
reclaim policy Delete it is deleted, and its data on the node is removed over the bus
(`kubelite.bus.volumes`) before its cleanup finalizer comes off.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgspec

from kubelite.api.core_v1 import (
    NODES,
    PERSISTENTVOLUMECLAIMS,
    PERSISTENTVOLUMES,
    Node,
    PersistentVolume,
    PersistentVolumeClaim,
    PersistentVolumeClaimStatus,
    PersistentVolumeStatus,
)
from kubelite.api.storage_v1 import (
    BIND_COMPLETED,
    BOUND_BY_CONTROLLER,
    LOCAL_PATH_CLEANUP,
    LOCAL_PATH_PROVISIONER,
    LOCAL_PATH_ROOT,
    SELECTED_NODE,
    STORAGECLASSES,
    WAIT_FOR_FIRST_CONSUMER,
)
from kubelite.bus import volumes as wire
from kubelite.errors import APIError
from kubelite.reconcile.cache import key_of, split_key
from kubelite.reconcile.controller import Controller, Requeue
from kubelite.reconcile.writes import typed, write_status
from kubelite.timefmt import rfc3339
from kubelite_controller_manager.volume import rules

if TYPE_CHECKING:
    from kubelite_controller_manager.app import ControllerContext

log = logging.getLogger(__name__)

CONTROLLER_NAME = "persistentvolume-binder-controller"
CLEANUP_TIMEOUT = 10.0  # seconds for a node to answer a volume deletion


class PersistentVolumeController(Controller):
    name = "persistentvolume-binder"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(workers=2, name="persistentvolume-binder")
        self.ctx = ctx
        self.api = ctx.api
        self.claims = ctx.informers.get(PERSISTENTVOLUMECLAIMS)
        self.volumes = ctx.informers.get(PERSISTENTVOLUMES)
        self.classes = ctx.informers.get(STORAGECLASSES)
        self.nodes = ctx.informers.get(NODES)
        self.watch(self.claims, self._claim_keys)
        self.watch(self.volumes, self._volume_keys)
        self.informers += [self.classes, self.nodes]

    @staticmethod
    def _claim_keys(claim: PersistentVolumeClaim) -> list[Any]:
        """The claim, and its volume (a deleted claim releases it)."""
        keys: list[Any] = [("claim", key_of(claim))]
        if claim.spec is not None and claim.spec.volumeName:
            keys.append(("volume", claim.spec.volumeName))
        return keys

    def _volume_keys(self, pv: PersistentVolume) -> list[Any]:
        keys: list[Any] = [("volume", pv.metadata.name or "")]
        ref = pv.spec.claimRef if pv.spec else None
        if ref is not None:
            keys.append(("claim", f"{ref.namespace}/{ref.name}"))
        return keys

    async def reconcile(self, key: Any) -> None:
        kind, name = key
        if kind == "claim":
            ns, claim_name = split_key(name)
            claim = self.claims.get(ns, claim_name)
            if claim is not None and claim.metadata.deletionTimestamp is None:
                await self._sync_claim(claim)
        else:
            pv = self.volumes.get("", name)
            if pv is not None:
                await self._sync_volume(pv)

    # -- claims ------------------------------------------------------------------
    async def _sync_claim(self, claim: PersistentVolumeClaim) -> None:
        assert claim.spec is not None
        if claim.spec.volumeName:
            pv = self.volumes.get("", claim.spec.volumeName)
            if pv is None:
                await self._claim_status(claim, "Lost" if _phase(claim) == "Bound" else "Pending")
                return
            ref = pv.spec.claimRef if pv.spec else None
            if ref is None or ref.uid in (None, "", claim.metadata.uid):
                await self._bind(pv, claim)
            return
        pvs = self.volumes.list()
        pv = rules.prebound_to(pvs, claim)
        if pv is not None:
            await self._bind(pv, claim)
            return
        sc = self.classes.get("", rules.class_of(claim)) if rules.class_of(claim) else None
        node = self._selected_node(claim)
        if sc is not None and sc.volumeBindingMode == WAIT_FOR_FIRST_CONSUMER and node is None:
            self.ctx.recorder.event(typed(claim), "Normal", "WaitForFirstConsumer",
                                    "waiting for first consumer to be created before binding")
            return
        pv = rules.best_match(pvs, claim, node)
        if pv is not None:
            await self._bind(pv, claim)
        elif sc is not None and sc.provisioner == LOCAL_PATH_PROVISIONER:
            await self._provision(claim, sc, node)
        else:
            message = "no persistent volumes available for this claim and no storage class is set" \
                if sc is None else f'storageclass "{rules.class_of(claim)}" has no provisioner kubelite runs'
            self.ctx.recorder.event(typed(claim), "Normal", "FailedBinding", message)

    def _selected_node(self, claim: PersistentVolumeClaim) -> Node | None:
        name = (claim.metadata.annotations or {}).get(SELECTED_NODE)
        return self.nodes.get("", name) if name else None

    async def _provision(self, claim: PersistentVolumeClaim, sc: Any, node: Node | None) -> None:
        if node is None:
            self.ctx.recorder.event(typed(claim), "Warning", "ProvisioningFailed",
                                    "local-path volumes need a node: use a WaitForFirstConsumer class")
            return
        root = (node.metadata.annotations or {}).get(LOCAL_PATH_ROOT)
        if not root:
            self.ctx.recorder.event(typed(claim), "Warning", "ProvisioningFailed",
                                    f"node {node.metadata.name} does not advertise {LOCAL_PATH_ROOT}")
            raise Requeue(5.0, "node without a local-path root")
        pv = rules.local_volume(claim, node, root, sc)
        try:
            await self.api.create(pv)
        except APIError as exc:
            if exc.code != 409:
                raise
        self.ctx.recorder.event(typed(claim), "Normal", "ProvisioningSucceeded",
                                f"Successfully provisioned volume {pv.metadata.name} on node {node.metadata.name}")
        await self.ctx.decisions.publish(CONTROLLER_NAME, typed(claim), "ProvisioningSucceeded",
                                         f"provisioned {pv.metadata.name} on {node.metadata.name}")

    async def _bind(self, pv: PersistentVolume, claim: PersistentVolumeClaim) -> None:
        """bindVolumeToClaim, bindClaimToVolume, then the claim's status; each step only if needed."""
        assert pv.spec is not None and claim.spec is not None
        ref = pv.spec.claimRef
        if ref is None or ref.uid != claim.metadata.uid:
            annotations = dict(pv.metadata.annotations or {})
            if ref is None:
                annotations[BOUND_BY_CONTROLLER] = "yes"
            pv = await self.api.update(typed(msgspec.structs.replace(
                pv, metadata=msgspec.structs.replace(pv.metadata, annotations=annotations),
                spec=msgspec.structs.replace(pv.spec, claimRef=rules.claim_ref(claim)))))
        if _phase(pv) != "Bound":
            pv = await self._volume_status(pv, "Bound")
        if claim.spec.volumeName != pv.metadata.name or BIND_COMPLETED not in (claim.metadata.annotations or {}):
            annotations = {**(claim.metadata.annotations or {}), BIND_COMPLETED: "yes", BOUND_BY_CONTROLLER: "yes"}
            claim = await self.api.update(typed(msgspec.structs.replace(
                claim, metadata=msgspec.structs.replace(claim.metadata, annotations=annotations),
                spec=msgspec.structs.replace(claim.spec, volumeName=pv.metadata.name))))
            await self.ctx.decisions.publish(CONTROLLER_NAME, typed(claim), "Bound",
                                             f"bound to volume {pv.metadata.name}")
        await self._claim_status(claim, "Bound", pv)

    async def _claim_status(self, claim: PersistentVolumeClaim, phase: str, pv: PersistentVolume | None = None) -> None:
        st = msgspec.structs.replace(claim.status or PersistentVolumeClaimStatus(), phase=phase)
        if pv is not None and pv.spec is not None:
            st.capacity, st.accessModes = pv.spec.capacity, pv.spec.accessModes
        if st != claim.status:
            await write_status(self.api, claim, st)

    # -- volumes -----------------------------------------------------------------
    async def _sync_volume(self, pv: PersistentVolume) -> None:
        if pv.metadata.deletionTimestamp is not None:
            if LOCAL_PATH_CLEANUP in (pv.metadata.finalizers or []):
                await self._cleanup(pv)
            return
        ref = pv.spec.claimRef if pv.spec else None
        claim = self.claims.get(ref.namespace or "", ref.name or "") if ref is not None else None
        phase = rules.volume_phase(pv, claim)
        if phase == "Pending":  # pre-bound: the claim's sync finishes the bind
            self.queue.add(("claim", f"{ref.namespace}/{ref.name}"))  # type: ignore[union-attr]
            return
        if phase != _phase(pv):
            pv = await self._volume_status(pv, phase)
        if phase == "Released" and pv.spec is not None and pv.spec.persistentVolumeReclaimPolicy == "Delete":
            await self._delete(pv)

    async def _volume_status(self, pv: PersistentVolume, phase: str) -> PersistentVolume:
        st = msgspec.structs.replace(pv.status or PersistentVolumeStatus(), phase=phase, lastPhaseTransitionTime=rfc3339())
        return await write_status(self.api, pv, st) or pv

    async def _delete(self, pv: PersistentVolume) -> None:
        try:
            await self.api.delete(PERSISTENTVOLUMES, "", pv.metadata.name or "", uid=pv.metadata.uid or "")
        except APIError as exc:
            if exc.code not in (404, 409):
                raise
            return
        await self.ctx.decisions.publish(CONTROLLER_NAME, typed(pv), "VolumeDelete",
                                         "released with reclaim policy Delete")

    async def _cleanup(self, pv: PersistentVolume) -> None:
        """Remove a deleted local-path volume's directory on its node, then its finalizer. A node
        that no longer exists took the data with it."""
        node = self._node_of(pv)
        path = pv.spec.local.path if pv.spec and pv.spec.local else None
        if node is not None and path:
            req = wire.VolumeDeleteRequest(volume=pv.metadata.name or "", path=path)
            try:
                msg = await self.ctx.nc.request(wire.subject(node), wire.encoder.encode(req), timeout=CLEANUP_TIMEOUT)
                reply = wire.reply_decoder.decode(msg.data)
            except Exception as exc:  # no responder, timeout: the node is down; try again
                raise Requeue(None, f"node {node} did not delete volume {pv.metadata.name}: {exc}") from None
            if not reply.ok:
                self.ctx.recorder.event(typed(pv), "Warning", "VolumeFailedDelete", reply.message)
                raise Requeue(None, reply.message)
        left = [f for f in pv.metadata.finalizers or [] if f != LOCAL_PATH_CLEANUP]
        try:
            await self.api.patch(PERSISTENTVOLUMES, "", pv.metadata.name or "", {"metadata": {
                "finalizers": left or None, "resourceVersion": pv.metadata.resourceVersion}})
        except APIError as exc:
            if exc.code not in (404, 409):
                raise

    def _node_of(self, pv: PersistentVolume) -> str | None:
        wanted = rules.volume_node(pv)
        if wanted is None:
            return None
        for node in self.nodes.list():
            if node.metadata.name == wanted or (node.metadata.labels or {}).get(rules.HOSTNAME_LABEL) == wanted:
                return node.metadata.name
        return None



def _phase(obj: Any) -> str:
    return (obj.status.phase if obj.status else None) or ""


def new_controller(ctx: ControllerContext) -> PersistentVolumeController:
    return PersistentVolumeController(ctx)


__all__ = ["PersistentVolumeController", "new_controller"]
