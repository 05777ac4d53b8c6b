"""CLI errors and the one line each becomes on stderr (kubectl's wording)."""

from __future__ import annotations

import httpx
import yaml

from kubelite.client.http import UnknownResourceError
from kubelite.client.kubeconfig import KubeconfigError
from kubelite.errors import APIError


class CLIError(Exception):
    """A user-facing error; printed as 'error: <message>'."""


def error_line(exc: BaseException) -> str:
    """Pure: the single stderr line for any exception that reaches the top."""
    return " ".join(part.strip() for part in _error_text(exc).splitlines() if part.strip())


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, APIError):
        reason = exc.reason or "Unknown"
        return f"Error from server ({reason}): {exc.message}"
    if isinstance(exc, CLIError | UnknownResourceError | KubeconfigError):
        return f"error: {exc}"
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        url = exc.request.url if _has_request(exc) else None
        where = f"{url.host}:{url.port}" if url is not None else "server"
        return (f"The connection to the server {where} was refused - "
                "did you specify the right host or port?")
    if isinstance(exc, httpx.HTTPError):
        return f"error: {type(exc).__name__}: {exc}"
    if isinstance(exc, yaml.YAMLError):
        return f"error: {exc}".splitlines()[0]
    return f"error: {str(exc) or type(exc).__name__}"


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018  (raises RuntimeError when unset)
    except RuntimeError:
        return False
    return True
