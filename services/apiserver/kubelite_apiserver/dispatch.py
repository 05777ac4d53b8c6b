"""One entry point for every resource request, whatever the transport.

HTTP (http.py) and NATS request-reply (natsrpc.py) both build an `APIRequest`
and call `dispatch`, so the two give byte-for-byte the same answers. Watch is
streamed and lives in watch.py.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from kubelite import codec, errors
from kubelite.api.crd import registration
from kubelite.api.labels import selector_from_label_selector
from kubelite.api.scheme import ResourceInfo, by_plural
from kubelite.api.versions import ServedVersion, alternate
from kubelite.bus.api import APIRequest, body_bytes
from kubelite.errors import APIError
from kubelite.storage import KeyNotFound, RevisionMismatch, StorageError
from kubelite_apiserver import apiservices, metricsapi, params
from kubelite_apiserver.eviction import evict
from kubelite_apiserver.podconditions import set_pod_condition
from kubelite_apiserver.registry import Registry, conflict_retries

log = logging.getLogger("kubelite.apiserver")


def status_body(err: APIError) -> bytes:
    return codec.encode(err.to_status())


def success_status(details: dict | None = None) -> bytes:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        body["details"] = details
    return msgspec.json.encode(body)


def resolve(req: APIRequest) -> ResourceInfo:
    """The stored resource a request names (at its own version, or at one kubelite.api.versions serves)."""
    info = by_plural(req.group, req.resource)
    if info is None or (info.version != req.version and alternate(req.group, req.version, req.resource) is None):
        raise errors.no_such_resource()
    if req.namespace and not info.namespaced:
        raise errors.no_such_resource()
    if req.subresource and req.subresource not in info.subresources:
        raise errors.no_such_resource()
    if not req.subresource and req.verb not in info.verbs:
        raise errors.method_not_allowed(f"{req.verb} is not supported on {info.group_resource}")
    return info


async def dispatch(reg: Registry, req: APIRequest, body: bytes | None = None) -> tuple[int, bytes]:
    """Serve one request; every error becomes a Kubernetes Status with its HTTP code."""
    if body is None:
        body = body_bytes(req)
    try:
        served = alternate(req.group, req.version, req.resource)
        if served is not None:
            return await _dispatch_served(reg, req, body or b"", served)
        return await _dispatch(reg, req, body or b"")
    except APIError as exc:
        return exc.code, status_body(exc)
    except StorageError as exc:
        log.warning("storage error on %s %s: %s", req.verb, req.resource, exc)
        return 503, status_body(errors.service_unavailable(f"storage unavailable: {exc}"))
    except Exception as exc:  # never a traceback to the client; log it here
        log.exception("internal error on %s %s/%s", req.verb, req.resource, req.name)
        return 500, status_body(errors.internal(str(exc) or type(exc).__name__))


async def _dispatch_served(reg: Registry, req: APIRequest, body: bytes, served: ServedVersion) -> tuple[int, bytes]:
    """A request at a version other than the stored one (autoscaling/v1): its body converted to
    the stored version, a patch applied to the object as this version shows it, the answer
    converted back. The scale subresource is version-free and passes through."""
    stored = msgspec.structs.replace(req, version=served.storage_version)
    if req.subresource == "scale":
        return await _dispatch(reg, stored, body)
    if req.verb in ("create", "update") and body.strip():
        doc = codec.decode_body(body, req.contentType, dict)
        if not isinstance(doc, dict):
            raise errors.bad_request(f"the body must be a {served.api_version} object")
        body = msgspec.json.encode(_converted(served.to_storage, doc))
        stored = msgspec.structs.replace(stored, contentType="application/json")
    code, out = await _dispatch(reg, stored, body, view=served if req.verb == "patch" else None)
    return code, (answer_as(served, out) if code < 300 else out)


def _converted(convert: Any, doc: dict) -> dict:
    try:
        return convert(doc)
    except ValueError as exc:
        raise errors.bad_request(str(exc)) from None


def answer_as(served: ServedVersion, body: bytes) -> bytes:
    """An answer of the stored version (an object, a list, a watch event's object) as `served`."""
    doc = msgspec.json.decode(body)
    if not isinstance(doc, dict):
        return body
    if isinstance(doc.get("items"), list):
        doc["items"] = [served.from_storage(i) for i in doc["items"]]
        doc["apiVersion"] = served.api_version
    elif isinstance(doc.get("object"), dict) and "type" in doc:  # a watch event
        if doc["object"].get("kind") != "Status":
            doc["object"] = served.from_storage(doc["object"])
    elif doc.get("kind") not in (None, "Status"):
        doc = served.from_storage(doc)
    return msgspec.json.encode(doc)


async def _dispatch(reg: Registry, req: APIRequest, body: bytes, *, view: ServedVersion | None = None
                    ) -> tuple[int, bytes]:
    info = resolve(req)
    if info.extra.get("computed") == "apiservices":
        return apiservices.serve(req)
    if info.extra.get("metrics"):
        if reg.metrics is None:
            raise errors.service_unavailable("the resource metrics API is not running")
        return await metricsapi.serve(reg.metrics, reg, req)
    q = req.params
    ns = req.namespace
    if info.namespaced and not ns and req.verb not in ("list", "watch", "deletecollection"):
        if req.verb == "create" and body:
            ns = ""  # taken from the object (or default) below
        else:
            raise errors.no_such_resource()
    sub = req.subresource
    verb = req.verb
    if verb == "get":
        if sub == "scale":
            obj, _kv = await reg.get_object(info, ns, req.name)
            return 200, msgspec.json.encode(scale_for(info, obj))
        if sub not in ("", "status", "ephemeralcontainers"):
            raise errors.method_not_allowed(f"{sub} is not supported by this server")
        return 200, codec.encode(await reg.get(info, ns, req.name))
    if verb == "list":
        return 200, await list_body(reg, info, ns, params.list_options(q))
    dry = params.dry_run(q)
    manager = field_manager(req)
    if verb == "create" and info.kind == "Binding":
        # POST .../bindings names the pod in the Binding's metadata.name.
        pod_info = by_plural("", "pods")
        doc = codec.decode_body(body, req.contentType, dict)
        pod_name = ((doc.get("metadata") or {}).get("name") or "") if isinstance(doc, dict) else ""
        return await bind_pod(reg, pod_info, ns, pod_name, body, req.contentType)
    if verb == "create":
        if sub == "binding":
            return await bind_pod(reg, info, ns, req.name, body, req.contentType)
        if sub == "eviction":
            return await evict(reg, ns, req.name, body, req.contentType)
        if sub:
            raise errors.method_not_allowed(f"create is not supported on {sub}")
        _strict_custom(info, q, body, req.contentType)
        obj = codec.decode_body(body, req.contentType, info.type)
        if req.name and obj.metadata.name and obj.metadata.name != req.name:
            raise errors.bad_request("the name of the object does not match the name on the URL")
        created = await reg.create(
            info, ns or (obj.metadata.namespace or "default"), obj, dry_run=dry, manager=manager)
        return 201, codec.encode(created)
    if verb == "update":
        if sub == "scale":
            return await update_scale(reg, info, ns, req.name, body, req.contentType, dry)
        _strict_custom(info, q, body, req.contentType)
        obj = codec.decode_body(body, req.contentType, info.type)
        updated, created = await reg.update(
            info, ns, req.name, obj, subresource=sub, dry_run=dry, manager=manager)
        return (201 if created else 200), codec.encode(updated)
    if verb == "patch":
        if sub == "scale":
            return await patch_scale(reg, info, ns, req.name, body, req.contentType, dry)
        patched, created = await reg.patch(
            info, ns, req.name, body, req.contentType, subresource=sub, dry_run=dry,
            manager=manager, force=params.force(q), view=view)
        return (201 if created else 200), codec.encode(patched)  # a server-side apply that creates is a 201
    if verb == "delete":
        opts = codec.parse_json_value(body) if body.strip() else None
        if opts is not None and not isinstance(opts, dict):
            raise errors.bad_request("DeleteOptions must be a JSON object")
        dry = dry or params.dry_run_option(opts)  # kubectl sends it in DeleteOptions
        deleted = await reg.delete(
            info, ns, req.name,
            grace=params.grace_period(q, opts),
            propagation=params.propagation_policy(q, opts),
            preconditions=(opts or {}).get("preconditions"),
            dry_run=dry,
        )
        return 200, codec.encode(deleted)
    if verb == "deletecollection":
        opts = codec.parse_json_value(body) if body.strip() else None
        dry = dry or params.dry_run_option(opts if isinstance(opts, dict) else None)
        listing = params.list_options(q)
        params.check_list_options(listing)  # before anything is deleted
        result = await reg.list(info, ns, listing)
        for raw in result.items:
            item = codec.decoder_for(info.type).decode(raw)
            try:
                await reg.delete(
                    info, item.metadata.namespace or "", item.metadata.name or "",
                    grace=params.grace_period(q, opts),
                    propagation=params.propagation_policy(q, opts), dry_run=dry,
                )
            except APIError as exc:
                if exc.code != 404:
                    raise
        return 200, success_status()
    raise errors.method_not_allowed(f"verb {verb} is not supported")


def _strict_custom(info: ResourceInfo, query: dict[str, str], body: bytes, content_type: str) -> None:
    """fieldValidation=Strict (kubectl's default) on a custom object: fields its schema would
    prune are an error, as Kubernetes' "strict decoding error" (otherwise they are pruned)."""
    custom = registration.of(info)
    if custom is None or query.get("fieldValidation") != "Strict" or not body.strip():
        return
    doc = codec.decode_body(body, content_type, dict)
    unknown = custom.unknown_fields(doc) if isinstance(doc, dict) else []
    if unknown:
        raise errors.bad_request("strict decoding error: " + ", ".join(f'unknown field "{f}"' for f in unknown))


def field_manager(req: APIRequest) -> str | None:
    """`fieldManager`, else the User-Agent's product (Kubernetes' default). Callers with
    neither (kubelite's own components over NATS) are not tracked: that keeps their
    high-rate writes free of the bookkeeping."""
    name = req.params.get("fieldManager") or ""
    if not name and req.userAgent:
        from kubelite_apiserver.apply import manager_from_user_agent

        name = manager_from_user_agent(req.userAgent)
    if len(name) > 128:
        raise errors.invalid_object(
            "PatchOptions" if req.verb == "patch" else "CreateOptions", "",
            [errors.invalid("fieldManager", name, "must be at most 128 characters")],
            "meta.k8s.io")
    return name or None


async def list_body(reg: Registry, info: ResourceInfo, ns: str, opts: params.ListOptions) -> bytes:
    params.check_list_options(opts)
    result = await reg.list(info, ns, opts)
    meta: dict[str, Any] = {"resourceVersion": str(result.resource_version)}
    if result.continue_token:
        meta["continue"] = result.continue_token
    if result.remaining is not None:
        meta["remainingItemCount"] = result.remaining
    head = msgspec.json.encode(
        {"apiVersion": info.api_version, "kind": info.list_kind, "metadata": meta}
    )
    return splice_items(head, result.items)


def splice_items(head: bytes, items: list[bytes]) -> bytes:
    """The encoded list `head` ({...}) with `items` (each already encoded) as its "items", in one
    copy: at 150,000 pods the body is 343 MB, and `a + b.join(items) + c` made two."""
    opening = head[:-1] + b',"items":['
    if not items:
        return opening + b"]}"
    if len(items) == 1:
        return opening + items[0] + b"]}"
    return b",".join([opening + items[0], *items[1:-1], items[-1] + b"]}"])


# ------------------------------------------------------------------- binding
async def bind_pod(
    reg: Registry, info: ResourceInfo, ns: str, name: str, body: bytes, content_type: str
) -> tuple[int, bytes]:
    """pods/binding: set spec.nodeName once and mark PodScheduled, as the scheduler asks."""
    binding = codec.decode_body(body, content_type, dict)
    target = (binding.get("target") or {}) if isinstance(binding, dict) else {}
    node = target.get("name")
    if not node:
        raise errors.invalid_object(
            "Binding", name, [errors.required("target.name")]
        )
    if target.get("kind", "Node") != "Node":
        raise errors.invalid_object(
            "Binding", name, [errors.not_supported("target.kind", target.get("kind"), ["Node"])]
        )
    fresh = False
    for _ in conflict_retries():
        kv, cached = await reg.read_for_update(info, ns, name, fresh=fresh)
        fresh = True
        if kv is None:
            raise errors.not_found(info.group_resource, name)
        pod = reg.decode(info, kv)
        if pod.metadata.deletionTimestamp or pod.spec.nodeName:
            if cached:
                continue  # decided again on etcd's copy (Registry.read_for_update)
            if pod.metadata.deletionTimestamp:
                raise errors.conflict("pods", name, "pod is being deleted, cannot be assigned to a host")
            raise errors.conflict(
                "pods", name, f'pod {name} is already assigned to node "{pod.spec.nodeName}"'
            )
        pod.spec.nodeName = node
        set_pod_condition(pod, "PodScheduled", "True")
        pod.metadata.resourceVersion = None
        try:
            rev = await reg.store.update(kv.key, codec.encode(pod), expected_revision=kv.mod_revision)
        except (RevisionMismatch, KeyNotFound):
            continue
        pod.metadata.resourceVersion = str(rev)
        await reg.announce(info, "MODIFIED", pod, codec.encode(pod))
        return 201, success_status()
    raise errors.conflict("pods", name, "too many concurrent writers; try again")


# --------------------------------------------------------------------- scale
def scale_for(info: ResourceInfo, obj: Any) -> dict[str, Any]:
    """The Scale of a workload, or of a custom object at its CRD's scale paths."""
    custom = registration.of(info)
    return custom.scale_of(obj) if custom is not None else scale_of(obj)


def scale_of(obj: Any) -> dict[str, Any]:
    m = obj.metadata
    selector = ""
    sel = getattr(obj.spec, "selector", None)
    if isinstance(sel, dict):  # a ReplicationController's label map
        selector = ",".join(f"{k}={v}" for k, v in sorted(sel.items()))
    elif sel is not None:
        selector = str(selector_from_label_selector(sel))
    status = getattr(obj, "status", None)
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m.name, "namespace": m.namespace, "uid": m.uid,
            "resourceVersion": m.resourceVersion, "creationTimestamp": m.creationTimestamp,
        },
        "spec": {"replicas": obj.spec.replicas if obj.spec.replicas is not None else 1},
        "status": {"replicas": (getattr(status, "replicas", None) or 0), "selector": selector},
    }


def _replicas_from_scale(scale: Any, name: str) -> int:
    replicas = ((scale or {}).get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise errors.invalid_object(
            "Scale", name,
            [errors.invalid("spec.replicas", replicas, "must be greater than or equal to 0")],
            "autoscaling",
        )
    return replicas


async def _set_replicas(reg, info, ns, name, replicas: int, rv: str | None, dry: bool) -> tuple[int, bytes]:
    # Without a resourceVersion from the client (PATCH), a concurrent write (say, a
    # controller's status update) is not the client's conflict: re-read and retry.
    for _ in conflict_retries():
        obj, _kv = await reg.get_object(info, ns, name)
        if rv and rv != obj.metadata.resourceVersion:
            raise errors.conflict(info.group_resource, name)
        custom = registration.of(info)
        if custom is not None:
            obj = custom.with_replicas(obj, replicas)
        else:
            obj.spec.replicas = replicas
        try:
            updated, _ = await reg.update(info, ns, name, obj, dry_run=dry)
        except APIError as exc:
            if exc.code == 409 and not rv:
                continue
            raise
        return 200, msgspec.json.encode(scale_for(info, updated))
    raise errors.conflict(info.group_resource, name, "too many concurrent writers; try again")


async def update_scale(reg, info, ns, name, body, content_type, dry) -> tuple[int, bytes]:
    scale = codec.decode_body(body, content_type, dict)
    rv = ((scale.get("metadata") or {}).get("resourceVersion")) if isinstance(scale, dict) else None
    return await _set_replicas(reg, info, ns, name, _replicas_from_scale(scale, name), rv, dry)


async def patch_scale(reg, info, ns, name, body, content_type, dry) -> tuple[int, bytes]:
    from kubelite.api import patch as patching

    obj, _kv = await reg.get_object(info, ns, name)
    current = scale_for(info, obj)
    doc = codec.parse_json_value(body)
    ctype = content_type.split(";")[0].strip()
    try:
        if ctype == "application/json-patch+json":
            patched = patching.json_patch(current, doc)
        elif ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            patched = patching.json_merge_patch(current, doc)
        else:
            raise errors.unsupported_media_type(content_type)
    except patching.PatchError as exc:
        raise APIError(422, "Invalid", f"the patch could not be applied: {exc}") from None
    return await _set_replicas(reg, info, ns, name, _replicas_from_scale(patched, name), None, dry)
