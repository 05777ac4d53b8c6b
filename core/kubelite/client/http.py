"""A small Kubernetes REST client over httpx, sync (`APIClient`) and async (`AsyncAPIClient`).

Request building (`build_path`, `build_query`, `build_request`) and response
decoding (`decode_response`, `parse_watch_line`) are pure functions; the verbs
are written once (`_Verbs`) and the two client classes only move bytes. Objects are plain dicts (the JSON as the
server sent it), so the client works for every kind without the typed model.
Non-2xx answers raise `kubelite.errors.APIError` decoded from the Status body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
import msgspec

from kubelite.api.meta import Status
from kubelite.api.scheme import ResourceInfo, resolve
from kubelite.bus.api import PATCH_CONTENT_TYPES
from kubelite.errors import APIError

JSON = dict[str, Any]


# Python keyword -> Kubernetes query parameter, for every option the client passes on.
_QUERY_NAMES = {
    "label_selector": "labelSelector",
    "field_selector": "fieldSelector",
    "limit": "limit",
    "continue_": "continue",
    "resource_version": "resourceVersion",
    "resource_version_match": "resourceVersionMatch",
    "timeout_seconds": "timeoutSeconds",
    "allow_watch_bookmarks": "allowWatchBookmarks",
    "dry_run": "dryRun",
    "field_manager": "fieldManager",
    "propagation_policy": "propagationPolicy",
    "grace_period_seconds": "gracePeriodSeconds",
    "watch": "watch",
}


class UnknownResourceError(LookupError):
    """A resource name the scheme does not know."""

    def __init__(self, name: str) -> None:
        super().__init__(f'the server doesn\'t have a resource type "{name}"')
        self.name = name


def resource_info(resource: ResourceInfo | str) -> ResourceInfo:
    if isinstance(resource, ResourceInfo):
        return resource
    info = resolve(resource)
    if info is None:
        raise UnknownResourceError(resource)
    return info


def build_path(
    info: ResourceInfo,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    """/api/v1[/namespaces/NS]/PLURAL[/NAME[/SUB]] or /apis/GROUP/VERSION/...

    A namespaced resource without namespace lists across all namespaces.
    """
    root = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
    parts = [root]
    if info.namespaced and namespace:
        parts.append(f"namespaces/{namespace}")
    parts.append(info.plural)
    if name:
        parts.append(name)
        if subresource:
            parts.append(subresource)
    return "/".join(parts)


def build_query(**options: Any) -> dict[str, str]:
    """Keyword options (None = absent) -> Kubernetes query parameters, as strings."""
    query: dict[str, str] = {}
    for key, value in options.items():
        if value is None or value is False:
            continue
        if key not in _QUERY_NAMES:
            raise TypeError(f"unknown query option {key!r}")
        if key == "dry_run":
            value = "All" if value is True else value
        if isinstance(value, bool):
            value = "true" if value else "false"
        query[_QUERY_NAMES[key]] = str(value)
    return query


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    content_type: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.content_type:
            headers["Content-Type"] = self.content_type
        return headers


def _json_body(obj: Any) -> bytes:
    return msgspec.json.encode(obj)


def build_request(
    verb: str,
    info: ResourceInfo,
    namespace: str | None = None,
    name: str | None = None,
    body: Any = None,
    subresource: str | None = None,
    patch_type: str = "merge",
    **options: Any,
) -> Request:
    """Pure: one API call (get/list/create/update/patch/delete/watch) as a `Request`."""
    ns = namespace if info.namespaced else None
    if verb == "get":
        return Request("GET", build_path(info, ns, name, subresource), build_query(**options))
    if verb == "list":
        return Request("GET", build_path(info, ns), build_query(**options))
    if verb == "watch":
        # One object is watched through the collection with a name field selector,
        # as client-go does (the /watch/NAME form is deprecated).
        if name:
            by_name = f"metadata.name={name}"
            extra = options.pop("field_selector", None)
            options["field_selector"] = f"{by_name},{extra}" if extra else by_name
        return Request("GET", build_path(info, ns), build_query(watch=True, **options))
    if verb == "create":
        path = build_path(info, ns, name, subresource) if subresource else build_path(info, ns)
        return Request("POST", path, build_query(**options), _json_body(body), "application/json")
    if verb == "update":
        return Request(
            "PUT", build_path(info, ns, name, subresource), build_query(**options),
            _json_body(body), "application/json",
        )
    if verb == "patch":
        content_type = PATCH_CONTENT_TYPES[patch_type]
        return Request(
            "PATCH", build_path(info, ns, name, subresource), build_query(**options),
            _json_body(body), content_type,
        )
    if verb == "delete":
        # kubectl sends DeleteOptions as the body; the same values go in the query
        # so either form of server parsing sees them.
        opts: JSON = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if options.get("grace_period_seconds") is not None:
            opts["gracePeriodSeconds"] = int(options["grace_period_seconds"])
        if options.get("propagation_policy"):
            opts["propagationPolicy"] = options["propagation_policy"]
        if options.get("dry_run"):
            opts["dryRun"] = ["All"]
        return Request(
            "DELETE", build_path(info, ns, name), build_query(**options),
            _json_body(opts), "application/json",
        )
    raise ValueError(f"unknown verb {verb!r}")


def error_from_response(status_code: int, content: bytes, reason_phrase: str = "") -> APIError:
    """Pure: the APIError for a non-2xx answer (a Status body if there is one)."""
    try:
        status = msgspec.json.decode(content, type=Status)
        if status.kind == "Status" and (status.message or status.reason):
            if status.code is None:
                status.code = status_code
            return APIError.from_status(status)
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass
    text = content.decode(errors="replace").strip()
    reason = _REASONS.get(status_code, reason_phrase or "Unknown")
    message = text or reason_phrase or f"HTTP {status_code}"
    return APIError(status_code, reason, message)


# Kubernetes' reason for a bare HTTP code (apimachinery errors.NewGenericServerResponse).
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def decode_response(status_code: int, content: bytes, reason_phrase: str = "") -> JSON:
    """Pure: the JSON body of a 2xx answer, or raise the APIError of any other."""
    if not 200 <= status_code < 300:
        raise error_from_response(status_code, content, reason_phrase)
    if not content:
        return {}
    return msgspec.json.decode(content)


def parse_watch_line(line: str | bytes) -> tuple[str, JSON] | None:
    """One line of a `?watch=true` stream -> (type, object); an ERROR event raises."""
    if isinstance(line, bytes):
        line = line.decode()
    line = line.strip()
    if not line:
        return None
    event = msgspec.json.decode(line)
    etype, obj = event.get("type", ""), event.get("object") or {}
    if etype == "ERROR":
        raise error_from_response(int(obj.get("code") or 500), msgspec.json.encode(obj))
    return etype, obj


JSONOrAwaitable = TypeVar("JSONOrAwaitable")


class _Verbs(Generic[JSONOrAwaitable]):
    """The verbs, written once for both clients (lightkube's generic_client pattern):
    each builds a pure `Request` and hands it to `send`, which the sync client answers
    with the JSON and the async one with an awaitable of it.

    Argument order is (resource, namespace, name), as in the NATS client; a
    cluster-scoped resource takes namespace None (or "")."""

    def send(self, req: Request) -> JSONOrAwaitable:
        raise NotImplementedError

    def get(self, resource: ResourceInfo | str, namespace: str | None, name: str,
            subresource: str | None = None, **options: Any) -> JSONOrAwaitable:
        return self.send(build_request("get", resource_info(resource), namespace, name,
                                       subresource=subresource, **options))

    def list(self, resource: ResourceInfo | str, namespace: str | None = None,
             **options: Any) -> JSONOrAwaitable:
        return self.send(build_request("list", resource_info(resource), namespace, **options))

    def create(self, resource: ResourceInfo | str, namespace: str | None, body: JSON,
               **options: Any) -> JSONOrAwaitable:
        return self.send(build_request("create", resource_info(resource), namespace, body=body,
                                       **options))

    def update(self, resource: ResourceInfo | str, namespace: str | None, name: str, body: JSON,
               subresource: str | None = None, **options: Any) -> JSONOrAwaitable:
        return self.send(build_request("update", resource_info(resource), namespace, name, body,
                                       subresource=subresource, **options))

    def patch(self, resource: ResourceInfo | str, namespace: str | None, name: str, body: Any,
              patch_type: str = "merge", subresource: str | None = None,
              **options: Any) -> JSONOrAwaitable:
        return self.send(build_request("patch", resource_info(resource), namespace, name, body,
                                       subresource=subresource, patch_type=patch_type,
                                       **options))

    def delete(self, resource: ResourceInfo | str, namespace: str | None, name: str,
               **options: Any) -> JSONOrAwaitable:
        return self.send(build_request("delete", resource_info(resource), namespace, name,
                                       **options))


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _stream_timeout(idle_timeout: float | None) -> httpx.Timeout:
    return httpx.Timeout(10.0, read=idle_timeout)


class APIClient(_Verbs[JSON]):
    """Blocking client; `with APIClient(server) as api: api.get("pods", "default", "x")`.
    `tls`: the ssl.SSLContext for an https server (kubeconfig's ClusterConfig.ssl_context())."""

    def __init__(self, server: str, timeout: float = 30.0, token: str | None = None, tls: Any = None) -> None:
        self.server = server.rstrip("/")
        self._http = httpx.Client(base_url=self.server, timeout=timeout, headers=_headers(token),
                                  verify=tls if tls is not None else True)

    def __enter__(self) -> APIClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, req: Request) -> JSON:
        resp = self._http.request(
            req.method, req.path, params=req.params, content=req.body, headers=req.headers
        )
        return decode_response(resp.status_code, resp.content, resp.reason_phrase)

    def raw_get(self, path: str) -> JSON:
        """GET any path (/version, discovery)."""
        return self.send(Request("GET", path))

    def watch(self, resource: ResourceInfo | str, namespace: str | None = None,
              name: str | None = None, idle_timeout: float | None = None,
              **options: Any) -> Iterator[tuple[str, JSON]]:
        """Yield (type, object) until the server ends the stream.

        `idle_timeout`: give up (httpx.ReadTimeout) when no line came for that long.
        """
        req = build_request("watch", resource_info(resource), namespace, name, **options)
        with self._http.stream(req.method, req.path, params=req.params, headers=req.headers,
                               timeout=_stream_timeout(idle_timeout)) as resp:
            if resp.status_code >= 300:
                resp.read()
                raise error_from_response(resp.status_code, resp.content, resp.reason_phrase)
            for line in resp.iter_lines():
                event = parse_watch_line(line)
                if event is not None:
                    yield event


class AsyncAPIClient(_Verbs[Awaitable[JSON]]):
    """The same verbs for asyncio code; `async with AsyncAPIClient(server) as api: await api.get(...)`."""

    def __init__(self, server: str, timeout: float = 30.0, token: str | None = None, tls: Any = None) -> None:
        self.server = server.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.server, timeout=timeout, headers=_headers(token),
                                       verify=tls if tls is not None else True)

    async def __aenter__(self) -> AsyncAPIClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def send(self, req: Request) -> JSON:  # type: ignore[override]
        resp = await self._http.request(
            req.method, req.path, params=req.params, content=req.body, headers=req.headers
        )
        return decode_response(resp.status_code, resp.content, resp.reason_phrase)

    async def raw_get(self, path: str) -> JSON:
        return await self.send(Request("GET", path))

    async def watch(self, resource: ResourceInfo | str, namespace: str | None = None,
                    name: str | None = None, idle_timeout: float | None = None,
                    **options: Any) -> AsyncIterator[tuple[str, JSON]]:
        req = build_request("watch", resource_info(resource), namespace, name, **options)
        async with self._http.stream(req.method, req.path, params=req.params,
                                     headers=req.headers,
                                     timeout=_stream_timeout(idle_timeout)) as resp:
            if resp.status_code >= 300:
                await resp.aread()
                raise error_from_response(resp.status_code, resp.content, resp.reason_phrase)
            async for line in resp.aiter_lines():
                event = parse_watch_line(line)
                if event is not None:
                    yield event


def log_params(
    container: str = "", follow: bool = False, tail_lines: int | None = None,
    previous: bool = False, timestamps: bool = False,
) -> dict[str, str]:
    """Query of GET pods/NAME/log (pure)."""
    params: dict[str, str] = {}
    if container:
        params["container"] = container
    if follow:
        params["follow"] = "true"
    if tail_lines is not None and tail_lines >= 0:
        params["tailLines"] = str(tail_lines)
    if previous:
        params["previous"] = "true"
    if timestamps:
        params["timestamps"] = "true"
    return params


def stream_pod_logs(api: APIClient, namespace: str, pod: str, **options: Any) -> Iterator[bytes]:
    """Yield a container's log as it arrives (GET .../pods/NAME/log); errors raise APIError."""
    path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
    with api._http.stream("GET", path, params=log_params(**options),
                          timeout=httpx.Timeout(10.0, read=None)) as resp:
        if resp.status_code >= 300:
            resp.read()
            raise error_from_response(resp.status_code, resp.content, resp.reason_phrase)
        yield from resp.iter_bytes()
