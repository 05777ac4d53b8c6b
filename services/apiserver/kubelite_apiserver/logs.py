"""GET /api/v1/namespaces/{ns}/pods/{name}/log: streamed from the pod's node agent over NATS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from kubelite import errors
from kubelite.api.scheme import by_plural
from kubelite.client.logs import LogRequest, stream_logs
from kubelite_apiserver.registry import Registry

_TRUE = ("true", "1", "True")


def _int_or_none(query: dict[str, str], key: str) -> int | None:
    raw = query.get(key)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise errors.bad_request(f"invalid value for {key}: {raw!r}") from None


def log_request(namespace: str, pod: str, query: dict[str, str]) -> LogRequest:
    """PodLogOptions from the query string (pure)."""
    return LogRequest(
        namespace=namespace,
        pod=pod,
        container=query.get("container", ""),
        follow=query.get("follow") in _TRUE,
        tailLines=_int_or_none(query, "tailLines"),
        previous=query.get("previous") in _TRUE,
        timestamps=query.get("timestamps") in _TRUE,
        sinceSeconds=_int_or_none(query, "sinceSeconds"),
        limitBytes=_int_or_none(query, "limitBytes"),
    )


async def pod_log_stream(reg: Registry, nc: Any, namespace: str, name: str, query: dict[str, str]) -> tuple[bytes, AsyncIterator[bytes]]:
    """The first chunk (so errors surface before a 200 is sent) and the rest of the stream."""
    pod = await reg.get(by_plural("", "pods"), namespace, name)
    node = getattr(pod.spec, "nodeName", None)
    if not node:
        raise errors.bad_request(f'pod {name} does not have a host assigned')
    stream = stream_logs(nc, node, log_request(namespace, name, query))
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        first = b""
    return first, stream
