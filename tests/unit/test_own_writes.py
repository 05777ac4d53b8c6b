"""OwnWrites (the apiserver's note of its own writes until its cache's watch brings them): pure."""

from __future__ import annotations

from kubelite_apiserver.ownwrites import OwnWrites


def test_a_write_is_newer_until_the_copy_reaches_its_revision() -> None:
    own = OwnWrites()
    own.note("ns", "p", 705, "created")
    assert own.newer_than("ns", "p", 0) == (705, "created")  # the copy has not got the pod
    assert own.newer_than("ns", "p", 700) == (705, "created")
    assert own.newer_than("ns", "p", 705) is None  # the copy caught up: the entry goes
    assert len(own) == 0 and own.newer_than("ns", "p", 0) is None


def test_only_the_newest_write_is_kept_whatever_order_the_answers_come_in() -> None:
    own = OwnWrites()
    own.note("ns", "p", 707, "bound")
    own.note("ns", "p", 705, "created")  # an older write's answer arriving late
    assert own.newer_than("ns", "p", 700) == (707, "bound")
    own.note("ns", "p", 709, None)  # deleted
    assert own.newer_than("ns", "p", 707) == (709, None)


def test_the_oldest_entries_go_beyond_the_limit() -> None:
    own = OwnWrites(limit=2)
    own.note("ns", "a", 1, "a")
    own.note("ns", "b", 2, "b")
    own.note("ns", "a", 3, "a again")  # refreshed: now the newest
    own.note("ns", "c", 4, "c")
    assert own.newer_than("ns", "b", 0) is None  # pushed out: costs only the read it would save
    assert own.newer_than("ns", "a", 0) == (3, "a again") and own.newer_than("ns", "c", 0) == (4, "c")
