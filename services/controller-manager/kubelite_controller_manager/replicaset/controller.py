"""The ReplicaSet controller (Kubernetes' pkg/controller/replicaset).

Keeps `spec.replicas` active pods matching the selector: claims pods (adopt
matching orphans, release owned pods whose labels no longer match), creates
missing pods from the template in slow-start batches, deletes surplus pods in
ActivePods order, and writes status. Reads come from the shared informers
(etcd); writes go to the apiserver over NATS. Expectations keep it from acting
again before its own creates/deletes have come back through the watch.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import msgspec

from kubelite.api.apps_v1 import REPLICASETS, ReplicaSet, ReplicaSetStatus
from kubelite.api.core_v1 import (
    PODS,
    REPLICATIONCONTROLLERS,
    LabelSelector,
    Pod,
    ReplicationControllerStatus,
)
from kubelite.api.labels import Selector, selector_from_label_selector
from kubelite.api.meta import ObjectMeta, OwnerReference
from kubelite.api.scheme import ResourceInfo
from kubelite.errors import APIError
from kubelite.reconcile.cache import INDEX_OWNER, key_of, split_key
from kubelite.reconcile.controller import Controller, Requeue
from kubelite.reconcile.controller_ref import (
    ControllerRefManager,
    controller_of,
    controller_ref,
    owner_is_live,
    owners_selecting,
    resolve_owner,
)
from kubelite.reconcile.expectations import ControllerExpectations
from kubelite_controller_manager.replicaset import pods as podutil
from kubelite_controller_manager.replicaset.status import calculate_status

if TYPE_CHECKING:
    from kubelite_controller_manager.app import ControllerContext

log = logging.getLogger(__name__)

CLAIM_RETRY_SECONDS = 0.2  # an adopt/release lost a race with another write: soon look again
BURST_REPLICAS = 500  # most pods created or deleted in one sync (Kubernetes' BurstReplicas)
SLOW_START_INITIAL_BATCH = 1
CONTROLLER_NAME = "replicaset"
NAMESPACE_TERMINATING = "namespace terminating"  # a create refused because the namespace is going away


def owner_ref(rs: ReplicaSet, api_version: str = "apps/v1", kind: str = "ReplicaSet") -> OwnerReference:
    return controller_ref(rs, api_version, kind)


def pod_from_template(rs: ReplicaSet, ref: OwnerReference | None = None) -> Pod:
    """GetPodFromTemplate: labels, annotations and finalizers of the template, a generated
    name `<rs>-xxxxx`, and a controller reference to the replica set."""
    template = rs.spec.template if rs.spec else None
    tmeta = (template.metadata if template else None) or ObjectMeta()
    return Pod(
        apiVersion="v1", kind="Pod",
        metadata=ObjectMeta(
            generateName=f"{rs.metadata.name}-", namespace=rs.metadata.namespace,
            labels=dict(tmeta.labels) if tmeta.labels else None,
            annotations=dict(tmeta.annotations) if tmeta.annotations else None,
            finalizers=list(tmeta.finalizers) if tmeta.finalizers else None,
            ownerReferences=[ref or owner_ref(rs)],
        ),
        spec=template.spec if template else None,
    )


def slow_start_batches(total: int, initial: int = SLOW_START_INITIAL_BATCH) -> list[int]:
    """slowStartBatch sizes: 1, 2, 4, ... up to `total`, so a template the apiserver refuses
    costs one failed request, not hundreds."""
    sizes, size, left = [], max(1, initial), total
    while left > 0:
        take = min(size, left)
        sizes.append(take)
        left -= take
        size *= 2
    return sizes


class ReplicaSetController(Controller):
    """Also the ReplicationController's (ReplicationManager below), as in Kubernetes: what
    differs is the resource, its kind and how its selector is written."""

    name = CONTROLLER_NAME
    resource: ResourceInfo = REPLICASETS
    status_type: type = ReplicaSetStatus

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(workers=ctx.options.concurrent_replicaset_syncs, name=self.name)
        self.ctx = ctx
        self.api = ctx.api
        self.rs_informer = ctx.informers.get(self.resource)
        self.pod_informer = ctx.informers.get(PODS)
        self.expectations = ControllerExpectations()
        self.rs_informer.add_handler(on_add=self._rs_changed, on_update=self._rs_updated,
                                     on_delete=self._rs_deleted)
        self.pod_informer.add_handler(on_add=self._pod_added, on_update=self._pod_updated,
                                      on_delete=self._pod_deleted)
        self.informers.extend([self.rs_informer, self.pod_informer])

    # -- event handlers: turn changes into keys ----------------------------

    def _rs_changed(self, rs: ReplicaSet) -> None:
        self.queue.add(key_of(rs))

    def _rs_updated(self, old: ReplicaSet, new: ReplicaSet) -> None:
        self.queue.add(key_of(new))

    def _rs_deleted(self, rs: ReplicaSet) -> None:
        self.expectations.delete(key_of(rs))
        self.queue.add(key_of(rs))

    def _owner_ref(self, rs: Any) -> OwnerReference:
        return owner_ref(rs, self.resource.api_version, self.resource.kind)

    def label_selector(self, rs: Any) -> Any:
        """spec.selector as a LabelSelector (a ReplicaSet's already is one)."""
        return rs.spec.selector if rs.spec else None

    def _owner_key(self, pod: Pod) -> str | None:
        """The key of the replica set controlling `pod`, if it is one we know."""
        rs = resolve_owner(pod, self.resource.kind, self.rs_informer.get)
        return key_of(rs) if rs is not None else None

    def _matching_replica_sets(self, pod: Pod) -> list[str]:
        """getPodReplicaSets: replica sets whose selector matches an orphan pod (they may adopt it)."""
        return owners_selecting(pod, self.rs_informer.list(pod.metadata.namespace or ""), self.label_selector)

    def _pod_added(self, pod: Pod) -> None:
        if pod.metadata.deletionTimestamp is not None:
            self._pod_deleted(pod)  # a pod created already terminating (e.g. after a re-list)
            return
        owner = self._owner_key(pod)
        if owner is not None:
            self.expectations.creation_observed(owner)
            self.queue.add(owner)
            return
        if controller_of(pod) is None:
            for key in self._matching_replica_sets(pod):
                self.queue.add(key)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        if old is new or old.metadata.resourceVersion == new.metadata.resourceVersion:
            # periodic resync: the replica set itself is resynced through its own informer
            return
        if new.metadata.deletionTimestamp is not None and old.metadata.deletionTimestamp is None:
            owner = self._owner_key(new)
            if owner is not None:
                self.expectations.deletion_observed(owner, new.metadata.uid or "")
        old_owner, new_owner = self._owner_key(old), self._owner_key(new)
        if old_owner and old_owner != new_owner:
            self.queue.add(old_owner)
        if new_owner:
            self.queue.add(new_owner)
            min_ready = self._min_ready_seconds(new_owner)
            if min_ready and not podutil.is_ready(old) and podutil.is_ready(new):
                # it becomes available only after minReadySeconds: look again then
                self.queue.add_after(new_owner, min_ready + 0.1)
            return
        if controller_of(new) is None and (old.metadata.labels != new.metadata.labels or old_owner):
            for key in self._matching_replica_sets(new):
                self.queue.add(key)

    def _pod_deleted(self, pod: Pod) -> None:
        owner = self._owner_key(pod)
        if owner is not None:
            self.expectations.deletion_observed(owner, pod.metadata.uid or "")
            self.queue.add(owner)

    def _min_ready_seconds(self, key: str) -> int:
        rs = self.rs_informer.get_by_key(key)
        return (rs.spec.minReadySeconds or 0) if rs is not None and rs.spec else 0

    # -- reconcile ----------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        """One sync (a 409 from a stale cache is retried quietly by the Controller base)."""
        ns, name = split_key(key)
        rs: ReplicaSet | None = self.rs_informer.get(ns, name)
        if rs is None:
            self.expectations.delete(key)
            return
        need_sync = self.expectations.satisfied(key)
        try:
            selector = selector_from_label_selector(self.label_selector(rs), none_selects_nothing=True)
        except ValueError as exc:
            log.error("replicaset %s: invalid selector: %s", key, exc)
            return
        candidates = [p for p in self.pod_informer.list(ns) if podutil.is_active(p)]
        pods = await self._claim_pods(rs, selector, candidates)

        manage_error: str | None = None
        if need_sync and rs.metadata.deletionTimestamp is None:
            manage_error = await self._manage_replicas(key, rs, pods)
        now = self.ctx.now()
        status = calculate_status(rs, pods, manage_error, now)
        status = msgspec.structs.replace(status, observedGeneration=rs.metadata.generation)
        if self.status_type is not type(status):  # a ReplicationController's status, same fields
            status = msgspec.convert(msgspec.to_builtins(status), self.status_type)
        if status != rs.status:
            rs = await self._update_status(rs, status)
        if manage_error is not None:
            raise Requeue(None, manage_error)  # retried with back-off
        # a ready pod inside minReadySeconds becomes available later; look again then
        min_ready = (rs.spec.minReadySeconds or 0) if rs.spec else 0
        waits = [w for p in pods if (w := podutil.seconds_until_available(p, min_ready, now)) is not None]
        if waits:
            self.queue.add_after(key, min(waits) + 0.1)

    async def _update_status(self, rs: ReplicaSet, status: Any) -> ReplicaSet:
        """updateReplicaSetStatus: write, and on a conflict re-read and write once more."""
        candidate = msgspec.structs.replace(rs, status=status)
        try:
            return await self.api.update_status(self._typed(candidate))
        except APIError as exc:
            if exc.code == 404:
                return rs
            if exc.code != 409:
                raise
        fresh = await self.api.get(self.resource, rs.metadata.namespace or "", rs.metadata.name or "")
        return await self.api.update_status(msgspec.structs.replace(fresh, status=status))

    def _typed(self, obj: Any) -> Any:
        if obj.kind is None or obj.apiVersion is None:
            obj = msgspec.structs.replace(obj, apiVersion=self.resource.api_version, kind=self.resource.kind)
        return obj

    # -- claiming ---------------------------------------------------------------

    async def _claim_pods(self, rs: ReplicaSet, selector: Selector, candidates: list[Pod]) -> list[Pod]:
        manager = ControllerRefManager(
            self.api, rs, ref=self._owner_ref(rs), selector=selector,
            child=PODS, can_adopt=lambda: owner_is_live(self.api, self.resource, rs))
        result = await manager.claim(candidates)
        for pod in result.adopted:
            await self._decide(rs, "Adopted", f"Adopted pod: {pod.metadata.name}", pod=pod.metadata.name)
        for pod in result.released:
            await self._decide(rs, "Released", f"Released pod: {pod.metadata.name}", pod=pod.metadata.name)
        if result.retry:
            self.queue.add_after(key_of(rs), CLAIM_RETRY_SECONDS)  # a pod changed: decide again
        return result.owned

    # -- creating and deleting pods ---------------------------------------------

    async def _manage_replicas(self, key: str, rs: ReplicaSet, pods: list[Pod]) -> str | None:
        """manageReplicas: create or delete the difference; returns an error message when some
        writes failed (expectations are lowered for those so the next sync retries)."""
        want = rs.spec.replicas if rs.spec and rs.spec.replicas is not None else 1
        diff = len(pods) - want
        if diff < 0:
            return await self._create_pods(key, rs, min(-diff, BURST_REPLICAS))
        if diff > 0:
            victims = podutil.pods_to_delete(pods, min(diff, BURST_REPLICAS), self._related_pods(rs, pods))
            return await self._delete_pods(key, rs, victims)
        return None

    def _related_pods(self, rs: ReplicaSet, own: list[Pod]) -> list[Pod]:
        """getIndirectlyRelatedPods: pods of every replica set sharing this one's controller
        (a deployment's old and new sets), so scale-down spreads them over nodes together."""
        owner = controller_of(rs)
        if owner is None:
            return own
        related: dict[str, Pod] = {p.metadata.uid or "": p for p in own}
        for sibling in self.rs_informer.list(rs.metadata.namespace or ""):
            ref = controller_of(sibling)
            if ref is None or ref.uid != owner.uid:
                continue
            for pod in self.pod_informer.by_index(INDEX_OWNER, sibling.metadata.uid or ""):
                related[pod.metadata.uid or ""] = pod
        return list(related.values())

    async def _create_pods(self, key: str, rs: ReplicaSet, count: int) -> str | None:
        self.expectations.expect_creations(key, count)
        template = pod_from_template(rs, self._owner_ref(rs))
        created = 0
        error: str | None = None
        for size in slow_start_batches(count):
            results = await asyncio.gather(*(self._create_one(rs, template) for _ in range(size)),
                                           return_exceptions=False)
            failures = [r for r in results if isinstance(r, str)]
            created += size - len(failures)
            real = [f for f in failures if f is not NAMESPACE_TERMINATING]
            if real:
                error = real[0]
            if failures:
                break
        if count - created:
            self.expectations.creations_failed(key, count - created)  # never coming: do not wait
        if created:
            await self._decide(rs, "ScaledUp", f"Created {created} pod(s) for replica set {rs.metadata.name}",
                               created=created, replicas=rs.spec.replicas if rs.spec else None)
        return error

    async def _create_one(self, rs: ReplicaSet, template: Pod) -> str | None:
        try:
            pod = await self.api.create(template, namespace=rs.metadata.namespace or "")
        except APIError as exc:
            if exc.code == 403 and "is being terminated" in (exc.message or ""):
                # as Kubernetes: a terminating namespace refuses every create; not a failure
                # of this replica set (the namespace controller is deleting it anyway)
                return NAMESPACE_TERMINATING
            self.ctx.recorder.event(self._typed(rs), "Warning", "FailedCreate", f"Error creating: {exc.message}")
            return exc.message or str(exc)
        except Exception as exc:
            self.ctx.recorder.event(self._typed(rs), "Warning", "FailedCreate", f"Error creating: {exc}")
            return str(exc)
        self.ctx.recorder.event(self._typed(rs), "Normal", "SuccessfulCreate",
                                f"Created pod: {pod.metadata.name}")
        return None

    async def _delete_pods(self, key: str, rs: ReplicaSet, victims: list[Pod]) -> str | None:
        self.expectations.expect_deletions(key, [p.metadata.uid or "" for p in victims])
        results = await asyncio.gather(*(self._delete_one(key, rs, p) for p in victims))
        errors = [r for r in results if r]
        deleted = len(victims) - len(errors)
        if deleted:
            await self._decide(rs, "ScaledDown", f"Deleted {deleted} pod(s) of replica set {rs.metadata.name}",
                               deleted=[p.metadata.name for p in victims],
                               replicas=rs.spec.replicas if rs.spec else None)
        return errors[0] if errors else None

    async def _delete_one(self, key: str, rs: ReplicaSet, pod: Pod) -> str | None:
        try:
            await self.api.delete(PODS, pod.metadata.namespace or "", pod.metadata.name or "",
                                  uid=pod.metadata.uid or "")
        except APIError as exc:
            self.expectations.deletion_observed(key, pod.metadata.uid or "")
            if exc.code == 404:
                return None  # already gone: what we wanted
            self.ctx.recorder.event(self._typed(rs), "Warning", "FailedDelete",
                                    f"Error deleting: {exc.message}")
            return exc.message or str(exc)
        self.ctx.recorder.event(self._typed(rs), "Normal", "SuccessfulDelete",
                                f"Deleted pod: {pod.metadata.name}")
        return None

    async def _decide(self, rs: ReplicaSet, reason: str, message: str, **details: Any) -> None:
        await self.ctx.decisions.publish(self.name, self._typed(rs), reason, message, **details)


class ReplicationManager(ReplicaSetController):
    """The ReplicationController's controller: a ReplicaSet controller for core/v1
    ReplicationControllers, whose selector is a plain label map."""

    name = "replicationcontroller"
    resource = REPLICATIONCONTROLLERS
    status_type = ReplicationControllerStatus

    def label_selector(self, rc: Any) -> Any:
        selector = rc.spec.selector if rc.spec else None
        return LabelSelector(matchLabels=dict(selector)) if selector else None


def new_controller(ctx: ControllerContext) -> ReplicaSetController:
    return ReplicaSetController(ctx)


def new_replication_manager(ctx: ControllerContext) -> ReplicaSetController:
    return ReplicationManager(ctx)
