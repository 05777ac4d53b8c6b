"""Time and identity helpers for server-set fields."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

from kubelite import timefmt

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' generateName alphabet


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def rfc3339(t: dt.datetime | None = None) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t is not None else timefmt.rfc3339()


def new_uid() -> str:
    return str(uuid.uuid4())


MAX_NAME_LENGTH = 63
RANDOM_LENGTH = 5
MAX_GENERATED_BASE = MAX_NAME_LENGTH - RANDOM_LENGTH  # 58, as Kubernetes' SimpleNameGenerator


def generated_name(prefix: str) -> str:
    """generateName (cut to 58 characters) + 5 random characters, as Kubernetes does."""
    base = prefix[:MAX_GENERATED_BASE]
    return base + "".join(secrets.choice(_NAME_CHARS) for _ in range(RANDOM_LENGTH))
