"""The apiserver's pod cache (podcache.py): LISTs at resourceVersion=0, and unpaged consistent
LISTs (no resourceVersion, as Kubernetes 1.31+), come from memory, indexed by node, and still see
every write acknowledged before them (the cache catches up first); paged ones read etcd."""

from __future__ import annotations

import httpx

POD = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


async def _pod(api: httpx.AsyncClient, ns: str, name: str, node: str | None) -> int:
    r = await api.post(f"/api/v1/namespaces/{ns}/pods", json={**POD, "metadata": {"name": name}})
    assert r.status_code == 201, r.text
    if node is None:
        return int(r.json()["metadata"]["resourceVersion"])
    r = await api.post(f"/api/v1/namespaces/{ns}/pods/{name}/binding",
                       json={"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                             "target": {"kind": "Node", "name": node}})
    assert r.status_code == 201, r.text
    got = await api.get(f"/api/v1/namespaces/{ns}/pods/{name}")
    return int(got.json()["metadata"]["resourceVersion"])


async def _names_on(api: httpx.AsyncClient, ns: str, node: str, rv: str = "0") -> tuple[list[str], int]:
    r = await api.get(f"/api/v1/namespaces/{ns}/pods",
                      params={"fieldSelector": f"spec.nodeName={node}", "resourceVersion": rv})
    assert r.status_code == 200, r.text
    body = r.json()
    return sorted(p["metadata"]["name"] for p in body["items"]), int(body["metadata"]["resourceVersion"])


async def test_a_node_list_at_rv0_sees_every_acknowledged_write(api: httpx.AsyncClient, namespace: str) -> None:
    node = f"cache-{namespace}"
    await _pod(api, namespace, "a", node)
    await _pod(api, namespace, "elsewhere", node + "-other")
    await _pod(api, namespace, "pending", None)
    last = await _pod(api, namespace, "b", node)
    served = await _cache_lists(api)
    names, rv = await _names_on(api, namespace, node)
    assert names == ["a", "b"] and rv >= last, (names, rv, last)
    assert await _cache_lists(api) == served + 1, "the rv=0 LIST did not come from the cache"
    assert (await _names_on(api, namespace, node, rv=""))[0] == names  # consistent, from the cache too
    assert await _cache_lists(api) == served + 2, "an unpaged consistent LIST did not come from the cache"
    r = await api.get(f"/api/v1/namespaces/{namespace}/pods",
                      params={"fieldSelector": f"spec.nodeName={node}", "limit": "1"})
    assert [p["metadata"]["name"] for p in r.json()["items"]] == ["a"] and r.json()["metadata"].get("continue")
    assert await _cache_lists(api) == served + 2, "a paged LIST must read etcd (the cache does not page)"

    # The newest write is not a pod: the list's version still reaches it (watch progress).
    r = await api.post(f"/api/v1/namespaces/{namespace}/configmaps", json={"metadata": {"name": "cm"}})
    cm_rv = int(r.json()["metadata"]["resourceVersion"])
    assert (await _names_on(api, namespace, node))[1] >= cm_rv

    r = await api.delete(f"/api/v1/namespaces/{namespace}/pods/a", params={"gracePeriodSeconds": "0"})
    assert r.status_code == 200, r.text
    assert (await _names_on(api, namespace, node))[0] == ["b"], "a deleted pod must be gone at once"

    # Other selectors still apply to what the cache holds.
    r = await api.get(f"/api/v1/namespaces/{namespace}/pods",
                      params={"fieldSelector": f"spec.nodeName={node},metadata.name!=b", "resourceVersion": "0"})
    assert r.json()["items"] == []


async def _cache_lists(api: httpx.AsyncClient) -> float:
    """apiserver_cache_list_total for pods by node, from /metrics."""
    text = (await api.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith("apiserver_cache_list_total{") and 'index="spec.nodeName"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_a_consistent_list_sees_the_write_just_acknowledged(api: httpx.AsyncClient, namespace: str) -> None:
    """No resourceVersion means "the most recent": every write acknowledged before the LIST is in
    it, though it comes from the cache, and every namespace's pods come back in etcd's key order."""
    for i in range(5):
        rv = await _pod(api, namespace, f"p{i}", None)
        r = await api.get(f"/api/v1/namespaces/{namespace}/pods")
        body = r.json()
        assert [p["metadata"]["name"] for p in body["items"]] == [f"p{j}" for j in range(i + 1)], body["items"]
        assert int(body["metadata"]["resourceVersion"]) >= rv
    everywhere = (await api.get("/api/v1/pods")).json()["items"]
    keys = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in everywhere]
    assert keys == sorted(keys, key=lambda k: f"{k[0]}/{k[1]}") and (namespace, "p4") in keys
    assert await _consistent_reads(api) > 0, "no consistent LIST was served from the cache"


async def _consistent_reads(api: httpx.AsyncClient) -> float:
    """apiserver_watch_cache_consistent_read_total served without falling back, from /metrics."""
    text = (await api.get("/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("apiserver_watch_cache_consistent_read_total{") and 'fallback="false"' in line)
