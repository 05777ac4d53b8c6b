"""The pods/proxy and services/proxy subresources: HTTP through the apiserver to a pod, or to a
ready endpoint of a Service (what `kubectl proxy` serves at
`/api/v1/namespaces/NS/services/NAME:PORT/proxy/...`).

The name part is Kubernetes' `[scheme:]name[:port]`: a pod's port is a number or a container
port's name (default: its first declared port, else 80); a Service's is a port number or name
(default: its first port), forwarded to a ready endpoint's target port. RBAC applies as to any
request: `get` (or the method's verb) on `pods/proxy` or `services/proxy`. The request's method,
path below `/proxy`, query, headers and body go to the backend; hop-by-hop headers and the
caller's credentials do not. The answer is streamed back. An https backend is not verified,
as Kubernetes' apiserver does not verify it either.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import httpx

from kubelite import errors
from kubelite.api.core_v1 import ENDPOINTS, PODS, SERVICES
from kubelite.errors import APIError

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "host", "authorization", "content-length", "impersonate-user",
                        "impersonate-group"})
TIMEOUT = httpx.Timeout(30.0, read=None)


@dataclass(frozen=True)
class Target:
    scheme: str
    name: str
    port: str  # "" (the default), a number or a port name


def parse_target(name: str) -> Target:
    """`web`, `web:8080`, `https:web:443`, `web:http` -> scheme, name, port."""
    parts = name.split(":")
    if len(parts) == 3:
        return Target(parts[0] or "http", parts[1], parts[2])
    if len(parts) == 2:
        return Target("http", parts[0], parts[1])
    return Target("http", name, "")


def _pod_port(pod: Any, port: str) -> int:
    declared = [p for c in (pod.spec.containers or []) for p in (c.ports or [])]
    if port.isdigit():
        return int(port)
    if port:
        found = next((p.containerPort for p in declared if p.name == port), None)
        if found is None:
            raise errors.bad_request(f"pod {pod.metadata.name} has no container port named {port!r}")
        return found
    return declared[0].containerPort if declared else 80


async def pod_address(reg: Any, namespace: str, target: Target) -> tuple[str, int]:
    pod = await reg.get(PODS, namespace, target.name)
    ip = pod.status.podIP if pod.status is not None else None
    if not ip:
        raise errors.service_unavailable(f"pod {target.name} has no IP address yet")
    return ip, _pod_port(pod, target.port)


async def service_address(reg: Any, namespace: str, target: Target) -> tuple[str, int]:
    svc = await reg.get(SERVICES, namespace, target.name)
    ports = (svc.spec.ports if svc.spec else None) or []
    port = next((p for p in ports if not target.port or str(p.port) == target.port or p.name == target.port), None)
    if port is None:
        raise errors.service_unavailable(f"no port {target.port!r} on service {target.name}")
    try:
        eps = await reg.get(ENDPOINTS, namespace, target.name)
    except APIError:
        eps = None
    choices = [(a.ip, ep.port) for sub in ((eps.subsets if eps else None) or []) for a in (sub.addresses or [])
               for ep in (sub.ports or []) if (ep.name or "") == (port.name or "") or len(sub.ports or []) == 1]
    if not choices:
        raise errors.service_unavailable(f'no endpoints available for service "{target.name}"')
    return random.choice(choices)


def forwarded_headers(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in headers if k.decode("latin-1").lower() not in HOP_BY_HOP}


def backend_path(path: str, query: bytes) -> str:
    """The part of `.../NAME/proxy/rest` below /proxy (at least "/"), with the query."""
    rest = path.split("/proxy", 1)[1] if "/proxy" in path else ""
    return (rest or "/") + (f"?{query.decode('latin-1')}" if query else "")


async def serve(reg: Any, info: Any, scope: dict, receive: Any, send: Any) -> None:
    """Forward one request (the caller has passed authentication and RBAC)."""
    target = parse_target(info.name)
    if target.scheme not in ("http", "https"):
        raise errors.bad_request(f"unsupported scheme {target.scheme!r} (http or https)")
    if info.resource == "pods":
        ip, port = await pod_address(reg, info.namespace, target)
    else:
        ip, port = await service_address(reg, info.namespace, target)
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    url = f"{target.scheme}://{ip}:{port}{backend_path(scope['path'], scope.get('query_string', b''))}"
    async with httpx.AsyncClient(verify=False, timeout=TIMEOUT) as client:
        try:
            request = client.build_request(scope["method"], url, headers=forwarded_headers(scope.get("headers", [])),
                                           content=bytes(body))
            response = await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise errors.service_unavailable(f"error trying to reach {info.resource[:-1]} {target.name}: {exc}") from exc
        try:
            headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()
                       if k.lower() not in HOP_BY_HOP]
            await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()
