"""ControllerExpectations: counting creations, tracking deletions by UID, the 5-minute timeout."""

from __future__ import annotations

from kubelite.reconcile.expectations import EXPECTATIONS_TIMEOUT, ControllerExpectations
from tests.fakeclock import FakeClock


def test_unknown_key_is_satisfied() -> None:
    assert ControllerExpectations().satisfied("ns/rs")


def test_creations_are_counted_down() -> None:
    exp = ControllerExpectations()
    exp.expect_creations("ns/rs", 3)
    for left in (2, 1):
        exp.creation_observed("ns/rs")
        assert not exp.satisfied("ns/rs")
        assert exp.pending("ns/rs") == (left, 0)
    exp.creation_observed("ns/rs")
    assert exp.satisfied("ns/rs") and exp.pending("ns/rs") == (0, 0)
    exp.creation_observed("ns/rs")  # an extra observation does not un-satisfy
    assert exp.satisfied("ns/rs")


def test_failed_creations_lower_expectations() -> None:
    exp = ControllerExpectations()
    exp.expect_creations("k", 3)
    exp.creations_failed("k", 2)
    assert not exp.satisfied("k")
    exp.creation_observed("k")
    assert exp.satisfied("k")


def test_deletions_are_tracked_by_uid() -> None:
    exp = ControllerExpectations()
    exp.expect_deletions("k", ["u1", "u2"])
    exp.deletion_observed("k", "someone-elses")
    assert exp.pending("k") == (0, 2)
    exp.deletion_observed("k", "u1")
    exp.deletion_observed("k", "u1")  # the same deletion seen twice counts once
    assert exp.pending("k") == (0, 1) and not exp.satisfied("k")
    exp.deletion_observed("k", "u2")
    assert exp.satisfied("k")


def test_keys_are_independent_and_setting_replaces() -> None:
    exp = ControllerExpectations()
    exp.expect_creations("a", 1)
    exp.expect_creations("b", 1)
    exp.creation_observed("a")
    assert exp.satisfied("a") and not exp.satisfied("b")
    exp.expect_deletions("b", ["u"])  # replaces b's creations, as SetExpectations does
    assert exp.pending("b") == (0, 1)
    exp.delete("b")
    assert exp.satisfied("b") and len(exp) == 1


def test_unmet_expectations_expire_after_five_minutes() -> None:
    clock = FakeClock(0.0)
    exp = ControllerExpectations(clock=clock)
    exp.expect_creations("k", 2)
    clock.now += EXPECTATIONS_TIMEOUT - 1
    assert not exp.satisfied("k")
    clock.now += 2
    assert exp.satisfied("k"), "a lost event must not block the controller forever"
    exp.expect_creations("k", 1)  # new expectations restart the clock
    assert not exp.satisfied("k")
