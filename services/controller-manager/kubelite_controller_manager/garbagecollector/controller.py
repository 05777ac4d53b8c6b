"""The garbage collector (Kubernetes' pkg/controller/garbagecollector), informer-driven.

Keys are (resource, namespace, name). An object is looked at when it has
ownerReferences, or when it is being deleted with the collector's finalizers:
- `orphan`: remove the references to it from its dependents, then the finalizer;
- `foregroundDeletion`: delete its dependents, wait until those with
  blockOwnerDeletion are gone, then remove the finalizer (the owner goes);
- a dependent whose owners are all absent (Background deletion, or a dangling
  reference) or waiting (foreground) is deleted; one with a living owner keeps
  that owner and loses the references to absent/waiting ones.
An owner missing from the cache is looked up live before its dependents are
collected, so an owner and dependent created together are never mistaken for
a dangling reference while the informers catch up.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from typing import Any

import msgspec

from kubelite.api.apps_v1 import (
    CONTROLLERREVISIONS,
    DAEMONSETS,
    DEPLOYMENTS,
    REPLICASETS,
    STATEFULSETS,
)
from kubelite.api.batch_v1 import CRONJOBS, JOBS
from kubelite.api.core_v1 import (
    CONFIGMAPS,
    ENDPOINTS,
    PERSISTENTVOLUMECLAIMS,
    PODS,
    REPLICATIONCONTROLLERS,
    SECRETS,
    SERVICES,
)
from kubelite.api.discovery_v1 import ENDPOINTSLICES
from kubelite.api.scheme import ResourceInfo, by_kind
from kubelite.errors import APIError
from kubelite.reconcile.cache import INDEX_OWNER
from kubelite.reconcile.controller import Controller, Requeue
from kubelite_controller_manager.garbagecollector.owners import (
    FOREGROUND,
    ORPHAN,
    OwnerState,
    blocking,
    judge,
    owner_state,
)
from kubelite_controller_manager.nodelifecycle.notify import Notifier

log = logging.getLogger(__name__)

CONTROLLER_NAME = "garbage-collector-controller"
GC_RESOURCES: tuple[ResourceInfo, ...] = (PODS, REPLICASETS, DEPLOYMENTS, SERVICES, ENDPOINTS, ENDPOINTSLICES,
                                          CONFIGMAPS, SECRETS, JOBS, CRONJOBS, DAEMONSETS, STATEFULSETS,
                                          CONTROLLERREVISIONS, PERSISTENTVOLUMECLAIMS, REPLICATIONCONTROLLERS)
FOREGROUND_RECHECK = 2.0  # seconds: a waiting owner looks again even if no event comes


class GarbageCollector(Controller):
    name = "garbagecollector"

    def __init__(self, informers: Any, api: Any, notify: Notifier, *,
                 resources: tuple[ResourceInfo, ...] = GC_RESOURCES, workers: int = 2) -> None:
        super().__init__(workers=workers, name="garbagecollector")
        self.api = api
        self.notify = notify
        self.informer_factory = informers
        self.resources: dict[str, tuple[ResourceInfo, Any]] = {}
        self.kinds: dict[tuple[str, str], str] = {}
        for info in resources:
            self.monitor(info)

    def monitor(self, info: ResourceInfo) -> None:
        """Follow owner references of one more resource (a custom one, as its CRD arrives)."""
        if info.group_resource in self.resources:
            return
        inf = self.informer_factory.get(info)
        self.resources[info.group_resource] = (info, inf)
        self.kinds[(info.api_version, info.kind)] = info.group_resource
        inf.add_handler(
            on_add=lambda o, r=info.group_resource: self._changed(r, o),
            on_update=lambda old, new, r=info.group_resource: self._updated(r, old, new),
            on_delete=lambda o, r=info.group_resource: self._deleted(r, o),
        )
        self.informers.append(inf)
        if self._running is not None:  # added while running: start it here (run() started the rest)
            inf.start()

    # -- handlers -------------------------------------------------------------

    @staticmethod
    def _key(resource: str, obj: Any) -> Hashable:
        return (resource, obj.metadata.namespace or "", obj.metadata.name or "")

    def _changed(self, resource: str, obj: Any) -> None:
        meta = obj.metadata
        if meta.ownerReferences or (meta.deletionTimestamp and {ORPHAN, FOREGROUND} & set(meta.finalizers or ())):
            self.queue.add(self._key(resource, obj))
        if meta.deletionTimestamp:
            self._enqueue_owners(obj)

    def _updated(self, resource: str, old: Any, new: Any) -> None:
        """Only what the collector decides on: references, deletion and finalizers (or a resync);
        status churn (pods) is not its business, as in Kubernetes' graph builder."""
        o, n = old.metadata, new.metadata
        if old is new or o.ownerReferences != n.ownerReferences or \
                o.deletionTimestamp != n.deletionTimestamp or o.finalizers != n.finalizers:
            self._changed(resource, new)

    def _deleted(self, resource: str, obj: Any) -> None:
        for dep_resource, dep in self.dependents_of(obj.metadata.uid or ""):
            self.queue.add(self._key(dep_resource, dep))
        self._enqueue_owners(obj)

    def _enqueue_owners(self, obj: Any) -> None:
        """A dependent going away may let a foreground-deleting owner finish."""
        for ref in obj.metadata.ownerReferences or ():
            resource = self.kinds.get((ref.apiVersion, ref.kind))
            if resource is not None:
                info = self.resources[resource][0]
                self.queue.add((resource, obj.metadata.namespace or "" if info.namespaced else "", ref.name))

    def dependents_of(self, uid: str) -> list[tuple[str, Any]]:
        if not uid:
            return []
        out: list[tuple[str, Any]] = []
        for resource, (_info, inf) in self.resources.items():
            out.extend((resource, dep) for dep in inf.by_index(INDEX_OWNER, uid))
        return out

    # -- reconcile --------------------------------------------------------------

    async def reconcile(self, key: Any) -> None:
        resource, namespace, name = key
        info, inf = self.resources[resource]
        obj = inf.get(namespace, name)
        if obj is None:
            return
        meta = obj.metadata
        if meta.deletionTimestamp:
            finalizers = meta.finalizers or []
            if ORPHAN in finalizers:
                await self._orphan_dependents(obj)
                await self._remove_finalizer(info, obj, ORPHAN)
            elif FOREGROUND in finalizers:
                await self._delete_dependents_first(info, obj)
            return  # otherwise already on its way out
        if meta.ownerReferences:
            await self._attempt_to_delete(info, obj)

    async def _orphan_dependents(self, owner: Any) -> None:
        uid = owner.metadata.uid
        for resource, dep in self.dependents_of(uid or ""):
            refs = [r for r in dep.metadata.ownerReferences or () if r.uid != uid]
            await self._update_refs(self.resources[resource][0], dep, refs)
            log.info("gc: orphaned %s %s/%s from %s", resource, dep.metadata.namespace, dep.metadata.name,
                     owner.metadata.name)

    async def _delete_dependents_first(self, info: ResourceInfo, owner: Any) -> None:
        uid = owner.metadata.uid or ""
        deps = self.dependents_of(uid)
        for resource, dep in deps:
            if not dep.metadata.deletionTimestamp:
                self.queue.add(self._key(resource, dep))  # attemptToDelete sees a waiting owner
        if blocking([d for _, d in deps], uid):
            raise Requeue(after=FOREGROUND_RECHECK, reason="waiting for blocking dependents")
        await self._remove_finalizer(info, owner, FOREGROUND)
        log.info("gc: dependents of %s %s/%s gone; finishing its foreground deletion",
                 info.group_resource, owner.metadata.namespace, owner.metadata.name)

    async def _attempt_to_delete(self, info: ResourceInfo, obj: Any) -> None:
        meta = obj.metadata
        states = [(ref.uid, await self._owner_state(ref, info, meta.namespace or ""))
                  for ref in meta.ownerReferences or ()]
        verdict = judge(states, has_dependents=bool(self.dependents_of(meta.uid or "")))
        if verdict.drop_refs:
            refs = [r for r in meta.ownerReferences or () if r.uid not in verdict.drop_refs]
            await self._update_refs(info, obj, refs)
            return
        if not verdict.delete:
            return
        try:
            await self.api.delete(info, meta.namespace or "", meta.name or "",
                                  propagation=verdict.propagation, uid=meta.uid or "")
        except APIError as exc:
            if exc.code in (404, 409):
                return
            raise
        owners = ", ".join(f"{r.kind}/{r.name}" for r in meta.ownerReferences or ())
        message = f"Deleted {info.kind} {meta.name} ({verdict.propagation}): owner {owners} is gone or being deleted"
        log.info("gc: %s", message)
        await self.notify.decision(CONTROLLER_NAME, obj, info.api_version, info.kind, "GarbageCollected", message,
                                   propagation=verdict.propagation)

    async def _owner_state(self, ref: Any, dep_info: ResourceInfo, namespace: str) -> OwnerState:
        resource = self.kinds.get((ref.apiVersion, ref.kind))
        owner_info = self.resources[resource][0] if resource else by_kind(ref.apiVersion, ref.kind)
        if owner_info is None:
            return OwnerState.UNKNOWN
        owner_ns = namespace if owner_info.namespaced else ""
        if resource is not None:
            cached = self.resources[resource][1].get(owner_ns, ref.name)
            if cached is not None and cached.metadata.uid == ref.uid:
                return owner_state(cached, ref.uid)
        try:  # not (or not yet) in the cache: ask the apiserver before collecting anything
            live = await self.api.get(owner_info, owner_ns, ref.name)
        except APIError as exc:
            if exc.code == 404:
                return OwnerState.ABSENT
            raise
        return owner_state(live, ref.uid)

    async def _update_refs(self, info: ResourceInfo, obj: Any, refs: list[Any]) -> None:
        await self._update_meta(info, obj, ownerReferences=refs or None)

    async def _remove_finalizer(self, info: ResourceInfo, obj: Any, finalizer: str) -> None:
        finalizers = [f for f in obj.metadata.finalizers or () if f != finalizer]
        await self._update_meta(info, obj, finalizers=finalizers or None)

    async def _update_meta(self, info: ResourceInfo, obj: Any, **changes: Any) -> None:
        """Write `obj` with these metadata fields changed; gone already is fine."""
        meta = msgspec.structs.replace(obj.metadata, **changes)
        try:
            await self.api.update(msgspec.structs.replace(obj, apiVersion=info.api_version, kind=info.kind,
                                                          metadata=meta))
        except APIError as exc:
            if exc.code == 404:
                return
            raise  # 409: the cache was stale; retried with back-off once the informer has caught up


def new_controller(ctx: Any) -> GarbageCollector:
    gc = GarbageCollector(ctx.informers, ctx.api, Notifier(ctx.recorder, ctx.decisions))
    if ctx.custom_resources is not None:
        ctx.custom_resources.subscribe(gc.monitor)
    return gc
