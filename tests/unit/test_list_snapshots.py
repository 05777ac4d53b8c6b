"""Paged LISTs from snapshots of the pod cache (listsnapshots.py) and which LISTs ask for an
exact revision (params.py): pure rules, no server."""

from __future__ import annotations

import pytest

from kubelite.errors import APIError
from kubelite_apiserver.listsnapshots import Snapshot, Snapshots, key_range, page
from kubelite_apiserver.params import ListOptions, check_list_options, exact_revision_asked
from tests.fakeclock import FakeClock

KEYS = ["a-b/x", "a/p1", "a/p2", "a/p3", "a/p4", "b/p1", "bb/p1"]


def _snapshot(keys: list[str] = KEYS, revision: int = 10) -> Snapshot:
    return Snapshot(revision, sorted(keys), sorted(keys))  # each record is its own key here


def test_key_ranges_keep_to_the_namespace() -> None:
    keys = sorted(KEYS)
    assert [keys[i] for i in range(*key_range(keys, "a", ""))] == ["a/p1", "a/p2", "a/p3", "a/p4"]
    assert [keys[i] for i in range(*key_range(keys, "a", "a/p2"))] == ["a/p3", "a/p4"]
    assert [keys[i] for i in range(*key_range(keys, "b", ""))] == ["b/p1"]  # not bb's
    assert key_range(keys, "", "") == (0, len(keys))
    assert key_range(keys, "a", "a/p4")[0] == key_range(keys, "a", "a/p4")[1]  # nothing left
    assert key_range(keys, "zz", "") == (len(keys), len(keys))


def test_pages_walk_every_key_once_in_order() -> None:
    snapshot, got, start = _snapshot(), [], ""
    while True:
        one = page(snapshot, "", start, 3, None)
        got += one.records
        assert len(one.records) <= 3
        if not one.more:
            break
        start = one.last_key
    assert got == sorted(KEYS)


def test_a_filtered_page_reports_the_last_key_examined() -> None:
    keep = lambda record: record != "a/p2"  # noqa: E731
    first = page(_snapshot(), "a", "", 2, keep)
    assert (first.records, first.last_key, first.more, first.remaining) == (["a/p1", "a/p3"], "a/p3", True, None)
    second = page(_snapshot(), "a", first.last_key, 2, keep)
    assert (second.records, second.last_key, second.more) == (["a/p4"], "a/p4", False)
    nothing = page(_snapshot(), "a", "", 5, lambda record: False)
    assert (nothing.records, nothing.last_key, nothing.more) == ([], "a/p4", False)


def test_an_unfiltered_page_counts_what_remains() -> None:
    one = page(_snapshot(), "a", "", 2, None)
    assert (one.records, one.last_key, one.remaining) == (["a/p1", "a/p2"], "a/p2", 2)
    everything = page(_snapshot(), "", "a/p1", 1, None)
    assert (everything.records, everything.remaining) == (["a/p2"], 4)  # p3, p4, b/p1, bb/p1
    assert page(_snapshot(), "a", "a/p2", 2, None).remaining is None, "nothing remains: no count"


def test_a_page_that_ends_on_the_last_key_has_no_more() -> None:
    one = page(_snapshot(), "a", "a/p2", 2, None)
    assert (one.records, one.more) == (["a/p3", "a/p4"], False)
    empty = page(_snapshot(), "c", "", 2, None)
    assert (empty.records, empty.last_key, empty.more) == ([], "", False)


def test_snapshots_are_kept_while_used_then_forgotten() -> None:
    clock = FakeClock(0.0)
    kept = Snapshots(keep_seconds=10, most=2, clock=clock)
    made: list[int] = []

    def make(revision: int):  # type: ignore[no-untyped-def]
        def build() -> tuple[list[str], list[str]]:
            made.append(revision)
            return ["a/p1"], ["a/p1"]
        return build

    first = kept.take(5, make(5))
    assert kept.take(5, make(5)) is first and made == [5], "a second LIST at the same revision shares it"
    clock.now = 9
    assert kept.get(5) is first  # used: kept 10 s more
    clock.now = 18
    assert kept.get(5) is first
    clock.now = 29
    assert kept.get(5) is None, "unused for longer than keep_seconds"
    kept.take(6, make(6))
    kept.take(7, make(7))
    kept.take(8, make(8))
    assert kept.get(6) is None and kept.get(7) is not None and len(kept) == 2, "the least recently used goes"


@pytest.mark.parametrize(("opts", "exact"), [
    (ListOptions(), False),
    (ListOptions(resource_version="0", limit=500), False),  # any version; limit ignored
    (ListOptions(resource_version="900"), False),  # not older than
    (ListOptions(resource_version="900", limit=500), True),  # legacy exact
    (ListOptions(resource_version="900", resource_version_match="Exact"), True),
    (ListOptions(resource_version="900", resource_version_match="NotOlderThan", limit=500), False),
])
def test_which_lists_ask_for_an_exact_revision(opts: ListOptions, exact: bool) -> None:
    assert exact_revision_asked(opts) is exact


@pytest.mark.parametrize(("opts", "messages"), [
    (ListOptions(resource_version_match="Exact"),
     ["resourceVersionMatch is forbidden unless resourceVersion is provided"]),
    (ListOptions(resource_version="5", resource_version_match="NotOlderThan", continue_token="x"),
     ["resourceVersionMatch is forbidden when continue is provided"]),
    (ListOptions(resource_version="5", resource_version_match="Newest"), ['"Newest"']),
    (ListOptions(resource_version="0", resource_version_match="Exact"),
     ['resourceVersionMatch "exact" is forbidden for resourceVersion "0"']),
])
def test_list_options_kubernetes_rejects(opts: ListOptions, messages: list[str]) -> None:
    with pytest.raises(APIError) as caught:
        check_list_options(opts)
    error = caught.value
    assert error.code == 422 and error.details is not None and error.details.kind == "ListOptions", repr(error)
    causes = error.details.causes or []
    assert [c.field for c in causes] == ["resourceVersionMatch"] * len(messages)
    for cause, message in zip(causes, messages, strict=True):
        assert message in (cause.message or ""), cause


def test_list_options_kubernetes_accepts() -> None:
    for opts in (ListOptions(), ListOptions(resource_version="5", resource_version_match="Exact"),
                 ListOptions(resource_version="0", resource_version_match="NotOlderThan", limit=3)):
        check_list_options(opts)
