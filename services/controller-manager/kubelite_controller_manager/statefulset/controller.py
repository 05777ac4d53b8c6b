"""The StatefulSet controller (Kubernetes' pkg/controller/statefulset): pods with stable names,
DNS identities and their own claims, created, removed and updated in order.

Keyed by StatefulSet. One sync: claim the pods the selector picks, keep the revision history
(the update revision matches the spec; the current revision is the one status names), make
each ordinal's claims, then `rules.decide` one step (create, delete, or wait) and write
status. Names are deterministic, so a restarted controller, or one acting on a stale cache,
can never run an ordinal twice: a second create of `web-1` is a 409.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from kubelite.api.apps_v1 import (
    CONTROLLERREVISIONS,
    POD_INDEX_LABEL,
    STATEFULSETS,
    ControllerRevision,
    StatefulSet,
    StatefulSetStatus,
)
from kubelite.api.core_v1 import PERSISTENTVOLUMECLAIMS, PODS, Pod
from kubelite.errors import APIError
from kubelite.reconcile.cache import INDEX_NAMESPACE, INDEX_OWNER, key_of, split_key
from kubelite.reconcile.controller import Controller, Requeue
from kubelite.reconcile.controller_ref import (
    ControllerRefManager,
    resolve_owner,
)
from kubelite.reconcile.writes import typed, write_status
from kubelite_controller_manager.history.revisions import (
    CollisionError,
    RevisionHistory,
    bump_collision,
    plan_history,
    to_prune,
)
from kubelite_controller_manager.replicaset.pods import seconds_until_available
from kubelite_controller_manager.statefulset import pods as sspods
from kubelite_controller_manager.statefulset import rules

if TYPE_CHECKING:
    from kubelite_controller_manager.app import ControllerContext

log = logging.getLogger(__name__)

CONTROLLER_NAME = "statefulset-controller"


class StatefulSetController(Controller):
    name = "statefulset"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(workers=2, name="statefulset")
        self.ctx = ctx
        self.api = ctx.api
        self.sets = ctx.informers.get(STATEFULSETS)
        self.pods = ctx.informers.get(PODS)
        self.claims = ctx.informers.get(PERSISTENTVOLUMECLAIMS)
        self.revisions = ctx.informers.get(CONTROLLERREVISIONS)
        self.history = RevisionHistory(api=self.api)
        self.watch(self.sets)
        self.watch(self.pods, self._pod_keys)
        self.watch(self.revisions, self._owner_key)
        self.informers.append(self.claims)

    def _owner_key(self, obj: Any) -> str | None:
        sts = resolve_owner(obj, "StatefulSet", self.sets.get)
        return key_of(sts) if sts is not None else None

    def _pod_keys(self, pod: Pod) -> str | list[str] | None:
        key = self._owner_key(pod)
        if key is not None or pod.metadata.ownerReferences:
            return key
        return [key_of(s) for s in self.sets.by_index(INDEX_NAMESPACE, pod.metadata.namespace or "")]

    # -- reconcile ---------------------------------------------------------------
    async def reconcile(self, key: Any) -> None:
        ns, name = split_key(key)
        sts: StatefulSet | None = self.sets.get(ns, name)
        if sts is None or sts.spec is None or sts.spec.template is None:
            return
        pods = await self._claim(sts)
        try:
            update, current = await self._revisions(sts, pods)
        except CollisionError:
            await bump_collision(self.api, sts, StatefulSetStatus())
            raise Requeue(0.1, "revision name collision") from None
        now = datetime.now(UTC)
        inputs = rules.inputs_of(sts, update.metadata.name or "", now)
        by_ordinal = {o: p for p in pods if (o := rules.ordinal_of(p.metadata.name or "", name)) is not None}
        if sts.metadata.deletionTimestamp is None:
            plan = rules.decide(by_ordinal, inputs)
            await self._act(sts, plan, inputs, update, current)
        await self._write_status(sts, list(by_ordinal.values()), current, update, inputs)
        waits = [w for p in pods if (w := seconds_until_available(p, inputs.min_ready, now)) is not None]
        if waits:
            self.queue.add_after(key, min(waits) + 0.05)

    async def _claim(self, sts: StatefulSet) -> list[Pod]:
        manager = ControllerRefManager.for_owner(self.api, sts, STATEFULSETS, PODS)
        if manager is None:
            return []
        result = await manager.claim(self.pods.by_index(INDEX_NAMESPACE, sts.metadata.namespace or ""))
        return result.owned

    async def _revisions(self, sts: StatefulSet, pods: list[Pod]) -> tuple[ControllerRevision, ControllerRevision]:
        """(update revision, current revision): the current one is what status names, as long as
        it still exists; a new set starts with both the same."""
        revisions = self.revisions.by_index(INDEX_OWNER, sts.metadata.uid or "")
        plan = plan_history(sts, "apps/v1", "StatefulSet", revisions)
        update = await self.history.sync(sts, plan)
        named = sts.status.currentRevision if sts.status else None
        current = next((r for r in plan.old if r.metadata.name == named), update)
        live = {rules.revision_of(p) for p in pods} | {current.metadata.name or ""}
        limit = sts.spec.revisionHistoryLimit if sts.spec and sts.spec.revisionHistoryLimit is not None else 10
        await self.history.prune(to_prune([r for r in plan.old if r is not current], live, limit))
        return update, current

    async def _act(self, sts: StatefulSet, plan: rules.Plan, inputs: rules.Inputs,
                   update: ControllerRevision, current: ControllerRevision) -> None:
        if plan.waiting:
            log.debug("statefulset %s/%s: %s", sts.metadata.namespace, sts.metadata.name, plan.waiting)
        for pod in plan.delete:
            await self._delete_pod(sts, pod, condemned=not self._wanted(pod, inputs))
        for ordinal in plan.create:
            # newVersionedStatefulSetPod: below the partition a pod comes back at the current revision
            below = inputs.rolling and ordinal < inputs.start + inputs.partition
            rev = current if below else update
            await self._create(sts, ordinal, rev)

    @staticmethod
    def _wanted(pod: Pod, inputs: rules.Inputs) -> bool:
        label = (pod.metadata.labels or {}).get(POD_INDEX_LABEL, "")
        return label.isdigit() and inputs.start <= int(label) < inputs.start + inputs.replicas

    # -- writes ------------------------------------------------------------------
    async def _create(self, sts: StatefulSet, ordinal: int, rev: ControllerRevision) -> None:
        for claim in sspods.claims_for(sts, ordinal):
            if self.claims.get(claim.metadata.namespace or "", claim.metadata.name or "") is None:
                await self._create_claim(sts, claim)
        pod = sspods.pod_for(sts, ordinal, sspods.template_of(rev), rev.metadata.name or "")
        try:
            await self.api.create(pod, namespace=sts.metadata.namespace or "")
        except APIError as exc:
            if exc.code == 409:
                return  # already there: our cache is behind
            self.ctx.recorder.event(typed(sts), "Warning", "FailedCreate",
                                    f"create Pod {pod.metadata.name} in StatefulSet {sts.metadata.name} failed "
                                    f"error: {exc.message}")
            raise
        self.ctx.recorder.event(typed(sts), "Normal", "SuccessfulCreate",
                                f"create Pod {pod.metadata.name} in StatefulSet {sts.metadata.name} successful")
        await self.ctx.decisions.publish(CONTROLLER_NAME, typed(sts), "SuccessfulCreate",
                                         f"created pod {pod.metadata.name} at revision {rev.metadata.name}")

    async def _create_claim(self, sts: StatefulSet, claim: Any) -> None:
        try:
            await self.api.create(claim, namespace=claim.metadata.namespace or "")
        except APIError as exc:
            if exc.code == 409:
                return
            self.ctx.recorder.event(typed(sts), "Warning", "FailedCreate",
                                    f"create Claim {claim.metadata.name} for StatefulSet {sts.metadata.name} "
                                    f"failed error: {exc.message}")
            raise
        self.ctx.recorder.event(typed(sts), "Normal", "SuccessfulCreate",
                                f"create Claim {claim.metadata.name} in StatefulSet {sts.metadata.name} successful")

    async def _delete_pod(self, sts: StatefulSet, pod: Pod, *, condemned: bool) -> None:
        policy = sts.spec.persistentVolumeClaimRetentionPolicy if sts.spec else None
        if condemned and policy is not None and policy.whenScaled == "Delete":
            await self._claims_follow_pod(sts, pod)
        try:
            await self.api.delete(PODS, pod.metadata.namespace or "", pod.metadata.name or "",
                                  uid=pod.metadata.uid or "")
        except APIError as exc:
            if exc.code in (404, 409):
                return
            raise
        self.ctx.recorder.event(typed(sts), "Normal", "SuccessfulDelete",
                                f"delete Pod {pod.metadata.name} in StatefulSet {sts.metadata.name} successful")
        await self.ctx.decisions.publish(CONTROLLER_NAME, typed(sts), "SuccessfulDelete",
                                         f"deleted pod {pod.metadata.name}")

    async def _claims_follow_pod(self, sts: StatefulSet, pod: Pod) -> None:
        """whenScaled: Delete: the condemned pod's claims get the pod as owner, so the garbage
        collector removes them with it."""
        ordinal = rules.ordinal_of(pod.metadata.name or "", sts.metadata.name or "")
        for claim in sspods.claims_for(sts, ordinal if ordinal is not None else -1):
            stored = self.claims.get(claim.metadata.namespace or "", claim.metadata.name or "")
            if stored is None or any(r.uid == pod.metadata.uid for r in stored.metadata.ownerReferences or []):
                continue
            refs = [msgspec.to_builtins(r) for r in stored.metadata.ownerReferences or []] + [sspods.pod_owner(pod)]
            try:
                await self.api.patch(PERSISTENTVOLUMECLAIMS, stored.metadata.namespace or "",
                                     stored.metadata.name or "", {"metadata": {"ownerReferences": refs}})
            except APIError as exc:
                if exc.code != 404:
                    raise

    async def _write_status(self, sts: StatefulSet, pods: list[Pod], current: ControllerRevision,
                            update: ControllerRevision, inputs: rules.Inputs) -> None:
        c = rules.status_counts(pods, current.metadata.name or "", update.metadata.name or "", inputs.min_ready,
                                inputs.now)
        current_name = current.metadata.name
        if rules.rollout_complete(c, inputs.replicas, inputs.rolling) or (not inputs.rolling and c.current == 0):
            current_name, c.current = update.metadata.name, c.updated
        st = msgspec.structs.replace(
            sts.status or StatefulSetStatus(), observedGeneration=sts.metadata.generation, replicas=c.replicas,
            readyReplicas=c.ready or None, availableReplicas=c.available, currentReplicas=c.current or None,
            updatedReplicas=c.updated or None, currentRevision=current_name, updateRevision=update.metadata.name)
        if st != sts.status:
            await write_status(self.api, sts, st)


def new_controller(ctx: ControllerContext) -> StatefulSetController:
    return StatefulSetController(ctx)


__all__ = ["StatefulSetController", "new_controller"]
