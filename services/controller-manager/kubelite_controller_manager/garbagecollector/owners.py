"""Garbage collector decisions, pure: what to do with a dependent given its owners' states."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


class OwnerState(StrEnum):
    SOLID = "solid"  # exists and is not waiting for its dependents
    ABSENT = "absent"  # gone, or the name now belongs to another object (uid differs)
    WAITING = "waiting"  # being deleted in the foreground: its dependents must go first
    UNKNOWN = "unknown"  # a kind the collector cannot look up: never collect on it


def owner_state(owner: Any | None, uid: str) -> OwnerState:
    if owner is None or owner.metadata.uid != uid:
        return OwnerState.ABSENT
    meta = owner.metadata
    if meta.deletionTimestamp and FOREGROUND in (meta.finalizers or ()):
        return OwnerState.WAITING
    return OwnerState.SOLID


@dataclass
class Verdict:
    """attemptToDeleteItem's outcome: keep (possibly dropping some references) or delete."""

    delete: bool = False
    propagation: str = ""  # for delete: Background or Foreground
    drop_refs: list[str] = field(default_factory=list)  # owner uids to remove (when kept)


def judge(states: Sequence[tuple[str, OwnerState]], has_dependents: bool) -> Verdict:
    """`states`: (owner uid, state) for each ownerReference of the dependent.

    With a solid (or unknown) owner left the dependent stays, and references to absent
    and waiting owners are removed. Otherwise it is deleted: in the foreground when a
    waiting owner needs its own dependents gone first, else in the background.
    """
    if not states:
        return Verdict()
    keep = [uid for uid, s in states if s in (OwnerState.SOLID, OwnerState.UNKNOWN)]
    if keep:
        drop = [uid for uid, s in states if s in (OwnerState.ABSENT, OwnerState.WAITING)]
        return Verdict(drop_refs=drop)
    waiting = any(s == OwnerState.WAITING for _, s in states)
    return Verdict(delete=True, propagation="Foreground" if waiting and has_dependents else "Background")


def blocking(dependents: Sequence[Any], owner_uid: str) -> list[Any]:
    """Dependents that hold back a foreground deletion: blockOwnerDeletion on their reference."""
    out = []
    for dep in dependents:
        for ref in dep.metadata.ownerReferences or ():
            if ref.uid == owner_uid and ref.blockOwnerDeletion:
                out.append(dep)
                break
    return out
