"""etcd compaction by the apiserver (compactor.py), on a real etcd of its own (compaction is
global: the session's etcd is shared by every other test).

A round compacts to the revision the previous round saw; two compactors sharing an etcd make one
compaction per round between them; an apiserver started with --etcd-compaction-interval does it
on its own, and a watch from a compacted revision then gets 410 Gone."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from kubelite import devservers
from kubelite.storage import Compacted
from kubelite.storage.etcd import EtcdStore
from kubelite_apiserver.compactor import COMPACT_REV_KEY, Round, compact_once
from tests.conftest import eventually
from tests.integration.conftest import start_apiserver, stop_process


@pytest.fixture
def own_etcd(tmp_path: Path) -> Iterator[str]:
    server = devservers.start_etcd(tmp_path / "etcd", client_port=devservers.free_port(),
                                   peer_port=devservers.free_port(), log_path=tmp_path / "etcd.log",
                                   unsafe_no_fsync=True, die_with_parent=True)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def own_store(own_etcd: str) -> AsyncIterator[EtcdStore]:
    store = await EtcdStore.connect(own_etcd, wait_seconds=10)
    try:
        yield store
    finally:
        await store.close()


async def _compacted_at(store: EtcdStore, revision: int) -> bool:
    try:
        await store.list("/registry/", revision=revision, limit=1)
    except Compacted:
        return True
    return False


async def test_each_round_compacts_to_what_the_round_before_saw(own_store: EtcdStore) -> None:
    await own_store.create("/registry/things/a", b"1")
    first, compacted = await compact_once(own_store, Round())
    assert compacted == 0 and first.version == 1 and first.revision > 0  # nothing to compact yet
    for i in range(5):
        await own_store.create(f"/registry/things/b{i}", b"2")
    second, compacted = await compact_once(own_store, first)
    assert compacted == first.revision and second.version == 2 and second.revision > first.revision
    assert await _compacted_at(own_store, first.revision - 1)
    assert not await _compacted_at(own_store, first.revision)  # one interval of history is kept
    kv = await own_store.get(COMPACT_REV_KEY)
    assert kv is not None and kv.value == str(first.revision).encode()


async def test_two_compactors_make_one_compaction_per_round(own_store: EtcdStore) -> None:
    a, b = Round(), Round()
    a, by_a = await compact_once(own_store, a)
    b, by_b = await compact_once(own_store, b)  # saw version 0; it is 1 now: b only learns
    assert (by_a, by_b) == (0, 0) and b.version == 1
    await own_store.create("/registry/things/x", b"1")
    b, by_b = await compact_once(own_store, b)  # b's turn: it compacts to what it learnt
    a, by_a = await compact_once(own_store, a)  # a saw version 1, it is 2: a only learns
    assert by_b > 0 and by_a == 0, (by_a, by_b)
    assert a.version == b.version == 2


async def test_the_apiserver_compacts_on_its_interval(own_etcd: str, own_store: EtcdStore, nats_url: str,
                                                      tmp_path: Path, cluster_pki: object) -> None:
    proc = start_apiserver(own_etcd, nats_url, tmp_path / "apiserver.log", "--etcd-compaction-interval", "1s",
                           pki=cluster_pki)  # type: ignore[arg-type]
    try:
        early = await own_store.current_revision()

        async def compacted() -> bool:
            return await _compacted_at(own_store, early - 1)

        await eventually(compacted, timeout=15,
                         message=f"etcd still has revision {early - 1} after rounds of 1 s:\n{proc.log_tail()}")
        kv = await own_store.get(COMPACT_REV_KEY)
        assert kv is not None and int(kv.value) > 0, kv
        async with httpx.AsyncClient(base_url=proc.url, verify=proc.tls, timeout=10) as http:
            url = f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={early - 1}"
            async with http.stream("GET", url) as r:
                first = json.loads(await anext(r.aiter_lines()))
        assert first["type"] == "ERROR" and first["object"]["code"] == 410, first
    finally:
        stop_process(proc.popen)
