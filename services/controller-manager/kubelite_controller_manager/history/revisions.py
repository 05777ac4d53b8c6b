"""ControllerRevisions: the template history of a DaemonSet or StatefulSet (Kubernetes'
pkg/controller/history and the daemon controller's constructHistory / cleanupHistory).

A revision stores the patch that restores its template, `{"spec": {"template": {...,
"$patch": "replace"}}}`, which is what `kubectl rollout undo` applies. Pure rules here;
`RevisionHistory` does the writes.

Worked example: a DaemonSet at revisions 1 (image v1) and 2 (image v2) is undone to v1.
Its template equals revision 1's again, so no revision is created: revision 1 is renumbered
to 3 (max + 1), and `kubectl rollout history` shows 2 and 3.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import msgspec

from kubelite.api.apps_v1 import (
    CONTROLLER_REVISION_HASH_LABEL,
    CONTROLLERREVISIONS,
    ControllerRevision,
)
from kubelite.api.meta import Object, ObjectMeta
from kubelite.errors import APIError
from kubelite.reconcile.controller_ref import controller_ref
from kubelite.reconcile.hashing import compute_hash
from kubelite.reconcile.writes import write_status

log = logging.getLogger(__name__)


def revision_patch(owner: Any) -> dict[str, Any]:
    """getPatch: the owner's template as a replace-patch of spec.template."""
    template = msgspec.to_builtins(owner.spec.template) if owner.spec and owner.spec.template else {}
    return {"spec": {"template": {**template, "$patch": "replace"}}}


def matches(owner: Any, rev: ControllerRevision) -> bool:
    """Match: the revision restores exactly the owner's current template."""
    return msgspec.to_builtins(rev.data) == revision_patch(owner)


def snapshot(owner: Any, api_version: str, kind: str, revision: int) -> ControllerRevision:
    """The revision to create: `<owner>-<hash>`, labelled with the template's labels and the hash,
    carrying the owner's annotations (kubectl reads kubernetes.io/change-cause from them)."""
    hash_ = compute_hash(owner.spec.template, owner.status.collisionCount if owner.status else None)
    labels = dict((owner.spec.template.metadata.labels if owner.spec.template.metadata else None) or {})
    labels[CONTROLLER_REVISION_HASH_LABEL] = hash_
    return ControllerRevision(
        apiVersion="apps/v1", kind="ControllerRevision",
        metadata=ObjectMeta(name=f"{owner.metadata.name}-{hash_}", namespace=owner.metadata.namespace,
                            labels=labels, annotations=dict(owner.metadata.annotations or {}) or None,
                            ownerReferences=[controller_ref(owner, api_version, kind)]),
        data=revision_patch(owner), revision=revision)


def hash_of(rev: ControllerRevision) -> str:
    return (rev.metadata.labels or {}).get(CONTROLLER_REVISION_HASH_LABEL) or rev.metadata.name or ""


@dataclass
class HistoryPlan:
    current: ControllerRevision | None  # None: create `create`
    create: ControllerRevision | None
    renumber: int | None  # give `current` this revision number
    duplicates: list[ControllerRevision]  # other revisions equal to the current template
    old: list[ControllerRevision]


def plan_history(owner: Any, api_version: str, kind: str, revisions: list[ControllerRevision]) -> HistoryPlan:
    """constructHistory: split the owner's revisions into the current one (the highest-numbered of
    those matching its template, renumbered to max + 1 if an older one matches) and the old ones.

    Example: revisions {a: 1 (v1), b: 2 (v2)} and a template of v1 (an undo): current a,
    renumber 3, old [b]. With a template v3 instead: create `<owner>-<hash of v3>` as 3."""
    same = sorted((r for r in revisions if matches(owner, r)), key=lambda r: r.revision or 0)
    old = [r for r in revisions if not matches(owner, r)]
    next_number = max((r.revision or 0 for r in old), default=0) + 1
    if not same:
        return HistoryPlan(None, snapshot(owner, api_version, kind, next_number), None, [], old)
    current = same[-1]
    renumber = next_number if (current.revision or 0) < next_number else None
    return HistoryPlan(current, None, renumber, same[:-1], old)


def to_prune(old: list[ControllerRevision], live_hashes: set[str], limit: int) -> list[ControllerRevision]:
    """cleanupHistory: the oldest old revisions beyond `limit` that no live pod still runs.

    Example: limit 1, old revisions 1, 2, 3 with a pod still on 1: prune 2 (the oldest unused
    one), keeping 3; revision 1 stays while its pod lives."""
    unused = sorted((r for r in old if hash_of(r) not in live_hashes and r.metadata.deletionTimestamp is None),
                    key=lambda r: r.revision or 0)
    excess = len(unused) - limit
    return unused[:excess] if excess > 0 else []


class CollisionError(Exception):
    """A revision of that name exists with another template: bump collisionCount and retry."""


async def bump_collision(api: Any, owner: Any, empty_status: Any) -> None:
    """status.collisionCount + 1, so the next revision's name hashes differently."""
    st = msgspec.structs.replace(owner.status or empty_status)
    st.collisionCount = (st.collisionCount or 0) + 1
    await write_status(api, owner, st)


class RevisionHistory:
    """Writes a plan: creates or renumbers the current revision, deletes duplicates and what
    is pruned. Returns the current revision."""

    def __init__(self, *, api: Any) -> None:
        self.api = api

    async def sync(self, owner: Object, plan: HistoryPlan) -> ControllerRevision:
        for dup in plan.duplicates:
            await self._delete(dup)
        if plan.create is not None:
            return await self._create(owner, plan.create)
        assert plan.current is not None
        if plan.renumber is None:
            return plan.current
        updated = msgspec.structs.replace(plan.current, apiVersion="apps/v1", kind="ControllerRevision",
                                          revision=plan.renumber)
        return await self.api.update(updated)

    async def _create(self, owner: Any, rev: ControllerRevision) -> ControllerRevision:
        try:
            return await self.api.create(rev, namespace=rev.metadata.namespace or "")
        except APIError as exc:
            if exc.code != 409:
                raise
        existing = await self.api.get(CONTROLLERREVISIONS, rev.metadata.namespace or "", rev.metadata.name or "")
        ours = any(r.uid == owner.metadata.uid for r in existing.metadata.ownerReferences or [])
        if ours and matches(owner, existing):
            return existing
        raise CollisionError(rev.metadata.name)

    async def prune(self, revisions: list[ControllerRevision]) -> None:
        for rev in revisions:
            await self._delete(rev)

    async def _delete(self, rev: ControllerRevision) -> None:
        try:
            await self.api.delete(CONTROLLERREVISIONS, rev.metadata.namespace or "", rev.metadata.name or "",
                                  uid=rev.metadata.uid or "")
        except APIError as exc:
            if exc.code not in (404, 409):
                raise
