"""The apiserver's pod cache (podcache.py): LISTs at resourceVersion=0 come from memory, indexed
by node, and still see every write acknowledged before them (the cache catches up first)."""

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
    assert (await _names_on(api, namespace, node, rv=""))[0] == names  # etcd agrees
    assert await _cache_lists(api) == served + 1, "an rv='' LIST must read etcd"

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
