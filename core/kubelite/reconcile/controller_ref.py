"""Controller references: which objects an owning controller owns, adopts and releases.

Kubernetes' pkg/controller/controller_ref_manager.go, shared by every owning
controller (ReplicaSet → Pods, Deployment → ReplicaSets, and the Job, DaemonSet
and StatefulSet controllers to come):

- `controller_of(obj)`: the owner reference with controller=true (GetControllerOf);
- `resolve_owner(obj, kind, get)`: the cached owner that reference names, if it is
  still the same object (resolveControllerRef: kind and uid must match);
- `owners_selecting(obj, owners)`: owners whose non-empty selector matches an
  orphan's labels (they may adopt it; an empty selector selects nothing here, as
  in Kubernetes' listers);
- `plan_claim(...)`: pure, sorts candidates into owned / to adopt / to release;
- `ControllerRefManager.claim(...)`: carries the plan out through the API.

Worked example: ReplicaSet `web` (uid U, selector app=web) and four pods in its
namespace — p1 (controller ref U, app=web), p2 (no controller, app=web), p3
(controller ref U, app=db), p4 (controller ref V, app=web). `plan_claim` gives
owned [p1], adopt [p2], release [p3]; p4 belongs to someone else and is never
touched. If `web` is being deleted: owned [p1] only (a deleting owner adopts and
releases nothing; the garbage collector handles its dependents).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from kubelite.api.labels import Selector, selector_from_label_selector
from kubelite.api.meta import Object, OwnerReference
from kubelite.api.scheme import ResourceInfo
from kubelite.errors import APIError
from kubelite.reconcile.cache import key_of

log = logging.getLogger(__name__)

# Claim errors that mean "the object changed or went away": decide again on the next sync.
# 404: gone; 409: our cached copy was stale (the patch is guarded by resourceVersion);
# 422: Kubernetes' ReleasePod ignores Invalid (no owner ref any more, or a new uid).
RETRYABLE_CODES = (404, 409, 422)


def controller_of(obj: Object) -> OwnerReference | None:
    """metav1.GetControllerOf: the owner reference with controller=true, if any."""
    for ref in obj.metadata.ownerReferences or ():
        if ref.controller:
            return ref
    return None


def controller_ref(owner: Object, api_version: str, kind: str) -> OwnerReference:
    """The reference an owner puts on what it controls (controller and blockOwnerDeletion set)."""
    return OwnerReference(apiVersion=api_version, kind=kind, name=owner.metadata.name or "",
                          uid=owner.metadata.uid or "", controller=True, blockOwnerDeletion=True)


def resolve_owner(obj: Object, kind: str, get: Callable[[str, str], Any]) -> Any | None:
    """The owner of kind `kind` that controls `obj`, from `get(namespace, name)` (a cache),
    or None when there is none or the cached one is another object of the same name."""
    ref = controller_of(obj)
    if ref is None or ref.kind != kind:
        return None
    owner = get(obj.metadata.namespace or "", ref.name)
    if owner is None or owner.metadata.uid != ref.uid:
        return None
    return owner


def selector_of(owner: Any) -> Selector | None:
    """The owner's spec.selector (None selects nothing); None when it does not parse."""
    try:
        return selector_from_label_selector(owner.spec.selector if owner.spec else None,
                                            none_selects_nothing=True)
    except ValueError:
        return None


def owners_selecting(obj: Object, owners: Iterable[Any],
                     label_selector: Callable[[Any], Any] | None = None) -> list[str]:
    """Keys of the owners whose selector matches `obj`'s labels (GetPodReplicaSets and
    getReplicaSetsForDeployment's inverse): an empty or invalid selector matches nothing.
    `label_selector(owner)` gives the owner's LabelSelector when it is not spec.selector."""
    labels = obj.metadata.labels or {}
    keys = []
    for owner in owners:
        if label_selector is None:
            sel = selector_of(owner)
        else:
            try:
                sel = selector_from_label_selector(label_selector(owner), none_selects_nothing=True)
            except ValueError:
                sel = None
        if sel is not None and not sel.empty and sel.matches(labels):
            keys.append(key_of(owner))
    return keys


@dataclass
class ClaimPlan:
    owned: list[Any] = field(default_factory=list)  # ours and matching: counted
    adopt: list[Any] = field(default_factory=list)  # orphans that match: take them
    release: list[Any] = field(default_factory=list)  # ours but labels no longer match: let go


def plan_claim(owner: Object, selector: Selector, candidates: Iterable[Object]) -> ClaimPlan:
    """Pure: sort `candidates` (the owner's namespace) as ClaimObject does (see module doc).

    Objects controlled by someone else are never touched; a deleting owner adopts
    nothing and releases nothing; objects being deleted are never adopted. (An empty
    selector is the caller's to refuse first, as the Deployment controller does.)"""
    out = ClaimPlan()
    owner_uid = owner.metadata.uid or ""
    deleting = owner.metadata.deletionTimestamp is not None
    for obj in candidates:
        ref = controller_of(obj)
        matches = selector.matches(obj.metadata.labels or {})
        if ref is not None:
            if ref.uid != owner_uid:
                continue
            if matches:
                out.owned.append(obj)
            elif not deleting:
                out.release.append(obj)
            continue
        if deleting or not matches or obj.metadata.deletionTimestamp is not None:
            continue
        if owner.metadata.namespace and obj.metadata.namespace != owner.metadata.namespace:
            continue
        out.adopt.append(obj)
    return out


@dataclass
class ClaimResult:
    owned: list[Any]  # what the owner controls now (owned + adopted)
    adopted: list[Any]
    released: list[Any]
    retry: bool  # an adopt or release lost a race: look again soon


class ControllerRefManager:
    """Claims `child`-resource objects for one owner, through the API (ClaimObject)."""

    def __init__(
        self,
        api: Any,
        owner: Object,
        *,
        ref: OwnerReference,
        selector: Selector,
        child: ResourceInfo,
        can_adopt: Callable[[], Awaitable[bool]],
    ) -> None:
        self.api = api
        self.owner = owner
        self.ref = ref
        self.selector = selector
        self.child = child
        self._can_adopt = can_adopt

    @classmethod
    def for_owner(cls, api: Any, owner: Any, owner_info: ResourceInfo, child: ResourceInfo) -> ControllerRefManager | None:
        """The manager for an owner whose selector is `owner.spec.selector` and whose reference is
        its controller reference (DaemonSets, StatefulSets); None when it has no selector."""
        from kubelite.api.labels import selector_from_label_selector

        selector = owner.spec.selector if owner.spec is not None else None
        if selector is None:
            return None
        return cls(api, owner, ref=controller_ref(owner, owner_info.api_version, owner_info.kind),
                   selector=selector_from_label_selector(selector), child=child,
                   can_adopt=lambda: owner_is_live(api, owner_info, owner))

    async def claim(self, candidates: Iterable[Object]) -> ClaimResult:
        plan = plan_claim(self.owner, self.selector, candidates)
        result = ClaimResult(owned=list(plan.owned), adopted=[], released=[], retry=False)
        # RecheckDeletionTimestamp, once, and only when there is something to adopt:
        # the cache may lag a delete-and-recreate of the owner.
        if plan.adopt and await self._can_adopt():
            for obj in plan.adopt:
                adopted = await self._set_owners(obj, [*(obj.metadata.ownerReferences or []), self.ref])
                if adopted is None:
                    result.retry = True
                else:
                    result.owned.append(adopted)
                    result.adopted.append(adopted)
        uid = self.owner.metadata.uid
        for obj in plan.release:
            released = await self._set_owners(
                obj, [r for r in obj.metadata.ownerReferences or [] if r.uid != uid])
            if released is None:
                result.retry = True
            else:
                result.released.append(released)
        return result

    async def _set_owners(self, obj: Object, refs: list[OwnerReference]) -> Any | None:
        """Patch the object's ownerReferences, guarded by its resourceVersion (a stale view is
        a 409 and the next sync decides again). None when the object changed or is gone."""
        patch = {"metadata": {
            "ownerReferences": [msgspec.to_builtins(r) for r in refs] or None,
            "resourceVersion": obj.metadata.resourceVersion,
        }}
        meta = obj.metadata
        try:
            return await self.api.patch(self.child, meta.namespace or "", meta.name or "", patch)
        except APIError as exc:
            if exc.code in RETRYABLE_CODES:
                log.info("%s %s/%s not (dis)owned: %s", self.child.kind, meta.namespace, meta.name, exc.message)
                return None
            raise


async def owner_is_live(api: Any, info: ResourceInfo, owner: Object) -> bool:
    """RecheckDeletionTimestamp: a fresh read shows the same owner, not being deleted."""
    try:
        fresh = await api.get(info, owner.metadata.namespace or "", owner.metadata.name or "")
    except APIError:
        return False
    return fresh.metadata.uid == owner.metadata.uid and fresh.metadata.deletionTimestamp is None
