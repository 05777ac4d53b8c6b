"""One file of a volume, as the pure volume functions compute it (content and mode)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VolumeFile:
    data: bytes
    mode: int
