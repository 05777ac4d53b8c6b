"""From parsed flags to a service's options object, one field per flag."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def options_from(args: argparse.Namespace, cls: type[T], **overrides: Any) -> T:
    """`cls(field=args.field, ...)` for every field of `cls` (a dataclass or msgspec Struct)
    that a flag set, then `overrides` for the ones that need converting."""
    if dataclasses.is_dataclass(cls):
        names = [f.name for f in dataclasses.fields(cls)]
    else:
        names = list(cls.__struct_fields__)  # type: ignore[attr-defined]
    values = {n: getattr(args, n) for n in names if hasattr(args, n)}
    return cls(**{**values, **overrides})
