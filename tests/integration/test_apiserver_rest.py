"""The apiserver over HTTP: Kubernetes REST semantics on a real etcd and NATS."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
    "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "ports": [{"containerPort": 80}]}]},
}


def pod(name: str, **labels: str) -> dict:
    body = json.loads(json.dumps(POD))
    body["metadata"]["name"] = name
    if labels:
        body["metadata"]["labels"] = labels
    return body


async def test_create_get_defaults_and_server_fields(api: httpx.AsyncClient, namespace: str) -> None:
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=POD)
    assert r.status_code == 201, r.text
    created = r.json()
    meta = created["metadata"]
    assert meta["namespace"] == namespace and meta["uid"] and meta["creationTimestamp"]
    assert int(meta["resourceVersion"]) > 0 and meta["generation"] == 1
    spec = created["spec"]
    assert spec["restartPolicy"] == "Always" and spec["terminationGracePeriodSeconds"] == 30
    assert spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert spec["containers"][0]["ports"][0]["protocol"] == "TCP"
    assert created["status"]["phase"] == "Pending"
    tolerated = {t["key"] for t in spec["tolerations"]}
    assert {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"} <= tolerated
    r = await api.get(f"/api/v1/namespaces/{namespace}/pods/web")
    assert r.status_code == 200 and r.json() == created


async def test_yaml_body_and_generate_name(api: httpx.AsyncClient, namespace: str) -> None:
    body = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: cfg-\ndata:\n  a: '1'\n"
    r = await api.post(f"/api/v1/namespaces/{namespace}/configmaps", content=body,
                       headers={"content-type": "application/yaml"})
    assert r.status_code == 201, r.text
    name = r.json()["metadata"]["name"]
    assert name.startswith("cfg-") and len(name) == len("cfg-") + 5


async def test_error_statuses(api: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/pods"
    r = await api.get(base + "/missing")
    assert r.status_code == 404
    assert r.json() == {
        "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
        "message": 'pods "missing" not found', "reason": "NotFound",
        "details": {"name": "missing", "kind": "pods"}, "code": 404,
    }
    assert (await api.post(base, json=POD)).status_code == 201
    r = await api.post(base, json=POD)
    assert (r.status_code, r.json()["reason"]) == (409, "AlreadyExists")
    r = await api.post(base, content=b'{"metadata": {"name": "x"},', headers={"content-type": "application/json"})
    assert r.status_code == 400 and "malformed JSON" in r.json()["message"]
    r = await api.post(base, content=b"metadata:\n  name: [x\n", headers={"content-type": "application/yaml"})
    assert r.status_code == 400 and "line" in r.json()["message"]
    bad = pod("typo")
    bad["spec"]["containers"][0]["imagee"] = "x"
    r = await api.post(base, json=bad)
    assert r.status_code == 400
    assert r.json()["message"] == 'strict decoding error: unknown field "spec.containers[0].imagee"'
    r = await api.patch(base + "/web", json={}, headers={"content-type": "text/plain"})
    assert (r.status_code, r.json()["reason"]) == (415, "UnsupportedMediaType")
    r = await api.get("/api/v1/namespaces/nope-ns/pods/x")
    assert r.status_code == 404
    r = await api.post("/api/v1/namespaces/nope-ns/pods", json=pod("x"))
    assert r.status_code == 404 and r.json()["message"] == 'namespaces "nope-ns" not found'
    r = await api.get("/api/v1/widgets")
    assert r.status_code == 404 and r.json()["kind"] == "Status"


async def test_invalid_lists_every_field_and_changes_nothing(api: httpx.AsyncClient, namespace: str) -> None:
    bad = {
        "metadata": {"name": "Bad_Name", "labels": {"ok": "no spaces allowed"}},
        "spec": {"containers": [
            {"name": "a", "image": "x", "ports": [{"containerPort": 70000}]},
            {"name": "a", "image": ""},
        ]},
    }
    before = (await api.get(f"/api/v1/namespaces/{namespace}/pods")).json()["metadata"]["resourceVersion"]
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=bad)
    assert r.status_code == 422, r.text
    status = r.json()
    assert status["reason"] == "Invalid" and status["details"]["kind"] == "Pod"
    fields = {c["field"] for c in status["details"]["causes"]}
    assert {"metadata.name", "metadata.labels", "spec.containers[0].ports[0].containerPort",
            "spec.containers[1].name", "spec.containers[1].image"} <= fields
    after = (await api.get(f"/api/v1/namespaces/{namespace}/pods")).json()
    assert after["items"] == [] and int(after["metadata"]["resourceVersion"]) >= int(before)


async def test_deployment_selector_must_match_template(api: httpx.AsyncClient, namespace: str) -> None:
    dep = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"app": "a"}},
                 "template": {"metadata": {"labels": {"app": "b"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    }
    r = await api.post(f"/apis/apps/v1/namespaces/{namespace}/deployments", json=dep)
    assert r.status_code == 422
    assert "spec.template.metadata.labels" in {c["field"] for c in r.json()["details"]["causes"]}
    dep["spec"]["template"]["metadata"]["labels"]["app"] = "a"
    r = await api.post(f"/apis/apps/v1/namespaces/{namespace}/deployments", json=dep)
    assert r.status_code == 201, r.text
    spec = r.json()["spec"]
    assert spec["replicas"] == 1 and spec["revisionHistoryLimit"] == 10
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}


async def test_update_conflict_and_generation(api: httpx.AsyncClient, namespace: str) -> None:
    url = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    dep = {
        "metadata": {"name": "g"},
        "spec": {"selector": {"matchLabels": {"app": "g"}},
                 "template": {"metadata": {"labels": {"app": "g"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}},
    }
    created = (await api.post(url, json=dep)).json()
    stale = json.loads(json.dumps(created))
    created["metadata"]["labels"] = {"x": "y"}
    r = await api.put(f"{url}/g", json=created)
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["generation"] == 1  # metadata-only change
    updated = r.json()
    updated["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    r = await api.put(f"{url}/g", json=updated)
    assert r.json()["metadata"]["generation"] == 2
    stale["spec"]["replicas"] = 5
    r = await api.put(f"{url}/g", json=stale)
    assert (r.status_code, r.json()["reason"]) == (409, "Conflict")
    assert "the object has been modified" in r.json()["message"]
    # A status write through the main resource is ignored; through /status it sticks.
    cur = (await api.get(f"{url}/g")).json()
    cur["status"] = {"replicas": 7}
    r = await api.put(f"{url}/g", json=cur)
    assert r.json().get("status", {}).get("replicas") is None
    r = await api.put(f"{url}/g/status", json=r.json() | {"status": {"replicas": 7}})
    assert r.status_code == 200 and r.json()["status"]["replicas"] == 7


async def test_concurrent_writers_lose_no_update(api: httpx.AsyncClient, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    await api.post(url, json={"metadata": {"name": "counter"}, "data": {"n": "0"}})

    async def increment() -> int:
        conflicts = 0
        while True:
            cur = (await api.get(f"{url}/counter")).json()
            cur["data"]["n"] = str(int(cur["data"]["n"]) + 1)
            r = await api.put(f"{url}/counter", json=cur)
            if r.status_code == 200:
                return conflicts
            assert r.status_code == 409, r.text
            conflicts += 1

    results = await asyncio.gather(*(increment() for _ in range(40)))
    final = (await api.get(f"{url}/counter")).json()
    assert final["data"]["n"] == "40"
    assert sum(results) > 0, "expected some writers to collide and retry"


async def test_concurrent_patches_all_apply(api: httpx.AsyncClient, namespace: str) -> None:
    """A patch without a resourceVersion never answers 409 for a concurrent write: the server
    applies it again to the new object, as Kubernetes' GuaranteedUpdate does, however many
    writers there are."""
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    await api.post(url, json={"metadata": {"name": "busy"}, "data": {}})
    writers = 60
    rs = await asyncio.gather(*(api.patch(f"{url}/busy", json={"data": {f"k{i}": str(i)}},
                                          headers={"Content-Type": "application/merge-patch+json"})
                                for i in range(writers)))
    assert [r.status_code for r in rs] == [200] * writers, next(r.text for r in rs if r.status_code != 200)
    final = (await api.get(f"{url}/busy")).json()
    assert final["data"] == {f"k{i}": str(i) for i in range(writers)}


async def test_list_selectors_and_pagination(api: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/pods"
    for i in range(7):
        r = await api.post(base, json=pod(f"p{i}", app="a" if i % 2 else "b", idx=str(i)))
        assert r.status_code == 201
    r = await api.get(base, params={"labelSelector": "app=a"})
    assert sorted(p["metadata"]["name"] for p in r.json()["items"]) == ["p1", "p3", "p5"]
    r = await api.get(base, params={"labelSelector": "app in (a,b),idx notin (0,1,2)"})
    assert len(r.json()["items"]) == 4
    r = await api.get(base, params={"fieldSelector": "metadata.name=p2"})
    assert [p["metadata"]["name"] for p in r.json()["items"]] == ["p2"]
    r = await api.get(base, params={"fieldSelector": "spec.bogus=1"})
    assert r.status_code == 400 and "field label not supported" in r.json()["message"]
    r = await api.get(base, params={"labelSelector": "app in (a"})
    assert r.status_code == 400
    names, token, pages, rv = [], "", 0, None
    while True:
        params = {"limit": "3"} | ({"continue": token} if token else {})
        page = (await api.get(base, params=params)).json()
        pages += 1
        rv = rv or page["metadata"]["resourceVersion"]
        assert page["metadata"]["resourceVersion"] == rv, "pages must read one snapshot"
        names += [p["metadata"]["name"] for p in page["items"]]
        if pages == 1:  # a write between pages is not seen by later pages
            await api.post(base, json=pod("p99"))
        token = page["metadata"].get("continue", "")
        if not token:
            break
    assert names == [f"p{i}" for i in range(7)] and pages == 3
    r = await api.get("/api/v1/pods", params={"labelSelector": "idx=3"})
    assert [p["metadata"]["namespace"] for p in r.json()["items"]] == [namespace]


async def test_a_list_larger_than_a_response_chunk_arrives_whole(api: httpx.AsyncClient, namespace: str) -> None:
    """A body over RESPONSE_CHUNK (1 MiB) goes out in pieces: the client must get all of it,
    with the Content-Length it was promised and the trailing newline."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    for i in range(3):  # 3 × 600 KB: the LIST is ≈ 1.8 MB, two chunks and a tail
        r = await api.post(base, json={"metadata": {"name": f"big-{i}"}, "data": {"blob": f"{i}" * 600_000}})
        assert r.status_code == 201, r.text
    r = await api.get(base)
    assert r.status_code == 200
    assert int(r.headers["content-length"]) == len(r.content) > 1 << 20
    assert r.content.endswith(b"}\n")
    items = [c for c in r.json()["items"] if c["metadata"]["name"].startswith("big-")]  # not kube-root-ca.crt
    assert [(c["metadata"]["name"], c["data"]["blob"]) for c in items] == [
        (f"big-{i}", f"{i}" * 600_000) for i in range(3)
    ]


async def test_patch_kinds(api: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/pods"
    two = pod("pp")
    two["spec"]["containers"].append({"name": "side", "image": "busybox", "env": [{"name": "A", "value": "1"}]})
    assert (await api.post(base, json=two)).status_code == 201
    smp = {"spec": {"containers": [{"name": "side", "image": "busybox:2"}]}}
    r = await api.patch(f"{base}/pp", json=smp, headers={"content-type": "application/strategic-merge-patch+json"})
    assert r.status_code == 200, r.text
    containers = {c["name"]: c for c in r.json()["spec"]["containers"]}
    assert set(containers) == {"c", "side"} and containers["side"]["image"] == "busybox:2"
    assert containers["side"]["env"] == [{"name": "A", "value": "1"}]
    r = await api.patch(f"{base}/pp", json={"metadata": {"labels": {"tier": None, "new": "1"}}},
                        headers={"content-type": "application/merge-patch+json"})
    assert r.json()["metadata"]["labels"] == {"app": "web", "new": "1"}
    r = await api.patch(f"{base}/pp", json=[{"op": "replace", "path": "/metadata/labels/new", "value": "2"}],
                        headers={"content-type": "application/json-patch+json"})
    assert r.json()["metadata"]["labels"]["new"] == "2"
    r = await api.patch(f"{base}/pp", json=[{"op": "test", "path": "/metadata/labels/new", "value": "9"}],
                        headers={"content-type": "application/json-patch+json"})
    assert r.status_code == 422
    r = await api.patch(f"{base}/pp", json={"spec": {"restartPolicy": "Never"}},
                        headers={"content-type": "application/merge-patch+json"})
    assert r.status_code == 422, "pod spec fields other than images are immutable"


async def test_dry_run_writes_nothing(api: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    r = await api.post(base, params={"dryRun": "All"}, json={"metadata": {"name": "dry"}})
    assert r.status_code == 201 and r.json()["metadata"]["name"] == "dry"
    assert (await api.get(f"{base}/dry")).status_code == 404


async def test_graceful_pod_deletion_and_finalizers(api: httpx.AsyncClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/pods"
    # An unbound pod goes at once.
    await api.post(base, json=pod("unbound"))
    r = await api.delete(f"{base}/unbound")
    assert r.status_code == 200
    assert (await api.get(f"{base}/unbound")).status_code == 404
    # A bound pod is only marked; its node agent confirms with grace 0.
    await api.post(base, json=pod("bound"))
    r = await api.post(f"{base}/bound/binding", json={"metadata": {"name": "bound"}, "target": {"kind": "Node", "name": "n1"}})
    assert r.status_code == 201, r.text
    r = await api.post(f"{base}/bound/binding", json={"metadata": {"name": "bound"}, "target": {"kind": "Node", "name": "n2"}})
    assert r.status_code == 409
    r = await api.delete(f"{base}/bound", params={"gracePeriodSeconds": "20"})
    marked = r.json()
    assert marked["metadata"]["deletionTimestamp"] and marked["metadata"]["deletionGracePeriodSeconds"] == 20
    assert (await api.get(f"{base}/bound")).status_code == 200
    r = await api.delete(f"{base}/bound", params={"gracePeriodSeconds": "0"})
    assert (await api.get(f"{base}/bound")).status_code == 404
    # Finalizers hold an object until the last one is removed.
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    await api.post(cms, json={"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    r = await api.delete(f"{cms}/held")
    assert r.json()["metadata"]["deletionTimestamp"]
    cur = (await api.get(f"{cms}/held")).json()
    cur["metadata"]["finalizers"] = []
    r = await api.put(f"{cms}/held", json=cur)
    assert r.status_code == 200
    assert (await api.get(f"{cms}/held")).status_code == 404


async def test_scale_subresource(api: httpx.AsyncClient, namespace: str) -> None:
    url = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    dep = {
        "metadata": {"name": "s"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "s"}},
                 "template": {"metadata": {"labels": {"app": "s"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    }
    await api.post(url, json=dep)
    r = await api.get(f"{url}/s/scale")
    assert r.json()["spec"] == {"replicas": 2} and r.json()["status"]["selector"] == "app=s"
    r = await api.patch(f"{url}/s/scale", json={"spec": {"replicas": 4}},
                        headers={"content-type": "application/merge-patch+json"})
    assert r.status_code == 200 and r.json()["spec"]["replicas"] == 4
    assert (await api.get(f"{url}/s")).json()["spec"]["replicas"] == 4
    r = await api.put(f"{url}/s/scale", json={"metadata": {"name": "s"}, "spec": {"replicas": -1}})
    assert r.status_code == 422


async def test_services_get_unique_ips_and_node_ports(api: httpx.AsyncClient, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/services"

    def svc(name: str, **spec) -> dict:
        return {"metadata": {"name": name},
                "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec}}

    made = await asyncio.gather(*(api.post(url, json=svc(f"s{i}", type="NodePort")) for i in range(10)))
    assert all(r.status_code == 201 for r in made), [r.text for r in made]
    ips = {r.json()["spec"]["clusterIP"] for r in made}
    ports = {r.json()["spec"]["ports"][0]["nodePort"] for r in made}
    assert len(ips) == 10 and len(ports) == 10
    assert all(30000 <= p <= 32767 for p in ports)
    first = made[0].json()
    assert first["spec"]["ports"][0]["targetPort"] == 80
    taken = first["spec"]["ports"][0]["nodePort"]
    r = await api.post(url, json=svc("dup", type="NodePort", ports=[{"port": 80, "nodePort": taken}]))
    assert r.status_code == 422 and "provided port is already allocated" in r.json()["message"]
    r = await api.post(url, json=svc("out", type="NodePort", ports=[{"port": 80, "nodePort": 80}]))
    assert r.status_code == 422 and r.json()["details"]["causes"][0]["field"] == "spec.ports[0].nodePort"
    # Released on delete: the same values can be asked for again.
    await api.delete(f"{url}/s0")
    r = await api.post(url, json=svc("again", type="NodePort", clusterIP=first["spec"]["clusterIP"],
                                     ports=[{"port": 80, "nodePort": taken}]))
    assert r.status_code == 201, r.text
    r = await api.post(url, json=svc("headless", clusterIP="None"))
    assert r.json()["spec"]["clusterIP"] == "None"


async def test_namespace_lifecycle(api: httpx.AsyncClient) -> None:
    r = await api.post("/api/v1/namespaces", json={"metadata": {"name": "doomed"}})
    assert r.status_code == 201 and r.json()["status"]["phase"] == "Active"
    r = await api.delete("/api/v1/namespaces/doomed")
    assert r.json()["status"]["phase"] == "Terminating"
    r = await api.post("/api/v1/namespaces/doomed/configmaps", json={"metadata": {"name": "x"}})
    assert r.status_code == 403 and "being terminated" in r.json()["message"]
    r = await api.delete("/api/v1/namespaces/default")
    assert r.status_code == 403
    # Other writes to a Terminating namespace keep it: only emptying spec.finalizers
    # (the namespace controller's finalize call) lets it go.
    cur = (await api.get("/api/v1/namespaces/doomed")).json()
    cur["metadata"]["labels"] = {**cur["metadata"].get("labels", {}), "touched": "yes"}
    assert (await api.put("/api/v1/namespaces/doomed", json=cur)).status_code == 200
    assert (await api.get("/api/v1/namespaces/doomed")).status_code == 200
    cur = (await api.get("/api/v1/namespaces/doomed")).json()
    cur["spec"]["finalizers"] = []
    r = await api.put("/api/v1/namespaces/doomed/finalize", json=cur)
    assert r.status_code == 200, r.text
    assert (await api.get("/api/v1/namespaces/doomed")).status_code == 404


async def test_discovery(api: httpx.AsyncClient) -> None:
    assert (await api.get("/version")).json()["major"] == "1"
    assert (await api.get("/api")).json()["versions"] == ["v1"]
    groups = {g["name"] for g in (await api.get("/apis")).json()["groups"]}
    assert {"apps", "coordination.k8s.io"} <= groups
    core = {r["name"]: r for r in (await api.get("/api/v1")).json()["resources"]}
    assert core["pods"]["shortNames"] == ["po"] and core["pods"]["namespaced"]
    assert "pods/status" in core and "pods/binding" in core and not core["nodes"]["namespaced"]
    apps = {r["name"] for r in (await api.get("/apis/apps/v1")).json()["resources"]}
    assert {"deployments", "deployments/scale", "replicasets"} <= apps
    assert (await api.get("/healthz")).status_code == 200
    assert (await api.get("/readyz")).status_code == 200
    verbose = await api.get("/readyz", params={"verbose": ""})
    assert verbose.status_code == 200 and "[+]etcd ok\n" in verbose.text and \
        verbose.text.endswith("readyz check passed\n"), verbose.text
    assert (await api.get("/readyz/etcd")).text == "ok"


@pytest.mark.parametrize("path", ["/api/v1/namespaces/default/pods", "/apis/apps/v1/deployments"])
async def test_lists_have_kind_and_revision(api: httpx.AsyncClient, path: str) -> None:
    body = (await api.get(path)).json()
    assert body["kind"].endswith("List") and int(body["metadata"]["resourceVersion"]) > 0


async def test_responses_are_byte_for_byte_kubernetes(api: httpx.AsyncClient, namespace: str) -> None:
    """Clients notice key order, the trailing newline and a missing `details` (kubectl debug
    crashes on it): these bodies are what kube-apiserver writes, byte for byte."""
    missing = await api.get(f"/api/v1/namespaces/{namespace}/pods/nosuch")
    assert missing.content == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"nosuch\\" not found",'
        b'"reason":"NotFound","details":{"name":"nosuch","kind":"pods"},"code":404}\n')
    unknown = await api.get("/api/v1/nosuchresources")
    assert unknown.content == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find '
        b'the requested resource","reason":"NotFound","details":{},"code":404}\n')
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "twice"}}
    assert (await api.post(f"/api/v1/namespaces/{namespace}/configmaps", json=cm)).status_code == 201
    again = await api.post(f"/api/v1/namespaces/{namespace}/configmaps", json=cm)
    assert again.content == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"configmaps \\"twice\\" already '
        b'exists","reason":"AlreadyExists","details":{"name":"twice","kind":"configmaps"},"code":409}\n')
    svc = await api.post(f"/api/v1/namespaces/{namespace}/services", json={
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}})
    assert svc.json()["status"] == {"loadBalancer": {}} and svc.content.endswith(b"}\n")


async def test_apiservices_list_what_is_served(api: httpx.AsyncClient) -> None:
    listed = (await api.get("/apis/apiregistration.k8s.io/v1/apiservices")).json()
    names = [s["metadata"]["name"] for s in listed["items"]]
    assert {"v1.", "v1.apps", "v2.autoscaling", "v1.autoscaling", "v1beta1.metrics.k8s.io"} <= set(names), names
    apps = (await api.get("/apis/apiregistration.k8s.io/v1/apiservices/v1.apps")).json()
    assert apps["spec"]["group"] == "apps" and apps["status"]["conditions"][0]["reason"] == "Local"
    refused = await api.post("/apis/apiregistration.k8s.io/v1/apiservices", json={
        "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": "v1.example.com"}})
    assert refused.status_code == 405, refused.text
    assert (await api.get("/apis/apiregistration.k8s.io/v1/apiservices/v9.nosuch")).status_code == 404


async def test_an_idle_connection_is_kept_as_long_as_clients_keep_theirs(apiserver) -> None:  # type: ignore[no-untyped-def]
    """kube-apiserver closes an idle connection after 90 s, as Go's client transport does; a
    server that closed sooner (uvicorn's default is 5 s) races a client's next POST on it."""
    from urllib.parse import urlsplit

    url = urlsplit(apiserver.url)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(
        url.hostname, url.port, ssl=apiserver.tls, server_hostname=url.hostname), 10)
    request = f"GET /readyz HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode()
    async def get_readyz() -> None:
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200"), head
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        await asyncio.wait_for(reader.readexactly(length), 10)

    try:
        await get_readyz()
        # Idle past uvicorn's 5 s default: the server must neither close nor write.
        with pytest.raises(TimeoutError):
            data = await asyncio.wait_for(reader.read(1), 6.5)
            pytest.fail(f"the server closed or wrote on an idle connection: {data!r}")
        await get_readyz()
    finally:
        writer.close()


def _etcd_gets(metrics: str, resource: str) -> float:
    prefix = f'etcd_request_duration_seconds_count{{operation="get",type="{resource}"}} '
    return sum(float(line[len(prefix):]) for line in metrics.splitlines() if line.startswith(prefix))


async def test_service_account_admission(api: httpx.AsyncClient, namespace: str) -> None:
    """The account must exist (403 otherwise, nothing stored); its automount setting decides the
    token volume; it is looked up in the apiserver's informer, etcd only while that lacks it."""
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods",
                       json={**pod("nobody"), "spec": {**POD["spec"], "serviceAccountName": "ghost"}})
    assert r.status_code == 403, r.text
    assert r.json()["message"].endswith(
        f'error looking up service account {namespace}/ghost: serviceaccount "ghost" not found'), r.text
    assert (await api.get(f"/api/v1/namespaces/{namespace}/pods/nobody")).status_code == 404
    r = await api.post(f"/api/v1/namespaces/{namespace}/serviceaccounts",
                       json={"metadata": {"name": "robot"}, "automountServiceAccountToken": False})
    assert r.status_code == 201, r.text
    robot = {**POD["spec"], "serviceAccountName": "robot"}
    deadline = asyncio.get_running_loop().time() + 10
    for attempt in range(1000):  # the first creates may find the informer behind etcd
        before = _etcd_gets((await api.get("/metrics")).text, "serviceaccounts")
        r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json={**pod(f"r{attempt}"), "spec": robot})
        assert r.status_code == 201, r.text
        assert not any(v["name"].startswith("kube-api-access") for v in r.json()["spec"].get("volumes") or []), r.text
        if _etcd_gets((await api.get("/metrics")).text, "serviceaccounts") == before:
            break
        assert asyncio.get_running_loop().time() < deadline, "every pod create read its ServiceAccount from etcd"
    mounted = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=pod("with-token"))
    assert mounted.status_code == 201, mounted.text
    assert any(v["name"].startswith("kube-api-access") for v in mounted.json()["spec"]["volumes"]), mounted.text
