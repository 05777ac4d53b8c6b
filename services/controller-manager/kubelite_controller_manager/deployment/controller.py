"""The Deployment controller (Kubernetes' pkg/controller/deployment: deployment_controller.go,
sync.go, rolling.go, recreate.go, progress.go).

A deployment owns one replica set per pod template (named `<deployment>-<hash>`,
label pod-template-hash). Each sync reads the deployment and its replica sets
from the informers, then either scales proportionally (a resize, or paused),
or rolls: Recreate (old to 0, then new up) or RollingUpdate (new up within
maxSurge, old down within maxUnavailable). The arithmetic lives in rollout.py,
statuses and conditions in progress.py; this module only applies plans through
the API, records Events and publishes every step on NATS.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from kubelite.api.apps_v1 import DEPLOYMENTS, REPLICASETS, Deployment, DeploymentStatus, ReplicaSet
from kubelite.api.core_v1 import PODS, Pod
from kubelite.api.labels import selector_from_label_selector
from kubelite.errors import APIError
from kubelite.reconcile.cache import INDEX_OWNER, key_of, split_key
from kubelite.reconcile.controller import Controller, Requeue
from kubelite.reconcile.controller_ref import (
    ControllerRefManager,
    controller_of,
    owner_is_live,
    owners_selecting,
    resolve_owner,
)
from kubelite_controller_manager.deployment import progress, rollout
from kubelite_controller_manager.deployment.revision import (
    REVISION_ANNOTATION,
    build_new_replica_set,
    controller_ref,
    equal_ignore_hash,
    find_new_replica_set,
    max_revision,
    new_replica_set_annotations,
    pod_template_hash,
    revision_of,
)

if TYPE_CHECKING:
    from kubelite_controller_manager.app import ControllerContext

log = logging.getLogger(__name__)

CONTROLLER_NAME = "deployment"
CLAIM_RETRY_SECONDS = 0.2


def _typed_deployment(d: Deployment) -> Deployment:
    if d.kind is None or d.apiVersion is None:
        d = msgspec.structs.replace(d, apiVersion="apps/v1", kind="Deployment")
    return d


def _typed_rs(rs: ReplicaSet) -> ReplicaSet:
    if rs.kind is None or rs.apiVersion is None:
        rs = msgspec.structs.replace(rs, apiVersion="apps/v1", kind="ReplicaSet")
    return rs


def _replace_rs(rss: Sequence[ReplicaSet], updated: ReplicaSet) -> list[ReplicaSet]:
    return [updated if rs.metadata.uid == updated.metadata.uid else rs for rs in rss]


class DeploymentController(Controller):
    name = CONTROLLER_NAME

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(workers=ctx.options.concurrent_deployment_syncs, name=CONTROLLER_NAME)
        self.ctx = ctx
        self.api = ctx.api
        self.d_informer = ctx.informers.get(DEPLOYMENTS)
        self.rs_informer = ctx.informers.get(REPLICASETS)
        self.pod_informer = ctx.informers.get(PODS)
        self.watch(self.d_informer)
        self.rs_informer.add_handler(on_add=self._rs_added, on_update=self._rs_updated,
                                     on_delete=self._rs_deleted)
        self.pod_informer.add_handler(on_delete=self._pod_deleted)
        self.informers.extend([self.rs_informer, self.pod_informer])

    # -- event handlers ----------------------------------------------------------

    def _owner_key(self, rs: ReplicaSet) -> str | None:
        d = resolve_owner(rs, "Deployment", self.d_informer.get)
        return key_of(d) if d is not None else None

    def _enqueue_for_rs(self, rs: ReplicaSet) -> None:
        owner = self._owner_key(rs)
        if owner is not None:
            self.queue.add(owner)
        elif controller_of(rs) is None:
            for key in owners_selecting(rs, self.d_informer.list(rs.metadata.namespace or "")):
                self.queue.add(key)

    def _rs_added(self, rs: ReplicaSet) -> None:
        self._enqueue_for_rs(rs)

    def _rs_updated(self, old: ReplicaSet, new: ReplicaSet) -> None:
        if old is new:
            return  # resync: deployments resync through their own informer
        old_owner = self._owner_key(old)
        if old_owner is not None and old_owner != self._owner_key(new):
            self.queue.add(old_owner)
        self._enqueue_for_rs(new)

    def _rs_deleted(self, rs: ReplicaSet) -> None:
        owner = self._owner_key(rs)
        if owner is not None:
            self.queue.add(owner)

    def _pod_deleted(self, pod: Pod) -> None:
        """Recreate waits for old pods to be gone, so their deletion is worth a look."""
        ref = controller_of(pod)
        if ref is None or ref.kind != "ReplicaSet":
            return
        rs = self.rs_informer.get(pod.metadata.namespace or "", ref.name)
        if rs is None:
            return
        owner = self._owner_key(rs)
        if owner is None:
            return
        d = self.d_informer.get_by_key(owner)
        if d is not None and not rollout.is_rolling_update(d):
            self.queue.add(owner)

    # -- reconcile ----------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        """One sync (a 409 from a stale cache is retried quietly by the Controller base)."""
        ns, name = split_key(key)
        cached = self.d_informer.get(ns, name)
        if cached is None:
            return
        d = _typed_deployment(cached)
        try:
            selector = selector_from_label_selector(d.spec.selector if d.spec else None, none_selects_nothing=True)
        except ValueError as exc:
            log.error("deployment %s: invalid selector: %s", key, exc)
            return
        if selector.empty:
            self.ctx.recorder.event(d, "Warning", "SelectorOverlap",
                                    "This deployment is selecting all pods. A non-empty selector is required.")
            if (d.status.observedGeneration if d.status else None) != d.metadata.generation:
                status = msgspec.structs.replace(d.status or DeploymentStatus(),
                                                 observedGeneration=d.metadata.generation)
                await self._write_status(d, status)
            return
        rs_list = await self._claim_replica_sets(d, selector)
        if d.metadata.deletionTimestamp is not None:
            await self._sync_status_only(d, rs_list)
            return
        d = await self._check_paused_conditions(d)
        if d.spec and d.spec.paused:
            await self._sync(d, rs_list)
            return
        if self._is_scaling_event(d, rs_list):
            await self._sync(d, rs_list)
            return
        if rollout.is_rolling_update(d):
            await self._rollout_rolling(d, rs_list)
        else:
            await self._rollout_recreate(d, rs_list)

    # -- replica sets of a deployment -------------------------------------------

    async def _claim_replica_sets(self, d: Deployment, selector: Any) -> list[ReplicaSet]:
        """getReplicaSetsForDeployment: adopt matching orphans, release those no longer matching."""
        manager = ControllerRefManager(
            self.api, d, ref=controller_ref(d), selector=selector, child=REPLICASETS,
            can_adopt=lambda: owner_is_live(self.api, DEPLOYMENTS, d))
        result = await manager.claim(self.rs_informer.list(d.metadata.namespace or ""))
        if result.retry:
            self.queue.add_after(key_of(d), CLAIM_RETRY_SECONDS)  # a replica set changed: look again
        return result.owned

    def _split(self, d: Deployment, rs_list: Sequence[ReplicaSet]) -> tuple[ReplicaSet | None, list[ReplicaSet]]:
        new_rs = find_new_replica_set(d, rs_list)
        old = [rs for rs in rs_list if new_rs is None or rs.metadata.uid != new_rs.metadata.uid]
        return new_rs, old

    async def _all_replica_sets_and_sync_revision(
        self, d: Deployment, rs_list: Sequence[ReplicaSet], create: bool,
    ) -> tuple[Deployment, ReplicaSet | None, list[ReplicaSet]]:
        """getAllReplicaSetsAndSyncRevision: (deployment, new replica set, old ones), creating
        the new one when `create` and bringing revision annotations up to date."""
        existing, old_rss = self._split(d, rs_list)
        d, new_rs = await self._get_new_replica_set(d, existing, old_rss, create)
        return d, new_rs, old_rss

    async def _get_new_replica_set(
        self, d: Deployment, existing: ReplicaSet | None, old_rss: list[ReplicaSet], create: bool,
    ) -> tuple[Deployment, ReplicaSet | None]:
        new_revision = max_revision(old_rss) + 1
        now = self.ctx.now()
        if existing is not None:
            annotations = new_replica_set_annotations(
                d, existing.metadata.annotations, new_revision, set_replicas=False, desired=0, max_replicas=0)
            min_ready = d.spec.minReadySeconds if d.spec else None
            min_ready_differs = (existing.spec.minReadySeconds or 0) != (min_ready or 0)  # type: ignore[union-attr]
            if annotations != (existing.metadata.annotations or {}) or min_ready_differs:
                updated = msgspec.structs.replace(
                    existing,
                    metadata=msgspec.structs.replace(existing.metadata, annotations=annotations),
                    spec=msgspec.structs.replace(existing.spec, minReadySeconds=min_ready),
                )
                existing = await self.api.update(_typed_rs(updated))
            d = await self._sync_deployment_revision(d, existing)
            if progress.has_progress_deadline(d) and progress.get_condition(d.status, progress.PROGRESSING) is None:
                cond = progress.new_condition(progress.PROGRESSING, "True", progress.FOUND_NEW_RS,
                                              f'Found new replica set "{existing.metadata.name}"', now)
                d = await self._write_status(d, progress.set_condition(d.status or DeploymentStatus(), cond))
            return d, existing
        if not create:
            return d, None

        collision_count = (d.status.collisionCount if d.status else None) or 0
        hash_ = pod_template_hash(d.spec.template if d.spec else None, collision_count)
        draft = build_new_replica_set(d, hash_, 0, {})
        replicas = rollout.new_rs_new_replicas(d, [*old_rss, draft], draft)
        desired = rollout.spec_replicas(d)
        annotations = new_replica_set_annotations(d, None, new_revision, set_replicas=True, desired=desired,
                                                  max_replicas=desired + rollout.max_surge(d))
        candidate = build_new_replica_set(d, hash_, replicas, annotations)
        already_exists = False
        try:
            new_rs = await self.api.create(candidate)
        except APIError as exc:
            if exc.reason != "AlreadyExists":
                msg = f"Failed to create new replica set {candidate.metadata.name!r}: {exc.message}"
                self.ctx.recorder.event(d, "Warning", "FailedCreate", msg)
                if progress.has_progress_deadline(d):
                    cond = progress.new_condition(progress.PROGRESSING, "False", progress.FAILED_RS_CREATE, msg, now)
                    await self._write_status(d, progress.set_condition(d.status or DeploymentStatus(), cond))
                raise
            found = await self.api.get(REPLICASETS, d.metadata.namespace or "", candidate.metadata.name or "")
            ref = controller_of(found)
            if ref is not None and ref.uid == d.metadata.uid and equal_ignore_hash(
                    found.spec.template if found.spec else None, d.spec.template if d.spec else None):
                new_rs, already_exists = found, True  # our own create, seen before the cache caught up
            else:
                # a foreign replica set has our name: salt the hash and try again
                status = msgspec.structs.replace(d.status or DeploymentStatus(), collisionCount=collision_count + 1)
                await self._write_status(d, status)
                log.info("deployment %s/%s: hash collision on %s; collisionCount=%d",
                         d.metadata.namespace, d.metadata.name, candidate.metadata.name, collision_count + 1)
                raise Requeue(0.0, "hash collision") from None
        if not already_exists and replicas > 0:
            await self._scaled_event(d, new_rs, "up", 0, replicas)
        d = await self._sync_deployment_revision(d, new_rs)
        if not already_exists:
            await self._decide(d, "NewReplicaSetCreated", f'Created new replica set "{new_rs.metadata.name}"',
                               replicaSet=new_rs.metadata.name, revision=new_revision, replicas=replicas)
            if progress.has_progress_deadline(d):
                cond = progress.new_condition(progress.PROGRESSING, "True", progress.NEW_RS_CREATED,
                                              f'Created new replica set "{new_rs.metadata.name}"', now)
                d = await self._write_status(d, progress.set_condition(d.status or DeploymentStatus(), cond))
        return d, new_rs

    async def _sync_deployment_revision(self, d: Deployment, new_rs: ReplicaSet) -> Deployment:
        """The deployment's revision annotation follows its new replica set's."""
        revision = (new_rs.metadata.annotations or {}).get(REVISION_ANNOTATION)
        if not revision or (d.metadata.annotations or {}).get(REVISION_ANNOTATION) == revision:
            return d
        annotations = {**(d.metadata.annotations or {}), REVISION_ANNOTATION: revision}
        updated = msgspec.structs.replace(d, metadata=msgspec.structs.replace(d.metadata, annotations=annotations))
        return _typed_deployment(await self.api.update(updated))

    # -- scaling -------------------------------------------------------------------

    def _is_scaling_event(self, d: Deployment, rs_list: Sequence[ReplicaSet]) -> bool:
        """isScalingEvent: an active replica set was last sized for a different replicas."""
        new_rs, old_rss = self._split(d, rs_list)
        for rs in rollout.active([*old_rss, new_rs]):
            desired = rollout.desired_replicas_annotation(rs)
            if desired is not None and desired != rollout.spec_replicas(d):
                return True
        return False

    async def _scale_replica_set(self, d: Deployment, rs: ReplicaSet, size: int, operation: str = "") -> ReplicaSet:
        """scaleReplicaSetAndRecordEvent: set size and desired/max annotations in one update."""
        desired = rollout.spec_replicas(d)
        max_replicas = desired + rollout.max_surge(d)
        old_size = rollout.spec_replicas(rs)
        if old_size == size and not rollout.replicas_annotations_need_update(rs, desired, max_replicas):
            return rs
        annotations = {**(rs.metadata.annotations or {}),
                       rollout.DESIRED_REPLICAS_ANNOTATION: str(desired),
                       rollout.MAX_REPLICAS_ANNOTATION: str(max_replicas)}
        candidate = msgspec.structs.replace(
            rs, metadata=msgspec.structs.replace(rs.metadata, annotations=annotations),
            spec=msgspec.structs.replace(rs.spec, replicas=size),
        )
        updated = await self.api.update(_typed_rs(candidate))
        if old_size != size:
            await self._scaled_event(d, updated, operation or ("up" if size > old_size else "down"), old_size, size)
        return updated

    async def _apply_plan(self, d: Deployment, rss: list[ReplicaSet], plan: rollout.Plan,
                          operation: str = "") -> list[ReplicaSet]:
        out = list(rss)
        for rs in rss:
            name = rs.metadata.name or ""
            if name in plan:
                out = _replace_rs(out, await self._scale_replica_set(d, rs, plan[name], operation))
        return out

    async def _scaled_event(self, d: Deployment, rs: ReplicaSet, operation: str, old: int, new: int) -> None:
        msg = f"Scaled {operation} replica set {rs.metadata.name} to {new} from {old}"
        self.ctx.recorder.event(d, "Normal", "ScalingReplicaSet", msg)
        await self._decide(d, "ScalingReplicaSet", msg, replicaSet=rs.metadata.name, **{"from": old, "to": new})

    async def _scale(self, d: Deployment, new_rs: ReplicaSet | None, old_rss: list[ReplicaSet]) -> None:
        """scale(): one active replica set takes the whole size; a saturated new one lets the
        old ones go to 0; otherwise the change is shared out proportionally."""
        target = rollout.find_active_or_latest(new_rs, old_rss)
        if target is not None:
            if rollout.spec_replicas(target) != rollout.spec_replicas(d):
                await self._scale_replica_set(d, target, rollout.spec_replicas(d))
            return
        if rollout.is_saturated(d, new_rs):
            for rs in rollout.active(old_rss):
                await self._scale_replica_set(d, rs, 0)
            return
        if rollout.is_rolling_update(d):
            sizes, operation = rollout.proportional_scale(d, new_rs, old_rss)
            if sizes:
                await self._apply_plan(d, rollout.active([*old_rss, new_rs]), sizes, operation)

    async def _sync(self, d: Deployment, rs_list: Sequence[ReplicaSet]) -> None:
        """sync(): for paused deployments and resizes: scale, clean up, write status."""
        d, new_rs, old_rss = await self._all_replica_sets_and_sync_revision(d, rs_list, False)
        await self._scale(d, new_rs, old_rss)
        if d.spec and d.spec.paused:
            await self._cleanup(d, old_rss)
        d, new_rs, old_rss = self._reread(d, new_rs, old_rss)
        status = progress.calculate_status([*old_rss, new_rs], new_rs, d, self.ctx.now())
        if status != d.status:
            await self._write_status(d, status)

    def _reread(self, d: Deployment, new_rs: ReplicaSet | None, old_rss: list[ReplicaSet],
                ) -> tuple[Deployment, ReplicaSet | None, list[ReplicaSet]]:
        """Fresher replica sets from the cache where the cache is ahead of what we hold
        (status changes land there; our own writes we carry ourselves)."""
        def newer(rs: ReplicaSet) -> ReplicaSet:
            cached = self.rs_informer.get(rs.metadata.namespace or "", rs.metadata.name or "")
            if cached is not None and cached.metadata.uid == rs.metadata.uid and \
                    int(cached.metadata.resourceVersion or 0) > int(rs.metadata.resourceVersion or 0):
                return cached
            return rs
        return d, (newer(new_rs) if new_rs is not None else None), [newer(rs) for rs in old_rss]

    # -- rollouts --------------------------------------------------------------------

    async def _rollout_rolling(self, d: Deployment, rs_list: Sequence[ReplicaSet]) -> None:
        """rolloutRolling: scale the new replica set up if we can, else old ones down if we can;
        once complete, clean up old revisions; always sync the rollout status."""
        d, new_rs, old_rss = await self._all_replica_sets_and_sync_revision(d, rs_list, True)
        assert new_rs is not None
        all_rss = [*old_rss, new_rs]
        target = rollout.reconcile_new_replica_set(d, all_rss, new_rs)
        if target is not None:
            new_rs = await self._scale_replica_set(d, new_rs, target)
            await self._sync_rollout_status(d, [*old_rss, new_rs], new_rs)
            return
        plan = rollout.reconcile_old_replica_sets(d, all_rss, old_rss, new_rs)
        plan = {name: size for name, size in plan.items()
                if size != rollout.spec_replicas(next(rs for rs in old_rss if rs.metadata.name == name))}
        if plan:
            old_rss = await self._apply_plan(d, old_rss, plan, "down")
            await self._sync_rollout_status(d, [*old_rss, new_rs], new_rs)
            return
        if progress.deployment_complete(d, d.status or DeploymentStatus()):
            await self._cleanup(d, old_rss)
        await self._sync_rollout_status(d, [*old_rss, new_rs], new_rs)

    async def _rollout_recreate(self, d: Deployment, rs_list: Sequence[ReplicaSet]) -> None:
        """rolloutRecreate: old replica sets to 0; once no old pod runs, the new one to replicas."""
        d, new_rs, old_rss = await self._all_replica_sets_and_sync_revision(d, rs_list, False)
        plan = rollout.scale_down_old_for_recreate(rollout.active(old_rss))
        if plan:
            old_rss = await self._apply_plan(d, old_rss, plan, "down")
            await self._sync_rollout_status(d, [*old_rss, new_rs], new_rs)
            return
        if self._old_pods_running(new_rs, old_rss):
            await self._sync_rollout_status(d, [*old_rss, new_rs], new_rs)
            return
        if new_rs is None:
            d, new_rs, old_rss = await self._all_replica_sets_and_sync_revision(d, rs_list, True)
        assert new_rs is not None
        if rollout.spec_replicas(new_rs) != rollout.spec_replicas(d):
            new_rs = await self._scale_replica_set(d, new_rs, rollout.spec_replicas(d))
        if progress.deployment_complete(d, d.status or DeploymentStatus()):
            await self._cleanup(d, old_rss)
        await self._sync_rollout_status(d, [*old_rss, new_rs], new_rs)

    def _old_pods_running(self, new_rs: ReplicaSet | None, old_rss: list[ReplicaSet]) -> bool:
        """oldPodsRunning: any old replica set still reports pods, or any pod of one is not finished."""
        if rollout.total_actual(old_rss) > 0:
            return True
        old_uids = {rs.metadata.uid for rs in old_rss}
        for rs in old_rss:
            for pod in self.pod_informer.by_index(INDEX_OWNER, rs.metadata.uid or ""):
                ref = controller_of(pod)
                if ref is None or ref.uid not in old_uids:
                    continue
                phase = pod.status.phase if pod.status else None
                if phase not in ("Failed", "Succeeded"):
                    return True
        return False

    async def _cleanup(self, d: Deployment, old_rss: list[ReplicaSet]) -> None:
        """cleanupDeployment: delete the oldest revisions beyond revisionHistoryLimit, only
        those fully scaled down and observed so."""
        limit = d.spec.revisionHistoryLimit if d.spec else None
        if limit is None:
            return
        alive = [rs for rs in old_rss if rs.metadata.deletionTimestamp is None]
        excess = len(alive) - limit
        if excess <= 0:
            return
        by_revision = sorted(alive, key=lambda rs: (revision_of(rs), rs.metadata.creationTimestamp or "",
                                                    rs.metadata.name or ""))
        for rs in by_revision[:excess]:
            observed = (rs.status.observedGeneration if rs.status else None) or 0
            if rollout.actual_replicas(rs) != 0 or rollout.spec_replicas(rs) != 0 or \
                    (rs.metadata.generation or 0) > observed:
                continue
            try:
                await self.api.delete(REPLICASETS, rs.metadata.namespace or "", rs.metadata.name or "",
                                      uid=rs.metadata.uid or "")
            except APIError as exc:
                if exc.code != 404:
                    raise
                continue
            await self._decide(d, "CleanedUpReplicaSet",
                               f"Deleted old replica set {rs.metadata.name} (revisionHistoryLimit={limit})",
                               replicaSet=rs.metadata.name)

    # -- status ----------------------------------------------------------------------

    async def _sync_rollout_status(self, d: Deployment, all_rss: list[ReplicaSet | None], new_rs: ReplicaSet | None) -> None:
        d, new_rs, old = self._reread(d, new_rs, [rs for rs in all_rss if rs is not None and rs is not new_rs])
        all_now = [*old, new_rs]
        now = self.ctx.now()
        status = progress.rollout_status(all_now, new_rs, d, now)
        if status == d.status:
            wait = progress.seconds_until_deadline(d, status, now)
            if wait is not None:
                self.queue.add_after(key_of(d), wait)
            return
        before = progress.get_condition(d.status, progress.PROGRESSING)
        written = await self._write_status(d, status)
        await self._publish_progress(written, status, new_rs)
        after = progress.get_condition(status, progress.PROGRESSING)
        if after is not None and after.reason == progress.TIMED_OUT and (
                before is None or before.reason != progress.TIMED_OUT):
            self.ctx.recorder.event(written, "Warning", progress.TIMED_OUT, after.message or "")

    async def _sync_status_only(self, d: Deployment, rs_list: Sequence[ReplicaSet]) -> None:
        d, new_rs, old_rss = await self._all_replica_sets_and_sync_revision(d, rs_list, False)
        status = progress.calculate_status([*old_rss, new_rs], new_rs, d, self.ctx.now())
        if status != d.status:
            await self._write_status(d, status)

    async def _check_paused_conditions(self, d: Deployment) -> Deployment:
        status = progress.paused_condition_update(d, self.ctx.now())
        if status is None:
            return d
        return await self._write_status(d, status)

    async def _write_status(self, d: Deployment, status: DeploymentStatus) -> Deployment:
        try:
            written = await self.api.update_status(msgspec.structs.replace(d, status=status))
        except APIError as exc:
            if exc.code == 409:
                raise Requeue(None, "deployment changed while syncing") from None
            raise
        return _typed_deployment(written)

    async def _publish_progress(self, d: Deployment, status: DeploymentStatus, new_rs: ReplicaSet | None) -> None:
        cond = progress.get_condition(status, progress.PROGRESSING)
        replicas = rollout.spec_replicas(d)
        msg = (f"{status.updatedReplicas or 0} of {replicas} updated, {status.availableReplicas or 0} available, "
               f"{status.replicas or 0} total" + (f"; {cond.reason}: {cond.message}" if cond else ""))
        await self._decide(
            d, "RolloutProgress", msg,
            replicaSet=new_rs.metadata.name if new_rs is not None else None,
            revision=(d.metadata.annotations or {}).get(REVISION_ANNOTATION),
            replicas=replicas, updatedReplicas=status.updatedReplicas or 0,
            readyReplicas=status.readyReplicas or 0, availableReplicas=status.availableReplicas or 0,
            totalReplicas=status.replicas or 0,
            progressing=cond.reason if cond else None,
        )

    async def _decide(self, d: Deployment, reason: str, message: str, **details: Any) -> None:
        await self.ctx.decisions.publish(CONTROLLER_NAME, d, reason, message, **details)


def new_controller(ctx: ControllerContext) -> DeploymentController:
    return DeploymentController(ctx)
