"""Clients of the kubelite API, one surface in two transports.

    from kubelite.client import APIClient, AsyncAPIClient, NatsAPIClient

- `APIClient` / `AsyncAPIClient` (http.py): Kubernetes REST over HTTP, for people,
  the CLI and tests; objects are plain dicts.
- `NatsAPIClient` (nats.py): the same API over NATS request-reply (kubelite.bus.api),
  for components; objects are the typed msgspec Structs.

Every verb takes (resource, namespace, name) in that order; a cluster-scoped
resource takes namespace None or "". Errors raise `kubelite.errors.APIError`.
Names are imported lazily, so a NATS-only component does not load httpx.
"""

from __future__ import annotations

from typing import Any

__all__ = ["APIClient", "APIError", "AsyncAPIClient", "NatsAPIClient"]

_WHERE = {"APIClient": "http", "AsyncAPIClient": "http", "NatsAPIClient": "nats"}


def __getattr__(name: str) -> Any:
    if name == "APIError":
        from kubelite.errors import APIError

        return APIError
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"kubelite.client.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'kubelite.client' has no attribute {name!r}")
