"""Which pods a replica set owns, adopts or releases (Kubernetes' PodControllerRefManager.ClaimPods). Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kubelite.api.labels import Selector
from kubelite.api.meta import Object, OwnerReference


def controller_of(obj: Object) -> OwnerReference | None:
    """metav1.GetControllerOf: the owner reference with controller=true, if any."""
    for ref in obj.metadata.ownerReferences or ():
        if ref.controller:
            return ref
    return None


@dataclass
class Claim:
    owned: list[Any] = field(default_factory=list)  # ours and matching: counted
    adopt: list[Any] = field(default_factory=list)  # orphans that match: take them
    release: list[Any] = field(default_factory=list)  # ours but labels no longer match: let go


def claim(owner_uid: str, owner_deleting: bool, selector: Selector, candidates: Iterable[Object]) -> Claim:
    """Sort `candidates` (the namespace's objects) by what the owner must do with them.

    Objects controlled by someone else are never touched; a deleting owner adopts
    nothing and releases nothing (the garbage collector deals with its pods);
    objects being deleted are never adopted."""
    out = Claim()
    for obj in candidates:
        ref = controller_of(obj)
        matches = selector.matches(obj.metadata.labels or {})
        if ref is not None:
            if ref.uid != owner_uid:
                continue
            if matches:
                out.owned.append(obj)
            elif not owner_deleting:
                out.release.append(obj)
            continue
        if owner_deleting or not matches or obj.metadata.deletionTimestamp is not None:
            continue
        out.adopt.append(obj)
    return out
