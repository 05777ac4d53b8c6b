"""The EndpointSlice controller (Kubernetes' pkg/controller/endpointslice), one slice per Service.

Keyed by Service, like the Endpoints controller, and fed by the same pod
changes. For a Service with a selector it keeps ONE EndpointSlice
(slices.desired_slice), labelled kubernetes.io/service-name and managed-by
endpointslice-controller.k8s.io and owned by the Service; kubectl >= 1.33
reads these for `describe service`. Nothing is written when the slice already
says the same. Other slices this controller manages for the Service (an older
name) are deleted, and so are all of them when the Service goes or loses its
selector.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from kubelite.api.core_v1 import PODS, SERVICES, Service
from kubelite.api.discovery_v1 import (
    ENDPOINTSLICES,
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    EndpointSlice,
)
from kubelite.errors import APIError
from kubelite.reconcile.cache import split_key
from kubelite.reconcile.controller import Controller
from kubelite_controller_manager.endpoints.controller import ServicePodsMixin, selects
from kubelite_controller_manager.endpointslices.slices import (
    MANAGED_BY,
    desired_slice,
    same_content,
)
from kubelite_controller_manager.nodelifecycle.notify import Notifier

log = logging.getLogger(__name__)

CONTROLLER_NAME = "endpointslice-controller"


def managed_for(eps: EndpointSlice) -> str | None:
    """The Service name a slice of this controller belongs to (None: not ours)."""
    labels = eps.metadata.labels or {}
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY:
        return None
    return labels.get(SERVICE_NAME_LABEL) or None


class EndpointSliceController(ServicePodsMixin, Controller):
    name = "endpointslice"

    def __init__(self, informers: Any, api: Any, notify: Notifier, *, workers: int = 5) -> None:
        super().__init__(workers=workers, name="endpointslice")
        self.api = api
        self.notify = notify
        self.services = informers.get(SERVICES)
        self.pods = informers.get(PODS)
        self.slices = informers.get(ENDPOINTSLICES)
        self.watch(self.services)
        self.pods.add_handler(on_add=self._pod_changed, on_update=self._pod_updated, on_delete=self._pod_changed)
        self.slices.add_handler(on_update=lambda old, new: self._slice_changed(new), on_delete=self._slice_changed)
        self.informers.extend([self.pods, self.slices])

    # -- handlers -------------------------------------------------------------

    def _slice_changed(self, eps: EndpointSlice) -> None:
        # someone else changed (or deleted) a slice this controller owns: put it right
        service = managed_for(eps)
        if service is not None:
            self.queue.add(f"{eps.metadata.namespace or ''}/{service}")

    # -- reconcile --------------------------------------------------------------

    def _ours(self, namespace: str, service: str) -> list[EndpointSlice]:
        return [s for s in self.slices.list(namespace) if managed_for(s) == service]

    async def reconcile(self, key: Any) -> None:
        namespace, name = split_key(key)
        service = self.services.get(namespace, name)
        existing = self._ours(namespace, name)
        selector = service.spec.selector if service is not None and service.spec else None
        if service is None or selector is None:
            await self._delete(existing)  # gone, or its endpoints are now the user's to manage
            return
        pods = sorted((p for p in self.pods.list(namespace) if selects(service, p)),
                      key=lambda p: p.metadata.name or "")
        want = desired_slice(service, pods)
        current = next((s for s in existing if s.metadata.name == want.metadata.name), None)
        await self._delete([s for s in existing if s is not current])
        if current is None:
            await self._create(service, want)
        elif not same_content(current, want):
            meta = msgspec.structs.replace(current.metadata, labels=want.metadata.labels,
                                           ownerReferences=want.metadata.ownerReferences)
            updated = msgspec.structs.replace(want, metadata=meta)
            try:
                await self.api.update(updated)
            except APIError as exc:
                if exc.code != 409:  # a 409 (stale cache) is just retried with back-off
                    await self._failed(service, "FailedToUpdateEndpointSlices", exc)
                raise
            await self._report(service, want, "Updated")

    async def _create(self, service: Service, want: EndpointSlice) -> None:
        try:
            await self.api.create(want)
        except APIError as exc:
            if exc.code == 403 and exc.reason == "Forbidden":
                return  # the namespace is terminating: nothing may be created in it
            if exc.code != 409:  # AlreadyExists: the cache was behind; retried, then updated
                await self._failed(service, "FailedToUpdateEndpointSlices", exc)
            raise
        await self._report(service, want, "Created")

    async def _delete(self, slices: list[EndpointSlice]) -> None:
        for eps in slices:
            meta = eps.metadata
            try:
                await self.api.delete(ENDPOINTSLICES, meta.namespace or "", meta.name or "")
            except APIError as exc:
                if exc.code != 404:
                    raise
            log.info("endpointslice %s/%s deleted", meta.namespace, meta.name)

    async def _failed(self, service: Service, reason: str, exc: APIError) -> None:
        meta = service.metadata
        await self.notify.event(service, "v1", "Service", "Warning", reason,
                                f"Error updating Endpoint Slices for Service {meta.namespace}/{meta.name}: "
                                f"{exc.message or exc}")

    async def _report(self, service: Service, eps: EndpointSlice, verb: str) -> None:
        endpoints = eps.endpoints or []
        ready = sum(1 for e in endpoints if e.conditions and e.conditions.ready)
        await self.notify.decision(
            CONTROLLER_NAME, service, "v1", "Service", f"EndpointSlice{verb}",
            f"{verb} EndpointSlice {eps.metadata.name}: {ready} ready of {len(endpoints)} endpoint(s)",
            ready=ready, endpoints=len(endpoints),
        )


def new_controller(ctx: Any) -> EndpointSliceController:
    return EndpointSliceController(ctx.informers, ctx.api, Notifier(ctx.recorder, ctx.decisions))
