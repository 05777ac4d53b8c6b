"""Garbage collector decisions: owner states, keep/drop/delete verdicts, blocking dependents."""

from __future__ import annotations

from kubelite.api.core_v1 import ConfigMap
from kubelite.api.meta import ObjectMeta, OwnerReference
from kubelite_controller_manager.garbagecollector.owners import (
    OwnerState,
    Verdict,
    blocking,
    judge,
    owner_state,
)

SOLID, ABSENT, WAITING, UNKNOWN = OwnerState.SOLID, OwnerState.ABSENT, OwnerState.WAITING, OwnerState.UNKNOWN


def obj(uid: str, *, deleting: bool = False, finalizers: list[str] | None = None,
        refs: list[OwnerReference] | None = None) -> ConfigMap:
    return ConfigMap(metadata=ObjectMeta(name=uid, uid=uid, finalizers=finalizers, ownerReferences=refs,
                                         deletionTimestamp="2026-01-01T00:00:00Z" if deleting else None))


def ref(uid: str, block: bool | None = None) -> OwnerReference:
    return OwnerReference(apiVersion="v1", kind="ConfigMap", name=uid, uid=uid, blockOwnerDeletion=block)


def test_owner_states() -> None:
    assert owner_state(None, "u1") == ABSENT
    assert owner_state(obj("u2"), "u1") == ABSENT  # same name, another object
    assert owner_state(obj("u1"), "u1") == SOLID
    assert owner_state(obj("u1", deleting=True, finalizers=["foregroundDeletion"]), "u1") == WAITING
    # being deleted in the background or orphaning: not waiting for its dependents
    assert owner_state(obj("u1", deleting=True, finalizers=["orphan"]), "u1") == SOLID


def test_no_owner_references_means_nothing_to_do() -> None:
    assert judge([], has_dependents=False) == Verdict()


def test_all_owners_absent_deletes_in_background() -> None:
    assert judge([("a", ABSENT)], has_dependents=True) == Verdict(delete=True, propagation="Background")
    assert judge([("a", ABSENT), ("b", ABSENT)], has_dependents=False).delete


def test_one_living_owner_keeps_the_dependent_and_drops_dead_references() -> None:
    v = judge([("a", ABSENT), ("b", SOLID), ("c", WAITING)], has_dependents=False)
    assert not v.delete
    assert v.drop_refs == ["a", "c"]


def test_solid_owners_only_means_no_change() -> None:
    assert judge([("a", SOLID)], has_dependents=True) == Verdict()


def test_unknown_owner_kinds_are_never_collected() -> None:
    assert judge([("a", UNKNOWN), ("b", ABSENT)], has_dependents=False) == Verdict(drop_refs=["b"])


def test_waiting_owner_deletes_dependents_foreground_when_they_have_their_own() -> None:
    assert judge([("a", WAITING)], has_dependents=True) == Verdict(delete=True, propagation="Foreground")
    assert judge([("a", WAITING)], has_dependents=False) == Verdict(delete=True, propagation="Background")


def test_blocking_dependents() -> None:
    blocker = obj("d1", refs=[ref("o", block=True)])
    free = obj("d2", refs=[ref("o", block=False)])
    other = obj("d3", refs=[ref("x", block=True), ref("o")])
    assert blocking([blocker, free, other], "o") == [blocker]
