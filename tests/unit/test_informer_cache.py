"""Pure parts of the informers: the indexed cache and the re-list difference rules."""

from __future__ import annotations

from kubelite.api.core_v1 import ConfigMap
from kubelite.api.meta import ObjectMeta
from kubelite.reconcile.cache import ObjectCache, diff, key_of, split_key
from kubelite.reconcile.nats_informer import relist_deltas


def cm(name: str, rv: int, uid: str = "") -> ConfigMap:
    return ConfigMap(metadata=ObjectMeta(name=name, namespace="ns", resourceVersion=str(rv),
                                         uid=uid or f"uid-{name}"))


def cache_of(*objs: ConfigMap) -> ObjectCache:
    c = ObjectCache()
    for o in objs:
        c.put(key_of(o), o)
    return c


def summary(deltas: list) -> list[tuple[str, str, str]]:
    return [(d.type, d.obj.metadata.name, d.obj.metadata.resourceVersion) for d in deltas]


def test_keys() -> None:
    assert key_of(cm("a", 1)) == "ns/a"
    assert split_key("ns/a") == ("ns", "a") and split_key("node-1") == ("", "node-1")


def test_diff_reports_adds_updates_deletes_and_recreations() -> None:
    cache = cache_of(cm("same", 5), cm("changed", 5), cm("gone", 5), cm("recreated", 5))
    fresh = {key_of(o): o for o in
             (cm("same", 5), cm("changed", 9), cm("new", 9), cm("recreated", 9, uid="other"))}
    assert summary(diff(cache, fresh)) == [
        ("DELETED", "gone", "5"),
        ("MODIFIED", "changed", "9"),
        ("ADDED", "new", "9"),
        ("DELETED", "recreated", "5"),
        ("ADDED", "recreated", "9"),
    ]


def test_relist_keeps_what_events_taught_after_the_list() -> None:
    # the cache saw events up to rv 20; the list was taken at rv 10
    cache = cache_of(cm("newer-than-list", 15), cm("created-after-list", 12), cm("stale", 3),
                     cm("removed", 4))
    fresh = {key_of(o): o for o in (cm("newer-than-list", 8), cm("stale", 7),
                                     cm("deleted-after-list", 6))}
    tombstones = {"ns/deleted-after-list": 14}
    assert summary(relist_deltas(cache, fresh, 10, tombstones)) == [
        ("DELETED", "removed", "4"),
        ("MODIFIED", "stale", "7"),
    ]


def test_relist_without_a_list_version_trusts_the_list() -> None:
    cache = cache_of(cm("x", 50))
    assert summary(relist_deltas(cache, {}, None, {})) == [("DELETED", "x", "50")]


def test_indexes_update_and_custom_index() -> None:
    c = ObjectCache()
    c.add_index("first-letter", lambda o: [o.metadata.name[0]])
    c.put("ns/apple", cm("apple", 1))
    c.put("ns/avocado", cm("avocado", 1))
    assert [o.metadata.name for o in c.by_index("first-letter", "a")] == ["apple", "avocado"]
    c.remove("ns/apple")
    assert [o.metadata.name for o in c.by_index("first-letter", "a")] == ["avocado"]
    assert [o.metadata.name for o in c.list("ns")] == ["avocado"]
    assert c.by_index("first-letter", "z") == []
