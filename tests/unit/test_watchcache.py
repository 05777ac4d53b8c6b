"""The watch cache's rules (watchcache.py): what the buffer keeps, which resumes it serves, what
each watcher sees and when a watcher is ended. Pure logic: a fake clock, objects as stand-ins."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import pytest

from kubelite.reconcile.cache import Delta
from kubelite_apiserver import watchcache
from kubelite_apiserver.watchcache import WatchCache, shown_as, stream
from tests.fakeclock import FakeClock


@dataclass
class Meta:
    name: str
    namespace: str = "ns"
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Obj:
    metadata: Meta
    rv: int = 0

    def raw(self) -> bytes:
        return json.dumps({"metadata": {"name": self.metadata.name, "resourceVersion": str(self.rv)}}).encode()


def _cache(first_revision: int = 100) -> tuple[WatchCache, FakeClock]:
    clock = FakeClock()
    cache = WatchCache("pods", clock=clock)
    cache.relisted(first_revision)
    return cache, clock


def _add(cache: WatchCache, name: str, revision: int, **labels: str) -> Obj:
    obj = Obj(Meta(name, labels=labels), revision)
    cache.changed(Delta("ADDED", obj), revision)
    return obj


def _revisions(changes: list[watchcache.Change]) -> list[int]:
    return [c.revision for c in changes]


def test_a_resume_gets_the_changes_after_its_revision_and_then_new_ones() -> None:
    cache, _ = _cache()
    for rev in (101, 102, 103):
        _add(cache, f"p{rev}", rev)
    resumed = cache.resume(101)
    assert resumed is not None
    replay, watcher = resumed
    assert _revisions(replay) == [102, 103]
    _add(cache, "p104", 104)
    assert _revisions(list(watcher.pending)) == [104]


def test_a_resume_from_before_what_the_buffer_holds_is_refused() -> None:
    cache, clock = _cache(first_revision=100)
    assert cache.resume(99) is None, "revision 100 and before were never in the buffer"
    assert cache.resume(100) is not None
    for i in range(watchcache.MIN_CHANGES + 10):
        _add(cache, f"p{i}", 101 + i)
    clock.now += watchcache.WINDOW + 1  # every change is now older than the window
    _add(cache, "last", 101 + watchcache.MIN_CHANGES + 10)
    assert len(cache) == watchcache.MIN_CHANGES, "old changes go, the last MIN_CHANGES stay"
    oldest_kept = 101 + 11
    assert cache.resume(oldest_kept - 2) is None
    assert cache.resume(oldest_kept - 1) is not None


def test_a_revision_of_several_changes_leaves_the_buffer_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchcache, "MIN_CHANGES", 2)
    monkeypatch.setattr(watchcache, "MAX_CHANGES", 3)
    cache, _ = _cache()
    _add(cache, "a", 101)
    _add(cache, "b", 101)  # one transaction wrote a and b
    _add(cache, "c", 102)
    _add(cache, "d", 103)  # over MAX_CHANGES: revision 101 goes, both of its changes
    assert len(cache) == 2
    assert cache.resume(100) is None
    resumed = cache.resume(101)
    assert resumed is not None and _revisions(resumed[0]) == [102, 103]


def test_a_resume_from_a_shared_revision_gets_all_of_it_again_a_lone_one_not() -> None:
    cache, _ = _cache()
    _add(cache, "a", 101)
    _add(cache, "b", 101)
    _add(cache, "c", 102)
    shared = cache.resume(101)
    lone = cache.resume(102)
    assert shared is not None and _revisions(shared[0]) == [101, 101, 102]
    assert lone is not None and lone[0] == []


def test_a_watcher_too_far_behind_is_ended_and_its_backlog_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchcache, "WATCHER_BACKLOG", 3)
    cache, _ = _cache()
    slow = cache.follow()
    assert slow is not None
    for rev in range(101, 105):
        _add(cache, f"p{rev}", rev)
    assert slow.ended and not slow.pending
    _add(cache, "later", 105)
    assert not slow.pending, "an ended watcher gets nothing more"


def test_a_relist_ends_every_watcher_and_the_buffer_starts_again() -> None:
    cache, _ = _cache()
    _add(cache, "a", 101)
    watcher = cache.follow()
    assert watcher is not None
    cache.relisting()
    assert watcher.ended and not cache.usable and cache.follow() is None and cache.resume(101) is None
    _add(cache, "lost", 102)  # a relist in progress: the change is not recorded
    cache.relisted(150)
    assert len(cache) == 0 and cache.resume(149) is None and cache.resume(150) is not None


def test_selectors_turn_changes_into_what_a_watcher_sees() -> None:
    def web(obj: Obj) -> bool:
        return obj.metadata.labels.get("app") == "web"

    a = Obj(Meta("a", labels={"app": "web"}))
    old = Obj(Meta("a", labels={"app": "old"}))
    change = watchcache.Change(5, "MODIFIED", old, a, 0.0)  # web -> old
    assert shown_as(change, "", web) == "DELETED"
    assert shown_as(watchcache.Change(6, "MODIFIED", a, old, 0.0), "", web) == "ADDED"
    assert shown_as(watchcache.Change(7, "MODIFIED", a, a, 0.0), "", web) == "MODIFIED"
    assert shown_as(watchcache.Change(8, "MODIFIED", old, old, 0.0), "", web) is None
    assert shown_as(watchcache.Change(9, "ADDED", old, None, 0.0), "", web) is None
    assert shown_as(watchcache.Change(10, "DELETED", a, None, 0.0), "", web) == "DELETED"
    assert shown_as(change, "", None) == "MODIFIED"
    assert shown_as(change, "elsewhere", None) is None, "another namespace's pod"


async def test_a_stream_sends_the_initial_state_the_replay_then_new_changes_and_leaves() -> None:
    cache, _ = _cache()
    _add(cache, "a", 101)
    resumed = cache.resume(100)
    assert resumed is not None
    replay, watcher = resumed
    events = stream(cache, [b'{"type":"ADDED","object":{}}'], replay, watcher, "", None)
    got = [await anext(events), await anext(events)]
    _add(cache, "b", 102)
    got.append(await asyncio.wait_for(anext(events), 1))
    assert [json.loads(line)["type"] for line in got] == ["ADDED", "ADDED", "ADDED"]
    assert [json.loads(line)["object"].get("metadata", {}).get("name") for line in got] == [None, "a", "b"]
    await events.aclose()
    assert cache.resume(100) is not None and len(cache._watchers) == 1, "the closed stream left the cache"


def test_an_event_is_encoded_once_for_every_watcher() -> None:
    cache, _ = _cache()
    obj = _add(cache, "a", 101)
    resumed = cache.resume(100)
    assert resumed is not None
    change = resumed[0][0]
    first = change.line("ADDED")
    obj.metadata.name = "changed"  # a second encode would show it
    assert change.line("ADDED") is first
    assert json.loads(change.line("DELETED"))["type"] == "DELETED"


async def test_an_idle_watcher_gets_a_bookmark_when_it_asked_for_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchcache, "BOOKMARK_SECONDS", 0.05)
    cache, _ = _cache()
    marked, plain = cache.follow(), cache.follow()
    assert marked is not None and plain is not None
    with_marks = stream(cache, [], [], marked, "", None, lambda: watchcache.bookmark("Pod", "v1", 123))
    event = json.loads(await asyncio.wait_for(anext(with_marks), 2))
    assert (event["type"], event["object"]["metadata"]) == ("BOOKMARK", {"resourceVersion": "123"})
    without = stream(cache, [], [], plain, "", None)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(without), 0.3)  # no bookmark unless asked for
    _add(cache, "a", 101)
    assert json.loads(await asyncio.wait_for(anext(with_marks), 2))["type"] == "ADDED"
    await with_marks.aclose()


async def test_what_waits_at_once_goes_out_in_one_write_a_long_replay_in_chunks() -> None:
    cache, _ = _cache()
    for rev in range(101, 101 + 2 * watchcache.CHUNK_EVENTS + 50):
        _add(cache, f"p{rev}", rev)
    resumed = cache.resume(100)
    assert resumed is not None
    events = stream(cache, [], *resumed, "", None)
    sizes = [len((await anext(events)).split(b"\n")) for _ in range(3)]
    assert sizes == [watchcache.CHUNK_EVENTS, watchcache.CHUNK_EVENTS, 50]
    for rev in (500, 501, 502):  # one group commit's worth, recorded before the stream runs
        _add(cache, f"g{rev}", rev)
    chunk = await asyncio.wait_for(anext(events), 1)
    assert [json.loads(line)["object"]["metadata"]["name"] for line in chunk.split(b"\n")] == [
        "g500", "g501", "g502"]
    await events.aclose()


async def test_a_resume_ahead_of_the_buffer_decides_lone_or_shared_when_the_revision_comes() -> None:
    """A watch hub opened from the watch's own revision has not received it yet: the lone rule
    applies to the changes as they arrive (a revision's changes are recorded together)."""
    cache, _ = _cache(first_revision=99)
    lone = cache.resume(100)
    shared = cache.resume(101)
    assert lone is not None and shared is not None and lone[0] == shared[0] == []
    _add(cache, "seen", 100)
    _add(cache, "next", 101)
    _add(cache, "next-too", 101)
    lone_batch = await asyncio.wait_for(anext(lone[1].changes()), 1)
    shared_batch = await asyncio.wait_for(anext(shared[1].changes()), 1)
    assert [c.obj.metadata.name for c in lone_batch] == ["next", "next-too"], "100 was lone: not again"
    assert [c.obj.metadata.name for c in shared_batch] == ["next", "next-too"], "101 was shared: again"
