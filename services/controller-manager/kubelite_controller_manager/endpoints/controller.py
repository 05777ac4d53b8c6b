"""The Endpoints controller (Kubernetes' pkg/controller/endpoint).

Keyed by Service. For a Service with a selector it writes an Endpoints object
of the same name whose subsets list the selected pods (subsets.py); a pod
change re-queues every Service in its namespace whose selector matches the pod
before or after the change, so readiness changes reach the proxies within
moments (the apiserver publishes the Endpoints change on NATS). Nothing is
written when the Endpoints already say the same. Endpoints of Services
without a selector are the user's and are left alone; when the Service is
deleted its Endpoints are deleted too.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from kubelite.api.core_v1 import ENDPOINTS, PODS, SERVICES, Endpoints, Pod, Service
from kubelite.api.labels import selector_from_set
from kubelite.api.meta import ObjectMeta
from kubelite.errors import APIError
from kubelite.reconcile.cache import key_of, split_key
from kubelite.reconcile.controller import Controller
from kubelite_controller_manager.endpoints.subsets import endpoints_labels, service_subsets
from kubelite_controller_manager.nodelifecycle.notify import Notifier

log = logging.getLogger(__name__)

CONTROLLER_NAME = "endpoint-controller"


def selects(service: Service, pod: Pod) -> bool:
    selector = service.spec.selector if service.spec else None
    if selector is None:
        return False
    return selector_from_set(selector).matches(pod.metadata.labels)


class ServicePodsMixin:
    """Requeue the Services that select a pod when it changes (shared by the Endpoints and
    EndpointSlice controllers). Needs `self.services` (an informer) and `self.queue`."""

    services: Any
    queue: Any

    def _services_for(self, pod: Pod) -> list[str]:
        return [key_of(svc) for svc in self.services.list(pod.metadata.namespace or "") if selects(svc, pod)]

    def _pod_changed(self, pod: Pod) -> None:
        for key in self._services_for(pod):
            self.queue.add(key)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        keys = set(self._services_for(new))
        if old is not new and old.metadata.labels != new.metadata.labels:
            keys.update(self._services_for(old))  # a pod whose labels changed leaves those services
        for key in keys:
            self.queue.add(key)


class EndpointsController(ServicePodsMixin, Controller):
    name = "endpoints"

    def __init__(self, informers: Any, api: Any, notify: Notifier, *, workers: int = 5) -> None:
        super().__init__(workers=workers, name="endpoints")
        self.api = api
        self.notify = notify
        self.services = informers.get(SERVICES)
        self.pods = informers.get(PODS)
        self.endpoints = informers.get(ENDPOINTS)
        self.watch(self.services)
        self.pods.add_handler(on_add=self._pod_changed, on_update=self._pod_updated, on_delete=self._pod_changed)
        self.endpoints.add_handler(on_update=lambda old, new: self._endpoints_changed(new),
                                   on_delete=self._endpoints_changed)
        self.informers.extend([self.pods, self.endpoints])

    # -- handlers -------------------------------------------------------------

    def _endpoints_changed(self, ep: Endpoints) -> None:
        # someone else changed (or deleted) Endpoints this controller owns: put them right
        if self.services.get(ep.metadata.namespace or "", ep.metadata.name or "") is not None:
            self.queue.add(key_of(ep))

    # -- reconcile --------------------------------------------------------------

    async def reconcile(self, key: Any) -> None:
        namespace, name = split_key(key)
        service = self.services.get(namespace, name)
        if service is None:
            await self._delete_endpoints(namespace, name)
            return
        selector = service.spec.selector if service.spec else None
        if selector is None:
            return  # a Service without selector: its Endpoints are managed by the user
        pods = [p for p in self.pods.list(namespace) if selects(service, p)]
        pods.sort(key=lambda p: p.metadata.name or "")
        subsets = service_subsets(service, pods)
        labels = endpoints_labels(service)
        current = self.endpoints.get(namespace, name)
        if current is None:
            await self._create(service, subsets, labels)
            return
        if (current.subsets or []) == subsets and (current.metadata.labels or None) == labels:
            return  # nothing changed: no write
        meta = msgspec.structs.replace(current.metadata, labels=labels)
        updated = msgspec.structs.replace(current, apiVersion="v1", kind="Endpoints", metadata=meta,
                                          subsets=subsets or None)
        try:
            await self.api.update(updated)
        except APIError as exc:
            if exc.code != 409:  # a 409 (stale cache) is just retried with back-off
                await self._failed(service, "FailedToUpdateEndpoint", "update", exc)
            raise
        await self._report(service, subsets, "Updated")

    async def _create(self, service: Service, subsets: list[Any], labels: dict[str, str] | None) -> None:
        meta = service.metadata
        ep = Endpoints(apiVersion="v1", kind="Endpoints",
                       metadata=ObjectMeta(name=meta.name, namespace=meta.namespace, labels=labels),
                       subsets=subsets or None)
        try:
            await self.api.create(ep)
        except APIError as exc:
            if exc.code == 403 and exc.reason == "Forbidden":
                return  # the namespace is terminating: nothing may be created in it
            if exc.code != 409:  # 409 AlreadyExists: the cache was behind; retried, then updated
                await self._failed(service, "FailedToCreateEndpoint", "create", exc)
            raise
        await self._report(service, subsets, "Created")

    async def _delete_endpoints(self, namespace: str, name: str) -> None:
        if self.endpoints.get(namespace, name) is None:
            return
        try:
            await self.api.delete(ENDPOINTS, namespace, name)
        except APIError as exc:
            if exc.code != 404:
                raise
        log.info("endpoints %s/%s deleted with their service", namespace, name)

    async def _failed(self, service: Service, reason: str, verb: str, exc: APIError) -> None:
        meta = service.metadata
        await self.notify.event(service, "v1", "Service", "Warning", reason,
                                f"Failed to {verb} endpoint {meta.namespace}/{meta.name}: {exc.message or exc}")

    async def _report(self, service: Service, subsets: list[Any], verb: str) -> None:
        ready = sum(len(s.addresses or ()) for s in subsets)
        not_ready = sum(len(s.notReadyAddresses or ()) for s in subsets)
        await self.notify.decision(
            CONTROLLER_NAME, service, "v1", "Service", f"Endpoints{verb}",
            f"{verb} Endpoints {service.metadata.name}: {ready} ready, {not_ready} not ready address(es)",
            ready=ready, notReady=not_ready,
        )


def new_controller(ctx: Any) -> EndpointsController:
    return EndpointsController(ctx.informers, ctx.api, Notifier(ctx.recorder, ctx.decisions))
