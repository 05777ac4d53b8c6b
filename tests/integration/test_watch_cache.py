"""HTTP watches of pods served by the apiserver's watch cache (watchcache.py, podcache.py): the
same events, in the same order, as the etcd path gives (tests/integration/test_apiserver_watch_nats.py
checks those on ConfigMaps, which have no cache), from memory, with no etcd watch per watcher."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import urllib.request

import httpx

from kubelite.api.scheme import by_plural
from kubelite.storage.batching import Create
from kubelite.storage.etcd import EtcdTLS
from tests.integration.test_apiserver_watch_nats import enter_and_leave, watch_lines

POD = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def _pod(name: str, **labels: str) -> dict:
    return {**POD, "metadata": {"name": name, "labels": labels or None}}


async def _watches(api: httpx.AsyncClient, source: str, resource: str = "pods") -> float:
    """kubelite_apiserver_watches_total of `resource` from `source` (cache, hub or etcd), from /metrics."""
    text = (await api.get("/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("kubelite_apiserver_watches_total{") and f'resource="{resource}"' in line
               and f'source="{source}"' in line)


async def test_a_resumed_watch_replays_from_memory_in_order(api: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/pods"
    rv = (await api.post(base, json=_pod("a"))).json()["metadata"]["resourceVersion"]
    b = (await api.post(base, json=_pod("b"))).json()
    b["metadata"]["labels"] = {"step": "2"}
    assert (await api.put(f"{base}/b", json=b)).status_code == 200
    assert (await api.delete(f"{base}/a", params={"gracePeriodSeconds": "0"})).status_code == 200
    served = await _watches(api, "cache")
    events = await watch_lines(api, base, {"resourceVersion": rv}, 3)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"), ("MODIFIED", "b"), ("DELETED", "a")]
    revs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert revs == sorted(set(revs)) and revs[0] > int(rv), "a DELETED carries the delete's revision"
    assert events[1]["object"]["metadata"]["labels"] == {"step": "2"}
    assert await _watches(api, "cache") == served + 1, "the watch was not served by the cache"


async def test_a_watch_without_version_starts_with_the_current_state(api: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/pods"
    await api.post(base, json=_pod("x"))
    last = (await api.post(base, json=_pod("y"))).json()["metadata"]["resourceVersion"]
    served = await _watches(api, "cache")

    async def later_write() -> None:
        await asyncio.sleep(0.3)
        await api.post(base, json=_pod("z"))

    writer = asyncio.create_task(later_write())
    events = await watch_lines(api, base, {}, 3)  # a consistent start: y, acknowledged, must be there
    await writer
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "x"), ("ADDED", "y"), ("ADDED", "z")]
    assert events[1]["object"]["metadata"]["resourceVersion"] == last
    assert await _watches(api, "cache") == served + 1


async def test_a_selective_watch_sees_pods_enter_and_leave(api: httpx.AsyncClient, namespace: str) -> None:
    served = await _watches(api, "cache")
    rv, _ = await enter_and_leave(api, f"/api/v1/namespaces/{namespace}/pods", _pod)
    assert await _watches(api, "cache") == served + 1
    # every namespace, one pod by name (a field selector): the cache filters it too
    one = await watch_lines(api, "/api/v1/pods", {"resourceVersion": rv,
                                                   "fieldSelector": f"metadata.namespace={namespace},metadata.name=o"}, 1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in one] == [("ADDED", "o")]


async def test_a_resume_from_a_shared_revision_gets_all_of_it_again(
    api: httpx.AsyncClient, namespace: str, store
) -> None:
    """Pods written by one group commit share a resourceVersion; a watch resumed from it gets
    them all again, as the etcd path does; a lone revision's pod is not sent again."""
    info = by_plural("", "pods")
    assert info is not None
    stored = [Create(info.key(namespace, f"g{i}"), json.dumps({
        **POD, "metadata": {"name": f"g{i}", "namespace": namespace, "uid": f"uid-g{i}"}}).encode())
        for i in range(3)]
    outcomes = await store.create_many(stored)
    assert len(set(outcomes)) == 1 and isinstance(outcomes[0], int), outcomes
    shared = outcomes[0]
    base = f"/api/v1/namespaces/{namespace}/pods"
    lone = (await api.post(base, json=_pod("after"))).json()["metadata"]["resourceVersion"]
    served = await _watches(api, "cache")
    events = await watch_lines(api, base, {"resourceVersion": str(shared)}, 4)
    seen = [(e["type"], e["object"]["metadata"]["name"], e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert sorted(seen[:3]) == [("ADDED", f"g{i}", str(shared)) for i in range(3)], seen
    assert seen[3] == ("ADDED", "after", lone), seen
    last = (await api.post(base, json=_pod("last"))).json()["metadata"]["resourceVersion"]
    events = await watch_lines(api, base, {"resourceVersion": lone}, 1)
    assert [(e["type"], e["object"]["metadata"]["name"], e["object"]["metadata"]["resourceVersion"])
            for e in events] == [("ADDED", "last", last)]
    assert await _watches(api, "cache") == served + 2


async def test_a_streaming_list_ends_its_initial_state_with_a_bookmark(api: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/pods"
    for name in ("s1", "s2"):
        await api.post(base, json=_pod(name))
    served = await _watches(api, "cache")

    async def later_write() -> None:
        await asyncio.sleep(0.3)
        await api.post(base, json=_pod("s3"))

    writer = asyncio.create_task(later_write())
    events = await watch_lines(api, base, {"sendInitialEvents": "true", "allowWatchBookmarks": "true",
                                           "resourceVersionMatch": "NotOlderThan"}, 4)
    await writer
    assert [e["type"] for e in events] == ["ADDED", "ADDED", "BOOKMARK", "ADDED"]
    assert [e["object"]["metadata"]["name"] for e in events if e["type"] == "ADDED"] == ["s1", "s2", "s3"]
    mark = events[2]["object"]["metadata"]
    assert mark["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(events[1]["object"]["metadata"]["resourceVersion"]) <= int(mark["resourceVersion"]) < int(
        events[3]["object"]["metadata"]["resourceVersion"])
    assert await _watches(api, "cache") == served + 1


async def test_a_watch_from_before_the_cache_reads_etcd(api: httpx.AsyncClient, namespace: str) -> None:
    """Revision 1 is older than anything the cache holds (it started at the apiserver's first
    list): etcd answers, with its history or, where compacted, 410 Expired."""
    base = f"/api/v1/namespaces/{namespace}/pods"
    await api.post(base, json=_pod("old"))
    from_etcd = await _watches(api, "etcd")
    events = await watch_lines(api, base, {"resourceVersion": "1"}, 1)
    first = events[0]
    assert (first["type"], first["object"]["metadata"].get("name")) == ("ADDED", "old") or (
        first["type"] == "ERROR" and first["object"]["code"] == 410), first
    assert await _watches(api, "etcd") == from_etcd + 1


def _etcd_watchers(etcd_url: str, tls: EtcdTLS) -> int:
    ctx = ssl.create_default_context(cafile=tls.ca_file)
    ctx.load_cert_chain(tls.cert_file, tls.key_file)
    with urllib.request.urlopen(f"{etcd_url}/metrics", timeout=5, context=ctx) as resp:
        text = resp.read().decode()
    match = re.search(r"^etcd_debugging_mvcc_watcher_total (\S+)$", text, re.M)
    assert match, "etcd /metrics has no etcd_debugging_mvcc_watcher_total"
    return int(float(match.group(1)))


async def test_many_watchers_share_one_etcd_watch(
    api: httpx.AsyncClient, namespace: str, etcd_url: str, etcd_tls: EtcdTLS
) -> None:
    """Ten open pod watches add no etcd watch (the pod cache's informer has one) and all see the
    next pod; ten ConfigMap watches add at most one (their resource's watch hub, watchhub.py)."""
    base = f"/api/v1/namespaces/{namespace}"
    rv = (await api.post(f"{base}/pods", json=_pod("first"))).json()["metadata"]["resourceVersion"]
    before = await asyncio.to_thread(_etcd_watchers, etcd_url, etcd_tls)
    opened = asyncio.Event()
    streams: list[list[dict]] = [[] for _ in range(10)]

    async def follow(resource: str, out: list[dict]) -> None:
        async with api.stream("GET", f"{base}/{resource}", params={"watch": "true", "resourceVersion": rv}) as r:
            assert r.status_code == 200
            opened.set()
            async for line in r.aiter_lines():
                if line.strip():
                    out.append(json.loads(line))

    tasks = [asyncio.create_task(follow("pods", out)) for out in streams]
    try:
        await api.post(f"{base}/pods", json=_pod("second"))
        for _ in range(100):
            if all(out for out in streams):
                break
            await asyncio.sleep(0.05)
        assert [[e["object"]["metadata"]["name"] for e in out] for out in streams] == [["second"]] * 10
        assert await asyncio.to_thread(_etcd_watchers, etcd_url, etcd_tls) == before, "a pod watch watched etcd"
        hub_watches = await _watches(api, "hub", "configmaps")
        cms: list[list[dict]] = [[] for _ in range(10)]
        tasks += [asyncio.create_task(follow("configmaps", out)) for out in cms]
        await api.post(f"{base}/configmaps", json={"metadata": {"name": "seen"}})
        for _ in range(100):
            if all(out for out in cms):
                break
            await asyncio.sleep(0.05)
        assert [[e["object"]["metadata"]["name"] for e in out] for out in cms] == [["seen"]] * 10
        now = await asyncio.to_thread(_etcd_watchers, etcd_url, etcd_tls)
        assert now <= before + 1, f"ConfigMap watches must share their hub's etcd watch: {before} -> {now}"
        assert await _watches(api, "hub", "configmaps") == hub_watches + 10
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_bad_watch_options_get_a_status_before_any_stream(api: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/pods"
    r = await api.get(base, params={"watch": "true", "resourceVersion": "abc"})
    assert (r.status_code, r.json()["kind"], r.json()["reason"]) == (400, "Status", "BadRequest"), r.text
    assert 'invalid resource version "abc"' in r.json()["message"]
    r = await api.get(base, params={"watch": "true", "sendInitialEvents": "true", "resourceVersionMatch": "Exact"})
    assert (r.status_code, r.json()["reason"]) == (422, "Invalid"), r.text
    assert r.json()["details"]["causes"][0]["field"] == "resourceVersionMatch"
