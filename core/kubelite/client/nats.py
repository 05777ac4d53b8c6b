"""The API over NATS, typed: what node components and controllers use to write.

Requests go to kubelite.api.<kind>.<name>.<verb>.<plural>, the caller's own API
subjects (kubelite.bus.identity; served by any apiserver replica in the queue group,
authorized as that caller); answers are the same bodies HTTP would give. Errors are
raised as `APIError` built from the Kubernetes Status the apiserver returned.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import msgspec

from kubelite import codec
from kubelite.api.meta import Object, Status
from kubelite.api.scheme import ResourceInfo, resolve
from kubelite.bus import api as wire
from kubelite.bus.identity import BusIdentity
from kubelite.errors import APIError, service_unavailable
from kubelite.tasks import wait_event

T = TypeVar("T", bound=Object)

_status_decoder = msgspec.json.Decoder(Status)


def build_request(
    verb: str,
    info: ResourceInfo,
    *,
    caller: BusIdentity,
    namespace: str = "",
    name: str = "",
    subresource: str = "",
    params: dict[str, str] | None = None,
    body: Any = None,
    content_type: str = "application/json",
) -> tuple[str, bytes]:
    """Pure: the subject and payload (an `APIRequest`) of one API call."""
    req = wire.APIRequest(
        verb=verb, resource=info.plural, group=info.group, version=info.version,
        namespace=namespace if info.namespaced else "", name=name, subresource=subresource,
        params=params or {}, body=wire.raw_body(body, codec.encode),
        # the default is left out of the JSON (omit_defaults compares by identity)
        **({} if content_type == "application/json" else {"contentType": content_type}),
    )
    return caller.api_subject(verb, info.plural), wire.encode_request(req)


def _info(resource: ResourceInfo | str) -> ResourceInfo:
    if isinstance(resource, ResourceInfo):
        return resource
    info = resolve(resource)
    if info is None:
        raise ValueError(f"unknown resource {resource!r}")
    return info


class NatsAPIClient:
    """`caller` is who the requests are from: the identity of `nc`'s certificate (a
    fake-node simulator's connection may speak for each of its nodes)."""

    def __init__(self, nc: Any, *, caller: BusIdentity, timeout: float = 10.0) -> None:
        self.nc = nc
        self.caller = caller
        self.timeout = timeout
        self.in_flight = 0  # requests sent and not answered yet (an EventRecorder yields to them)
        self._idle = asyncio.Event()
        self._idle.set()

    async def call(self, verb: str, info: ResourceInfo, **kw: Any) -> tuple[int, bytes]:
        subject, payload = build_request(verb, info, caller=self.caller, **kw)
        self.in_flight += 1
        self._idle.clear()
        try:
            msg = await self.nc.request(subject, payload, timeout=self.timeout)
        except Exception as exc:  # no responders, timeout, connection closed
            raise service_unavailable(f"apiserver not reachable over NATS ({type(exc).__name__}: {exc})") from None
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self._idle.set()
        reply = wire.response_decoder.decode(msg.data)
        body = bytes(reply.body)
        if reply.code >= 400:
            raise APIError.from_status(_status_decoder.decode(body))
        return reply.code, body

    async def wait_idle(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Until no request is in flight (True) or `timeout` seconds have passed (False)."""
        return await wait_event(self._idle, timeout)

    # Typed verbs --------------------------------------------------------------
    async def get(self, resource: ResourceInfo | str, namespace: str, name: str) -> Any:
        info = _info(resource)
        _, body = await self.call("get", info, namespace=namespace, name=name)
        return codec.decoder_for(info.type).decode(body)

    async def list(
        self,
        resource: ResourceInfo | str,
        namespace: str = "",
        *,
        label_selector: str = "",
        field_selector: str = "",
        resource_version: str = "",
    ) -> tuple[list[Any], str]:
        """All matching objects and the resourceVersion of the list. `resource_version` "0"
        accepts any version (the apiserver may answer from its cache, as client-go's reflector
        asks); "" is the most recent."""
        info = _info(resource)
        params = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        if resource_version:
            params["resourceVersion"] = resource_version
        _, body = await self.call("list", info, namespace=namespace, params=params)
        lst = msgspec.json.decode(body, type=_list_type(info.type))
        return lst.items, lst.metadata.get("resourceVersion", "")

    async def create(self, obj: Object, *, namespace: str = "") -> Any:
        info = _info_of(obj)
        _, body = await self.call("create", info, namespace=namespace or obj.metadata.namespace or "", body=obj)
        return codec.decoder_for(info.type).decode(body)

    async def update(self, obj: Object, *, subresource: str = "") -> Any:
        info = _info_of(obj)
        _, body = await self.call(
            "update", info, namespace=obj.metadata.namespace or "", name=obj.metadata.name or "",
            subresource=subresource, body=obj,
        )
        return codec.decoder_for(info.type).decode(body)

    async def update_status(self, obj: Object) -> Any:
        return await self.update(obj, subresource="status")

    async def patch(
        self,
        resource: ResourceInfo | str,
        namespace: str,
        name: str,
        patch: Any,
        *,
        patch_type: str = "merge",
        subresource: str = "",
    ) -> Any:
        info = _info(resource)
        _, body = await self.call(
            "patch", info, namespace=namespace, name=name, subresource=subresource,
            body=patch, content_type=wire.PATCH_CONTENT_TYPES.get(patch_type, patch_type),
        )
        return codec.decoder_for(info.type).decode(body)

    async def delete(
        self,
        resource: ResourceInfo | str,
        namespace: str,
        name: str,
        *,
        grace_period: int | None = None,
        propagation: str = "",
        uid: str = "",
    ) -> Any:
        info = _info(resource)
        params = {}
        if grace_period is not None:
            params["gracePeriodSeconds"] = str(grace_period)
        if propagation:
            params["propagationPolicy"] = propagation
        body = {"preconditions": {"uid": uid}} if uid else None
        _, raw = await self.call("delete", info, namespace=namespace, name=name, params=params, body=body)
        return msgspec.json.decode(raw)

    async def bind(self, namespace: str, pod: str, node: str) -> None:
        info = _info("pods")
        from kubelite.api.core_v1 import Binding, ObjectReference
        from kubelite.api.meta import ObjectMeta

        body = Binding(apiVersion="v1", kind="Binding", metadata=ObjectMeta(name=pod, namespace=namespace),
                       target=ObjectReference(apiVersion="v1", kind="Node", name=node))
        await self.call("create", info, namespace=namespace, name=pod, subresource="binding", body=body)


def _info_of(obj: Object) -> ResourceInfo:
    from kubelite.api.scheme import by_kind

    info = by_kind(obj.apiVersion or "", obj.kind or "") if obj.apiVersion else None
    if info is None:
        for candidate in _all():
            if candidate.type is type(obj):
                return candidate
        raise ValueError(f"cannot tell the resource of {type(obj).__name__}")
    return info


def _all() -> list[ResourceInfo]:
    from kubelite.api.scheme import all_resources

    return all_resources()


_LIST_TYPES: dict[type, type] = {}


def _list_type(item_type: type) -> type:
    tp = _LIST_TYPES.get(item_type)
    if tp is None:
        tp = msgspec.defstruct(
            item_type.__name__ + "List",
            [("metadata", dict, msgspec.field(default_factory=dict)),
             ("items", list[item_type], msgspec.field(default_factory=list))],
            kw_only=True,
        )
        _LIST_TYPES[item_type] = tp
    return tp
