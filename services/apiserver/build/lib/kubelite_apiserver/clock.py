"""Time and identity helpers for server-set fields."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' generateName alphabet


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def rfc3339(t: dt.datetime | None = None) -> str:
    return (t or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uid() -> str:
    return str(uuid.uuid4())


def generated_name(prefix: str) -> str:
    """generateName + 5 random characters, as Kubernetes' SimpleNameGenerator."""
    return prefix + "".join(secrets.choice(_NAME_CHARS) for _ in range(5))
