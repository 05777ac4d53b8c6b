"""The apiserver's pod cache (podcache.py): LISTs at resourceVersion=0, and consistent LISTs (no
resourceVersion, as Kubernetes 1.31+), come from memory, indexed by node, and still see every
write acknowledged before them (the cache catches up first); paged ones read every page at the
first page's revision from a snapshot of the cache (Kubernetes 1.34, listsnapshots.py), or from
etcd when no snapshot of that revision is kept."""

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
    first = await _snapshot_pages(api, "first")
    r = await api.get(f"/api/v1/namespaces/{namespace}/pods",
                      params={"fieldSelector": f"spec.nodeName={node}", "limit": "1"})
    assert [p["metadata"]["name"] for p in r.json()["items"]] == ["a"] and r.json()["metadata"].get("continue")
    assert await _snapshot_pages(api, "first") == first + 1, "a paged LIST did not come from a snapshot"
    # a node's pods that fit in one page (kubectl describe node): from the node index, no snapshot
    r = await api.get(f"/api/v1/namespaces/{namespace}/pods",
                      params={"fieldSelector": f"spec.nodeName={node}", "limit": "500"})
    assert [p["metadata"]["name"] for p in r.json()["items"]] == ["a", "b"], r.json()["items"]
    assert "continue" not in r.json()["metadata"], r.json()["metadata"]
    assert await _snapshot_pages(api, "first") == first + 1, "one page of a node's pods needs no snapshot"
    assert await _cache_lists(api) == served + 3, "one page of a node's pods did not use the node index"

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


async def _snapshot_pages(api: httpx.AsyncClient, served: str) -> float:
    """kubelite_apiserver_cache_snapshot_pages_total{served=...}, from /metrics."""
    text = (await api.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(f'kubelite_apiserver_cache_snapshot_pages_total{{served="{served}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _page(api: httpx.AsyncClient, ns: str, **params: str) -> tuple[list[str], str, int, int | None]:
    """One page: names, continue token, resourceVersion, remainingItemCount."""
    r = await api.get(f"/api/v1/namespaces/{ns}/pods", params=params)
    assert r.status_code == 200, r.text
    meta = r.json()["metadata"]
    return ([p["metadata"]["name"] for p in r.json()["items"]], meta.get("continue", ""),
            int(meta["resourceVersion"]), meta.get("remainingItemCount"))


async def test_a_paged_list_reads_every_page_at_its_first_revision(api: httpx.AsyncClient, namespace: str) -> None:
    """kubectl pages (limit=500): the pages after the first come from the snapshot the first
    took, so writes made meanwhile do not show, as in a paged LIST from etcd."""
    for i in range(7):
        await _pod(api, namespace, f"p{i}", None)
    first, following = await _snapshot_pages(api, "first"), await _snapshot_pages(api, "next")
    names, token, revision, remaining = await _page(api, namespace, limit="3")
    assert names == ["p0", "p1", "p2"] and token and remaining == 4, (names, token, remaining)

    await _pod(api, namespace, "p7", None)  # after the first page: not in this list
    r = await api.delete(f"/api/v1/namespaces/{namespace}/pods/p4", params={"gracePeriodSeconds": "0"})
    assert r.status_code == 200, r.text  # after the first page: still in this list
    r = await api.patch(f"/api/v1/namespaces/{namespace}/pods/p5", json={"metadata": {"labels": {"late": "yes"}}},
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text

    names, token, rv, remaining = await _page(api, namespace, limit="3", labelSelector="late!=yes",
                                              **{"continue": token})
    assert (names, rv) == (["p3", "p4", "p5"], revision), "the second page must show the first page's revision"
    assert remaining is None, "a filtered page has no count of what remains (as Kubernetes)"
    names, token, rv, remaining = await _page(api, namespace, limit="3", **{"continue": token})
    assert (names, token, rv, remaining) == (["p6"], "", revision, None)
    assert await _snapshot_pages(api, "first") == first + 1
    assert await _snapshot_pages(api, "next") == following + 2, "the continued pages did not come from the snapshot"

    names, _, now, _ = await _page(api, namespace, limit="10")
    assert names == ["p0", "p1", "p2", "p3", "p5", "p6", "p7"] and now > revision, "a new LIST sees the writes"
    late, _, _, _ = await _page(api, namespace, limit="10", labelSelector="late=yes")
    assert late == ["p5"]


async def test_a_revision_without_a_snapshot_is_paged_from_etcd(api: httpx.AsyncClient, namespace: str) -> None:
    """A limit with a resourceVersion asks for exactly that revision (Kubernetes' legacy exact
    form); no snapshot was taken there, so etcd serves it, and its continue pages too."""
    await _pod(api, namespace, "q0", None)
    await _pod(api, namespace, "q1", None)
    old = await _pod(api, namespace, "q2", None)
    await _pod(api, namespace, "q3", None)
    from_etcd = await _snapshot_pages(api, "etcd")
    names, token, rv, remaining = await _page(api, namespace, limit="2", resourceVersion=str(old))
    assert (names, rv, remaining) == (["q0", "q1"], old, 1) and token, "etcd counts what remains too"
    names, token, rv, remaining = await _page(api, namespace, limit="2", **{"continue": token})
    assert (names, token, rv, remaining) == (["q2"], "", old, None), "q3 came after the revision asked for"
    assert await _snapshot_pages(api, "etcd") == from_etcd + 1
    names, _, _, _ = await _page(api, namespace, resourceVersion=str(old), resourceVersionMatch="Exact")
    assert names == ["q0", "q1", "q2"]


async def test_list_options_kubernetes_rejects_change_nothing(api: httpx.AsyncClient, namespace: str) -> None:
    r = await api.get(f"/api/v1/namespaces/{namespace}/pods", params={"resourceVersionMatch": "Exact"})
    assert r.status_code == 422, r.text
    status = r.json()
    assert status["reason"] == "Invalid" and status["details"]["kind"] == "ListOptions", status
    assert status["details"]["causes"][0]["field"] == "resourceVersionMatch", status
    r = await api.get(f"/api/v1/namespaces/{namespace}/configmaps",
                      params={"resourceVersion": "0", "resourceVersionMatch": "Exact"})
    assert r.status_code == 422 and "forbidden for resourceVersion" in r.text, r.text
    r = await api.post(f"/api/v1/namespaces/{namespace}/configmaps", json={"metadata": {"name": "kept"}})
    assert r.status_code == 201, r.text
    r = await api.delete(f"/api/v1/namespaces/{namespace}/configmaps", params={"resourceVersionMatch": "Newest",
                                                                            "resourceVersion": "1"})
    assert r.status_code == 422 and "Unsupported value" in r.text, r.text
    assert (await api.get(f"/api/v1/namespaces/{namespace}/configmaps/kept")).status_code == 200, \
        "a rejected deletecollection deleted something"
