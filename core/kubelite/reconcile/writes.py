"""The writes every controller makes the same way: an object sent with its apiVersion and kind
(informer caches may hold them without), and a status write that shrugs off an object deleted
meanwhile."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from kubelite.api.scheme import by_type
from kubelite.errors import APIError

T = TypeVar("T")


def typed(obj: T) -> T:
    """`obj` with the apiVersion and kind its type is registered under."""
    info = by_type(type(obj))
    if info is None:
        return obj
    return msgspec.structs.replace(obj, apiVersion=info.api_version, kind=info.kind)  # type: ignore[type-var]


async def write_status(api: Any, obj: T, status: Any) -> T | None:
    """PUT `obj` with `status` to its status subresource; None when the object is gone (404)."""
    try:
        return await api.update_status(typed(msgspec.structs.replace(obj, status=status)))  # type: ignore[type-var]
    except APIError as exc:
        if exc.code == 404:
            return None
        raise
