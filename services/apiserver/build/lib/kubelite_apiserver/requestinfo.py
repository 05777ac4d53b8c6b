"""Pure parsing of a Kubernetes API URL into what is being asked (RequestInfo).

Mirrors k8s.io/apiserver/pkg/endpoints/request.RequestInfoFactory so the same
URLs kubectl builds resolve the same way. No I/O here: tested without a server.
"""

from __future__ import annotations

from dataclasses import dataclass

# Subresources of a namespace object itself (/api/v1/namespaces/NAME/status).
NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


@dataclass(frozen=True, slots=True)
class RequestInfo:
    is_resource: bool
    path: str
    verb: str = ""  # get list watch create update patch delete deletecollection
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    name: str = ""
    subresource: str = ""


def parse_request(method: str, path: str, query: dict[str, str]) -> RequestInfo:
    """Split an API path; non-resource paths (/version, /api, /apis/apps) get is_resource=False."""
    parts = [p for p in path.strip("/").split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        return RequestInfo(False, path, verb=method.lower())
    if parts[0] == "api":
        if len(parts) < 3:  # /api, /api/v1
            return RequestInfo(False, path, verb=method.lower())
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 4:  # /apis, /apis/apps, /apis/apps/v1
            return RequestInfo(False, path, verb=method.lower())
        group, version, rest = parts[1], parts[2], parts[3:]

    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if resource == "namespaces":
        # /api/v1/namespaces/NAME[/status]: the namespace object itself is cluster-scoped.
        namespace = ""

    verb = _verb(method, bool(name), query)
    return RequestInfo(True, path, verb, group, version, namespace, resource, name, subresource)


def _verb(method: str, has_name: bool, query: dict[str, str]) -> str:
    method = method.upper()
    if method == "GET" or method == "HEAD":
        if query.get("watch") in ("true", "1", "True"):
            return "watch"
        return "get" if has_name else "list"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if has_name else "deletecollection"
    return method.lower()
