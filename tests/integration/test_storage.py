"""EtcdStore against a real etcd: CAS semantics, consistency, pagination, watch, compaction."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aetcd import rpc

from kubelite import devservers
from kubelite.devservers import ServerProcess
from kubelite.storage import (
    KV,
    Compacted,
    KeyExists,
    KeyNotFound,
    RevisionMismatch,
    StoreEvent,
    Unavailable,
    compression,
)
from kubelite.storage.batching import Update
from kubelite.storage.etcd import EtcdStore, EtcdTLS, prefix_range_end
from tests.conftest import eventually


@pytest.fixture(scope="module")
def private_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """An etcd of this module's own, for tests that compact history or count etcd-wide
    watchers: neither may disturb (or be disturbed by) whoever else uses the shared one."""
    base = tmp_path_factory.mktemp("private-etcd")
    server = devservers.start_etcd(
        base / "data",
        client_port=devservers.free_port(),
        peer_port=devservers.free_port(),
        log_path=base / "etcd.log",
        unsafe_no_fsync=True,
        die_with_parent=True,
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def private_store(private_etcd: ServerProcess) -> AsyncIterator[EtcdStore]:
    etcd = await EtcdStore.connect(private_etcd.url, wait_seconds=10)
    try:
        yield etcd
    finally:
        await etcd.close()


async def test_create_get_update_delete(store: EtcdStore, key_prefix: str) -> None:
    key = key_prefix + "a"
    assert await store.get(key) is None

    rev1 = await store.create(key, b"one")
    assert await store.get(key) == KV(key, b"one", rev1, rev1)
    with pytest.raises(KeyExists):
        await store.create(key, b"again")
    assert (await store.get(key)).value == b"one"  # type: ignore[union-attr]

    rev2 = await store.update(key, b"two", expected_revision=rev1)
    assert rev2 > rev1
    assert await store.get(key) == KV(key, b"two", rev2, rev1)
    assert await store.current_revision() >= rev2

    rev3, previous = await store.delete(key, expected_revision=rev2)
    assert rev3 > rev2
    assert previous == KV(key, b"two", rev2, rev1)
    assert await store.get(key) is None


async def test_missing_keys_raise_key_not_found(store: EtcdStore, key_prefix: str) -> None:
    with pytest.raises(KeyNotFound):
        await store.update(key_prefix + "gone", b"x", expected_revision=1)
    with pytest.raises(KeyNotFound):
        await store.delete(key_prefix + "gone")
    with pytest.raises(KeyNotFound):
        await store.delete(key_prefix + "gone", expected_revision=1)


async def test_unconditional_delete_returns_last_value(store: EtcdStore, key_prefix: str) -> None:
    key = key_prefix + "d"
    rev = await store.create(key, b"v")
    delete_rev, previous = await store.delete(key)
    assert delete_rev > rev
    assert previous == KV(key, b"v", rev, rev)


async def test_stale_writes_raise_revision_mismatch_and_change_nothing(
    store: EtcdStore, key_prefix: str
) -> None:
    key = key_prefix + "stale"
    rev1 = await store.create(key, b"v1")
    rev2 = await store.update(key, b"v2", expected_revision=rev1)

    with pytest.raises(RevisionMismatch) as update_err:
        await store.update(key, b"lost", expected_revision=rev1)
    assert update_err.value.current == KV(key, b"v2", rev2, rev1)

    with pytest.raises(RevisionMismatch) as delete_err:
        await store.delete(key, expected_revision=rev1)
    assert delete_err.value.current == KV(key, b"v2", rev2, rev1)

    assert await store.get(key) == KV(key, b"v2", rev2, rev1)


async def test_concurrent_read_modify_write_loses_no_update(
    store: EtcdStore, key_prefix: str
) -> None:
    key = key_prefix + "counter"
    await store.create(key, b"0")
    writers, increments = 20, 20
    conflicts = 0

    async def writer() -> None:
        nonlocal conflicts
        for _ in range(increments):
            while True:
                current = await store.get(key)
                assert current is not None
                try:
                    await store.update(
                        key,
                        str(int(current.value) + 1).encode(),
                        expected_revision=current.mod_revision,
                    )
                    break
                except RevisionMismatch:
                    conflicts += 1

    async with asyncio.timeout(60):
        await asyncio.gather(*(writer() for _ in range(writers)))
    final = await store.get(key)
    assert final is not None and int(final.value) == writers * increments
    assert conflicts > 0, "20 concurrent writers never conflicted: the CAS path went untested"


async def test_list_pages_one_snapshot_while_writes_continue(
    store: EtcdStore, key_prefix: str
) -> None:
    originals = {f"{key_prefix}item-{i:03d}": f"v{i}".encode() for i in range(50)}
    for key, value in originals.items():
        await store.create(key, value)
    await store.create(key_prefix[:-1] + "-sibling", b"outside")  # shares the string prefix only

    first, snapshot, more = await store.list(key_prefix, limit=7)
    assert more and len(first) == 7
    seen = list(first)

    stop = asyncio.Event()

    async def churn() -> None:
        n = 0
        while not stop.is_set():
            await store.create(f"{key_prefix}item-{n:03d}-new", b"new")
            victim = f"{key_prefix}item-{n % 50:03d}"
            current = await store.get(victim)
            if current is not None:
                await store.update(victim, b"changed", expected_revision=current.mod_revision)
            n += 1

    churner = asyncio.create_task(churn())
    try:

        async def moved_on() -> bool:
            return await store.current_revision() > snapshot + 2

        await eventually(moved_on, message="concurrent writes past the snapshot")
        while more:
            page, revision, more = await store.list(
                key_prefix, limit=7, start_after=seen[-1].key, revision=snapshot
            )
            assert revision == snapshot
            assert page, "a page claimed more but came back empty"
            seen.extend(page)
            await asyncio.sleep(0)  # let the writer commit between pages
    finally:
        stop.set()
        await churner

    assert [kv.key for kv in seen] == sorted(originals)
    assert {kv.key: kv.value for kv in seen} == originals
    assert all(kv.mod_revision <= snapshot for kv in seen)

    latest, latest_rev, more = await store.list(key_prefix)
    assert latest_rev > snapshot and not more
    assert len(latest) > len(originals), "writes during paging should show in a fresh list"
    assert any(kv.value == b"changed" for kv in latest)


async def test_list_everything_without_limit(store: EtcdStore, key_prefix: str) -> None:
    for i in range(3):
        await store.create(f"{key_prefix}{i}", b"x")
    items, revision, more = await store.list(key_prefix)
    assert [kv.key for kv in items] == [f"{key_prefix}{i}" for i in range(3)]
    assert not more and revision == await store.current_revision()


async def _collect(watch, into: list[StoreEvent]) -> None:  # type: ignore[no-untyped-def]
    async for event in watch:
        into.append(event)


async def test_watch_delivers_every_change_in_order(store: EtcdStore, key_prefix: str) -> None:
    await store.create(key_prefix + "before", b"old")  # before start: must not appear
    start = await store.current_revision() + 1

    a, b = key_prefix + "a", key_prefix + "b"
    rev_a1 = await store.create(a, b"a1")
    rev_b1 = await store.create(b, b"b1")
    rev_a2 = await store.update(a, b"a2", expected_revision=rev_a1)
    rev_b_del, _ = await store.delete(b)
    await store.create(key_prefix[:-1] + "-outside", b"no")  # not under the prefix

    events: list[StoreEvent] = []
    collector = asyncio.create_task(_collect(store.watch(key_prefix, start_revision=start), events))
    try:
        await eventually(lambda: len(events) >= 4, message="4 historical events")
        rev_a3 = await store.update(a, b"a3", expected_revision=rev_a2)  # a live one too
        await eventually(lambda: len(events) >= 5, message="the live update")
    finally:
        collector.cancel()
        with pytest.raises(asyncio.CancelledError):
            await collector

    assert events == [
        StoreEvent("PUT", KV(a, b"a1", rev_a1, rev_a1), None, True),
        StoreEvent("PUT", KV(b, b"b1", rev_b1, rev_b1), None, True),
        StoreEvent("PUT", KV(a, b"a2", rev_a2, rev_a1), KV(a, b"a1", rev_a1, rev_a1), False),
        StoreEvent("DELETE", KV(b, b"b1", rev_b_del, rev_b1), KV(b, b"b1", rev_b1, rev_b1), False),
        StoreEvent("PUT", KV(a, b"a3", rev_a3, rev_a1), KV(a, b"a2", rev_a2, rev_a1), False),
    ]


def _etcd_watchers(etcd_url: str) -> int:
    with urllib.request.urlopen(f"{etcd_url}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    match = re.search(r"^etcd_debugging_mvcc_watcher_total (\S+)$", text, re.M)
    assert match, "etcd /metrics has no etcd_debugging_mvcc_watcher_total"
    return int(float(match.group(1)))


async def test_closing_a_watch_cancels_it_in_etcd(
    private_store: EtcdStore, key_prefix: str, private_etcd: ServerProcess
) -> None:
    store, etcd_url = private_store, private_etcd.url
    before = _etcd_watchers(etcd_url)
    watch = store.watch(key_prefix, start_revision=await store.current_revision() + 1)
    await store.create(key_prefix + "x", b"1")
    event = await asyncio.wait_for(anext(watch), 5)
    assert event.kv.key == key_prefix + "x"
    assert _etcd_watchers(etcd_url) == before + 1
    await watch.aclose()
    await eventually(
        lambda: _etcd_watchers(etcd_url) == before, message="etcd watcher count back to before"
    )


async def test_compacted_revision_raises_for_list_and_watch(
    private_store: EtcdStore, key_prefix: str
) -> None:
    store = private_store
    old = await store.create(key_prefix + "k", b"1")
    await store.update(key_prefix + "k", b"2", expected_revision=old)
    point = await store.current_revision()
    await store.compact(point)
    await store.compact(point)  # compacting again is harmless

    with pytest.raises(Compacted) as list_err:
        await store.list(key_prefix, revision=old)
    assert (list_err.value.requested, list_err.value.compacted) == (old, point)

    with pytest.raises(Compacted) as watch_err:
        async with asyncio.timeout(10):
            async for _ in store.watch(key_prefix, start_revision=old):
                pytest.fail("a compacted watch delivered an event")
    assert watch_err.value.compacted == point

    items, _, _ = await store.list(key_prefix, revision=point)  # at the point is still readable
    assert [kv.value for kv in items] == [b"2"]


async def test_leases_expire_keys_on_revoke(store: EtcdStore, key_prefix: str) -> None:
    lease = await store.lease_grant(30)
    assert 0 < await store.lease_keepalive(lease) <= 30
    await store.create(key_prefix + "leader", b"me", lease=lease)
    await store.lease_revoke(lease)
    assert await store.get(key_prefix + "leader") is None
    assert await store.lease_keepalive(lease) == 0
    await store.lease_revoke(lease)  # revoking twice is harmless


async def test_unreachable_etcd_raises_unavailable_with_clear_message() -> None:
    with pytest.raises(
        Unavailable, match=r"etcd at http://127\.0\.0\.1:1 not reachable after 0\.5s"
    ):
        await EtcdStore.connect("http://127.0.0.1:1", wait_seconds=0.5)


def test_prefix_range_end() -> None:
    assert prefix_range_end(b"/registry/pods/") == b"/registry/pods0"
    assert prefix_range_end(b"a\xff") == b"b"
    assert prefix_range_end(b"\xff\xff") == b"\0"


async def test_the_cluster_etcd_takes_only_its_own_client_certificates(
        etcd_url: str, etcd_tls: Any, cluster_pki: Any, key_prefix: str) -> None:
    """The session's etcd is the cluster's: https with --client-cert-auth. Its CA's client
    certificate gets in; none, or one from another CA (the cluster's client CA), does not."""
    from kubelite.pki import ClusterPKI
    from kubelite.storage.etcd import EtcdTLS

    assert etcd_url.startswith("https://")
    async with await EtcdStore.connect(etcd_url, wait_seconds=5, tls=etcd_tls) as good:
        await good.create(key_prefix + "k", b"v")
    with pytest.raises(ValueError, match="client certificate"):
        await EtcdStore.connect(etcd_url, wait_seconds=1)
    pki: ClusterPKI = cluster_pki
    wrong_ca = EtcdTLS(ca_file=etcd_tls.ca_file, cert_file=str(pki.crt("admin")), key_file=str(pki.key("admin")))
    with pytest.raises(Unavailable):
        await EtcdStore.connect(etcd_url, wait_seconds=1, tls=wrong_ca)
    plain = etcd_url.replace("https://", "http://")
    with pytest.raises(Unavailable):
        await EtcdStore.connect(plain, wait_seconds=1)


def _json_value(i: int) -> bytes:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}"},
                       "data": {"greeting": "hello " * 20}}, separators=(",", ":")).encode()


async def _raw(store: EtcdStore, key: str) -> bytes:
    """What etcd itself holds under `key` (no decompression)."""
    resp = await store._kv.Range(rpc.RangeRequest(key=key.encode()), timeout=5)
    return bytes(resp.kvs[0].value)


async def test_json_values_are_stored_compressed_and_every_read_gives_them_back(
    store: EtcdStore, key_prefix: str
) -> None:
    a, b = key_prefix + "a", key_prefix + "b"
    v1, v2, v3 = _json_value(1), _json_value(2), _json_value(3)
    start = await store.current_revision() + 1
    rev = await store.create(a, v1)
    raw = await _raw(store, a)
    assert raw.startswith(compression.PREFIX) and len(raw) < len(v1) / 2, raw
    assert (await store.get(a)).value == v1  # type: ignore[union-attr]
    with pytest.raises(RevisionMismatch) as lost:
        await store.update(a, v2, expected_revision=rev - 1)
    assert lost.value.current is not None and lost.value.current.value == v1
    rev = await store.update(a, v2, expected_revision=rev)
    [outcome] = await store.update_many([Update(a, v3, rev)])
    assert isinstance(outcome, int) and (await _raw(store, a)).startswith(compression.PREFIX)
    await store.create(b, b"not json")  # stored as given
    assert await _raw(store, b) == b"not json"
    items, _, _ = await store.list(key_prefix)
    assert [kv.value for kv in items] == [v3, b"not json"]
    _, gone = await store.delete(a)
    assert gone.value == v3

    events: list[StoreEvent] = []
    collector = asyncio.create_task(_collect(store.watch(key_prefix, start_revision=start), events))
    try:
        await eventually(lambda: len(events) >= 5, message="the 5 changes, replayed by the watch")
    finally:
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)
    assert [(e.type, e.kv.value, e.prev.value if e.prev else None) for e in events] == [
        ("PUT", v1, None), ("PUT", v2, v1), ("PUT", v3, v2), ("PUT", b"not json", None), ("DELETE", v3, v3)]


async def test_a_store_that_does_not_compress_reads_what_one_that_does_wrote(
    store: EtcdStore, key_prefix: str, etcd_url: str, etcd_tls: EtcdTLS
) -> None:
    plain = await EtcdStore.connect(etcd_url, wait_seconds=10, tls=etcd_tls, compress=False)
    try:
        await plain.create(key_prefix + "plain", _json_value(1))
        assert await _raw(store, key_prefix + "plain") == _json_value(1)
        await store.create(key_prefix + "packed", _json_value(2))
        got = {kv.key: kv.value for kv in (await plain.list(key_prefix))[0]}
        assert got == {key_prefix + "packed": _json_value(2), key_prefix + "plain": _json_value(1)}
    finally:
        await plain.close()


async def test_a_progress_asked_for_before_the_watch_is_made_comes(store: EtcdStore, key_prefix: str) -> None:
    """The progress request waits for the watch's create request: two writes at once on one gRPC
    stream failed it ("INTERNAL: Internal error from Core": seen when a watch hub asked at once)."""
    for _ in range(5):
        wanted = asyncio.Event()
        wanted.set()
        watch = store.watch(key_prefix, start_revision=await store.current_revision() + 1, progress=wanted)
        try:
            event = await asyncio.wait_for(anext(watch), 5)
        finally:
            await watch.aclose()
        assert event.type == "PROGRESS", event
