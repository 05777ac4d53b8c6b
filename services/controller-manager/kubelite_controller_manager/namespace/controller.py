"""The namespace controller (Kubernetes' pkg/controller/namespace, deletion half).

A namespace being deleted (deletionTimestamp set, phase Terminating) is emptied:
every object of every namespaced kind in the scheme is deleted through the API
(pods gracefully: their node agents confirm), and the key is re-queued until
nothing is left. Then the `kubernetes` finalizer is removed from spec.finalizers,
and the apiserver removes the namespace with its last finalizer.

Listing goes to the apiserver, not to informers: the controller must not
finalize a namespace on a cache that has not yet seen an object created just
before the delete.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from kubelite.api.core_v1 import NAMESPACES, Namespace, NamespaceSpec
from kubelite.api.scheme import ResourceInfo, all_resources
from kubelite.errors import APIError
from kubelite.reconcile.controller import Controller, Requeue
from kubelite_controller_manager.nodelifecycle.notify import Notifier

log = logging.getLogger(__name__)

CONTROLLER_NAME = "namespace-controller"
FINALIZER = "kubernetes"
RECHECK_SECONDS = 1.0  # how soon to look again while content is still going away


def deletable_resources() -> list[ResourceInfo]:
    """Namespaced kinds that can be listed and deleted (not subresource-only ones like bindings).
    Pods first, as the namespaced deleter does with its estimate of the remaining grace."""
    infos = [i for i in all_resources()
             if i.namespaced and {"list", "delete"} <= set(i.verbs) and i.kind != "Binding"]
    return sorted(infos, key=lambda i: (i.kind != "Pod", i.group_resource))


def remaining_finalizers(ns: Namespace) -> list[str]:
    return [f for f in (ns.spec.finalizers if ns.spec else None) or () if f != FINALIZER]


class NamespaceController(Controller):
    name = "namespace"

    def __init__(self, informers: Any, api: Any, notify: Notifier, *, workers: int = 2) -> None:
        super().__init__(workers=workers, name="namespace")
        self.api = api
        self.notify = notify
        self.namespaces = informers.get(NAMESPACES)
        self.watch(self.namespaces, key_fn=lambda ns: ns.metadata.name if ns.metadata.deletionTimestamp else None)

    async def reconcile(self, key: Any) -> None:
        ns = self.namespaces.get("", key)
        if ns is None or not ns.metadata.deletionTimestamp:
            return
        if FINALIZER not in ((ns.spec.finalizers if ns.spec else None) or ()):
            return  # ours is done; others' finalizers are theirs to remove
        left = await self._delete_content(key)
        if left:
            summary = ", ".join(f"{n} {r}" for r, n in sorted(left.items()))
            raise Requeue(after=RECHECK_SECONDS, reason=f"namespace {key} still has {summary}")
        spec = msgspec.structs.replace(ns.spec or NamespaceSpec(), finalizers=remaining_finalizers(ns) or None)
        try:
            await self.api.update(msgspec.structs.replace(ns, apiVersion="v1", kind="Namespace", spec=spec))
        except APIError as exc:
            if exc.code == 404:
                return
            raise
        log.info("namespace %s is empty; finalized", key)
        await self.notify.decision(CONTROLLER_NAME, ns, "v1", "Namespace", "NamespaceFinalized",
                                   f"Namespace {key} is empty; removed the {FINALIZER} finalizer")

    async def _delete_content(self, namespace: str) -> dict[str, int]:
        """Delete what is left; returns {resource: count} of objects still present."""
        left: dict[str, int] = {}
        for info in deletable_resources():
            try:
                items, _ = await self.api.list(info, namespace)
            except APIError as exc:
                if exc.code == 404:
                    continue
                raise
            if not items:
                continue
            left[info.group_resource] = len(items)
            for obj in items:
                if obj.metadata.deletionTimestamp:
                    continue  # already going (a pod waiting for its node agent)
                try:
                    await self.api.delete(info, namespace, obj.metadata.name or "", uid=obj.metadata.uid or "")
                except APIError as exc:
                    if exc.code not in (404, 409):
                        raise
            log.info("namespace %s: deleting %d %s", namespace, len(items), info.group_resource)
        return left


def new_controller(ctx: Any) -> NamespaceController:
    return NamespaceController(ctx.informers, ctx.api, Notifier(ctx.recorder, ctx.decisions))
