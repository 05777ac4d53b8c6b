"""Watch streams, NATS request-reply and change events of the apiserver."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import msgspec

from kubelite.api.scheme import by_plural
from kubelite.bus import changes
from kubelite.bus.identity import BusIdentity
from kubelite.storage.batching import Create


async def watch_lines(api: httpx.AsyncClient, path: str, params: dict, n: int, wait: float = 10) -> list[dict]:
    """Read n events from a ?watch=true stream (fails after `timeout` seconds)."""
    out: list[dict] = []

    async def read() -> None:
        async with api.stream("GET", path, params={"watch": "true", **params}) as r:
            assert r.status_code == 200, await r.aread()
            async for line in r.aiter_lines():
                if line.strip():
                    out.append(json.loads(line))
                    if len(out) >= n:
                        return

    try:
        await asyncio.wait_for(read(), wait)
    except TimeoutError:
        raise AssertionError(f"watch {path} {params}: got {len(out)} of {n} events: {out}") from None
    return out


def cm(name: str, value: str = "1", **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": labels or None}, "data": {"v": value}}


async def test_watch_resumes_from_resource_version(api: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    first = (await api.post(base, json=cm("a"))).json()
    rv = first["metadata"]["resourceVersion"]
    b = (await api.post(base, json=cm("b"))).json()
    b["data"]["v"] = "2"
    await api.put(f"{base}/b", json=b)
    await api.delete(f"{base}/a")
    events = await watch_lines(api, base, {"resourceVersion": rv}, 3)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"), ("MODIFIED", "b"), ("DELETED", "a")]
    revs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert revs == sorted(revs) and revs[0] > int(rv)


async def test_watch_without_version_starts_with_current_state(api: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    await api.delete(f"{base}/kube-root-ca.crt")  # the one every namespace starts with (no publisher runs here)
    await api.post(base, json=cm("x"))
    await api.post(base, json=cm("y"))

    async def later_write() -> None:
        await asyncio.sleep(0.3)
        await api.post(base, json=cm("z"))

    writer = asyncio.create_task(later_write())
    events = await watch_lines(api, base, {}, 3)
    await writer
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "x"), ("ADDED", "y"), ("ADDED", "z")]


async def enter_and_leave(api: httpx.AsyncClient, base: str, make: Callable[..., dict]) -> tuple[str, list[dict]]:
    """m labelled app=web, relabelled app=other; n app=other; o app=web: a watch with
    labelSelector app=web from before them sees m enter and leave, and o enter. Returns the
    resourceVersion it watched from and the events."""
    rv = (await api.get(base)).json()["metadata"]["resourceVersion"]
    await api.post(base, json=make("m", app="web"))
    cur = (await api.get(f"{base}/m")).json()
    cur["metadata"]["labels"] = {"app": "other"}
    await api.put(f"{base}/m", json=cur)
    await api.post(base, json=make("n", app="other"))
    await api.post(base, json=make("o", app="web"))
    events = await watch_lines(api, base, {"resourceVersion": rv, "labelSelector": "app=web"}, 3)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "m"), ("DELETED", "m"), ("ADDED", "o")]
    assert events[1]["object"]["metadata"]["labels"] == {"app": "other"}, "DELETED carries the new state"
    return rv, events


async def test_watch_with_label_selector_sees_objects_enter_and_leave(api: httpx.AsyncClient, namespace: str) -> None:
    await enter_and_leave(api, f"/api/v1/namespaces/{namespace}/configmaps", cm)


async def test_watch_from_compacted_revision_is_410(api: httpx.AsyncClient, namespace: str, store) -> None:
    """A revision etcd has compacted, older than anything the resource's watch hub holds (it
    opens at the current revision: no other test watches ServiceAccounts), is 410 Expired. (One
    the hub holds is served from its buffer, compacted or not, as from Kubernetes' watch cache.)"""
    base = f"/api/v1/namespaces/{namespace}/serviceaccounts"
    old = (await api.post(base, json={"metadata": {"name": "c1"}})).json()["metadata"]["resourceVersion"]
    for name in ("c2", "c2b"):
        await api.post(base, json={"metadata": {"name": name}})
    await store.compact(await store.current_revision())
    events = await watch_lines(api, base, {"resourceVersion": old}, 1)
    assert events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
    # A list continue token from before the compaction is expired too.
    page = (await api.get(base, params={"limit": "1"})).json()
    await api.post(base, json={"metadata": {"name": "c3"}})
    await store.compact(await store.current_revision())
    r = await api.get(base, params={"limit": "1", "continue": page["metadata"]["continue"]})
    assert (r.status_code, r.json()["reason"]) == (410, "Expired")


async def test_watch_resumed_from_a_shared_revision_gets_all_of_it_again(
    api: httpx.AsyncClient, namespace: str, store
) -> None:
    """Objects written by one group commit share a resourceVersion (storage/batching.py); a watch
    resumed from it may have been cut off between them, so it gets them all again. A revision
    that wrote one object is not sent again, and a resume from the revision just before the
    compaction point works as it always did."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    info = by_plural("", "configmaps")
    assert info is not None
    stored = [Create(info.key(namespace, f"g{i}"), json.dumps({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"g{i}", "namespace": namespace},
        "data": {"v": "1"}}).encode()) for i in range(3)]
    outcomes = await store.create_many(stored)
    assert len(set(outcomes)) == 1 and isinstance(outcomes[0], int), outcomes
    shared = outcomes[0]
    lone = (await api.post(base, json=cm("after"))).json()["metadata"]["resourceVersion"]
    events = await watch_lines(api, base, {"resourceVersion": str(shared)}, 4)
    seen = [(e["type"], e["object"]["metadata"]["name"], e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert sorted(seen[:3]) == [("ADDED", f"g{i}", str(shared)) for i in range(3)], seen
    assert seen[3] == ("ADDED", "after", lone), seen
    last = (await api.post(base, json=cm("last"))).json()["metadata"]["resourceVersion"]
    events = await watch_lines(api, base, {"resourceVersion": lone}, 1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "last")]
    await store.compact(int(last))  # revisions before `last` are gone; a resume from last - 1 asks for none of them
    events = await watch_lines(api, base, {"resourceVersion": str(int(last) - 1)}, 1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "last")]


async def nats_call(nc, verb: str, resource: str, **fields) -> tuple[int, dict]:
    req = {"verb": verb, "resource": resource, **fields}
    msg = await nc.request(BusIdentity("admin").api_subject(verb, resource), msgspec.json.encode(req), timeout=10)
    reply = msgspec.json.decode(msg.data)
    return reply["code"], reply["body"]


async def test_nats_rpc_answers_like_rest(api: httpx.AsyncClient, nats_client, namespace: str) -> None:
    body = cm("via-nats")
    code, created = await nats_call(nats_client, "create", "configmaps", namespace=namespace, body=body)
    assert code == 201 and created["metadata"]["name"] == "via-nats"
    rest = (await api.get(f"/api/v1/namespaces/{namespace}/configmaps/via-nats")).json()
    code, got = await nats_call(nats_client, "get", "configmaps", namespace=namespace, name="via-nats")
    assert code == 200 and got == rest == created
    # Same errors, byte for byte.
    code, err = await nats_call(nats_client, "create", "configmaps", namespace=namespace, body=body)
    r = await api.post(f"/api/v1/namespaces/{namespace}/configmaps", json=body)
    assert (code, err) == (r.status_code, r.json()) and code == 409
    code, err = await nats_call(nats_client, "get", "configmaps", namespace=namespace, name="nope")
    r = await api.get(f"/api/v1/namespaces/{namespace}/configmaps/nope")
    assert (code, err) == (r.status_code, r.json()) and code == 404
    bad = {"metadata": {"name": "Bad"}, "spec": {"containers": []}}
    code, err = await nats_call(nats_client, "create", "pods", namespace=namespace, body=bad)
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=bad)
    assert (code, err) == (r.status_code, r.json()) and code == 422
    code, lst = await nats_call(nats_client, "list", "configmaps", namespace=namespace,
                                params={"labelSelector": "missing=1"})
    assert code == 200 and lst["items"] == [] and lst["kind"] == "ConfigMapList"
    code, patched = await nats_call(
        nats_client, "patch", "configmaps", namespace=namespace, name="via-nats",
        body={"data": {"v": "9"}}, contentType="application/merge-patch+json")
    assert code == 200 and patched["data"]["v"] == "9"
    code, _ = await nats_call(nats_client, "delete", "configmaps", namespace=namespace, name="via-nats")
    assert code == 200
    code, err = await nats_call(nats_client, "get", "deployments", group="apps", namespace=namespace, name="x")
    assert code == 404 and err["details"]["group"] == "apps"


async def collect(nc, subject: str) -> tuple[list[dict], object]:
    got: list[dict] = []

    async def cb(msg) -> None:
        got.append({"subject": msg.subject, **msgspec.json.decode(msg.data)})

    sub = await nc.subscribe(subject, cb=cb)
    await nc.flush()
    return got, sub


async def until(pred, wait: float = 5, message: str = "") -> None:
    deadline = asyncio.get_running_loop().time() + wait
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(message or "condition not met")
        await asyncio.sleep(0.02)


async def test_change_events_exactly_once_per_write(api: httpx.AsyncClient, nats_client, namespace: str) -> None:
    got, sub = await collect(nats_client, f"kubelite.changes.configmaps.{namespace}.>")
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    await api.post(base, json=cm("e1"))
    cur = (await api.get(f"{base}/e1")).json()
    cur["data"]["v"] = "2"
    await api.put(f"{base}/e1", json=cur)
    await api.put(f"{base}/e1", json=(await api.get(f"{base}/e1")).json())  # no-op: no write, no event
    await api.post(base, json=cm("e1"))  # rejected: no event
    await api.delete(f"{base}/e1")
    # A marker write, so we know everything before it has arrived.
    await api.post(base, json=cm("zz-marker"))
    await until(lambda: any(e["object"]["metadata"]["name"] == "zz-marker" for e in got),
                message=f"events so far: {got}")
    await sub.unsubscribe()
    # The namespace's own kube-root-ca.crt, written with it, may be published after we subscribed.
    got = [e for e in got if e["object"]["metadata"]["name"] in ("e1", "zz-marker")]
    seq = [(e["type"], e["object"]["metadata"]["name"]) for e in got]
    assert seq == [("ADDED", "e1"), ("MODIFIED", "e1"), ("DELETED", "e1"), ("ADDED", "zz-marker")]
    assert got[0]["subject"] == f"kubelite.changes.configmaps.{namespace}.e1"
    revs = [int(e["object"]["metadata"]["resourceVersion"]) for e in got]
    assert revs == sorted(set(revs))


async def test_bound_pods_published_on_node_subject(api: httpx.AsyncClient, nats_client, namespace: str) -> None:
    got, sub = await collect(nats_client, changes.node_pods("node-a.lab"))
    base = f"/api/v1/namespaces/{namespace}/pods"
    pod = {"metadata": {"name": "np"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    await api.post(base, json=pod)
    await api.post(f"{base}/np/binding", json={"metadata": {"name": "np"}, "target": {"name": "node-a.lab"}})
    await until(lambda: len(got) >= 1, message="bound pod not published on node subject")
    await sub.unsubscribe()
    assert got[0]["subject"] == "kubelite.node.node-a~lab.pods"
    assert got[0]["object"]["spec"]["nodeName"] == "node-a.lab"
    conds = {c["type"]: c["status"] for c in got[0]["object"]["status"]["conditions"]}
    assert conds["PodScheduled"] == "True"




async def test_typed_nats_client(apiserver, nats_client, namespace: str) -> None:
    from kubelite.api.core_v1 import ConfigMap
    from kubelite.client.nats import NatsAPIClient
    from kubelite.errors import APIError

    client = NatsAPIClient(nats_client, caller=BusIdentity("admin"))
    made = await client.create(msgspec.convert({"metadata": {"name": "typed", "namespace": namespace},
                                                "data": {"a": "1"}}, ConfigMap))
    assert isinstance(made, ConfigMap) and made.metadata.uid
    items, rv = await client.list("configmaps", namespace)
    assert [i.metadata.name for i in items] == ["kube-root-ca.crt", "typed"] and int(rv) > 0
    made.data = {"a": "2"}
    updated = await client.update(made)
    assert updated.data == {"a": "2"}
    try:
        await client.get("cm", namespace, "missing")
    except APIError as exc:
        assert (exc.code, exc.reason) == (404, "NotFound")
    else:
        raise AssertionError("expected NotFound")
    await client.delete("configmaps", namespace, "typed")


async def test_quiet_watch_answers_at_once_and_honours_timeout(api: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = (await api.get(base)).json()["metadata"]["resourceVersion"]
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with api.stream("GET", base, params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "1"}) as r:
        assert r.status_code == 200
        lines = [line async for line in r.aiter_lines() if line.strip()]
    assert lines == [] and 0.9 < loop.time() - start < 5


async def test_secret_string_data_is_folded_into_data(api: httpx.AsyncClient, namespace: str) -> None:
    r = await api.post(f"/api/v1/namespaces/{namespace}/secrets",
                       json={"metadata": {"name": "s"}, "stringData": {"user": "admin"}, "data": {"k": "dg=="}})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["data"] == {"k": "dg==", "user": "YWRtaW4="} and "stringData" not in body
    assert body["type"] == "Opaque"
