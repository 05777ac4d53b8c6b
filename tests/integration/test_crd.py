"""CustomResourceDefinitions against a real apiserver and etcd: a CRD is established and its
objects are served (CRUD, list, watch, selectors, discovery, OpenAPI, Tables with its printer
columns), validated, defaulted and pruned by its structural schema, with a status subresource
and a second served version; deleting the CRD deletes its objects, then the CRD."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import eventually

pytestmark = pytest.mark.timeout(120)
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def crd(group: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {
        "spec": {"type": "object", "required": ["image"], "properties": {
            "image": {"type": "string", "minLength": 1},
            "replicas": {"type": "integer", "minimum": 0, "default": 1},
        }},
        "status": {"type": "object", "properties": {"ready": {"type": "integer"}, "selector": {"type": "string"}}},
    }}
    columns = [{"name": "Image", "type": "string", "jsonPath": ".spec.image"},
               {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}]
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"widgets.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
                     "versions": [
                         {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema},
                          "subresources": {"status": {}, "scale": {
                              "specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.ready",
                              "labelSelectorPath": ".status.selector"}},
                          "additionalPrinterColumns": columns},
                         {"name": "v1beta1", "served": True, "storage": False, "schema": {"openAPIV3Schema": schema}},
                     ]}}


@pytest.fixture
async def group(api: httpx.AsyncClient) -> str:
    g = f"t{uuid.uuid4().hex[:8]}.example.com"
    r = await api.post(CRDS, json=crd(g))
    assert r.status_code == 201, r.text

    async def established() -> bool:
        status = (await api.get(f"{CRDS}/widgets.{g}")).json().get("status") or {}
        return any(c["type"] == "Established" and c["status"] == "True" for c in status.get("conditions") or [])

    await eventually(established, timeout=10, message="the CRD was never Established")
    return g


async def test_custom_objects_are_served_validated_defaulted_and_pruned(
        api: httpx.AsyncClient, namespace: str, group: str) -> None:
    base = f"/apis/{group}/v1/namespaces/{namespace}/widgets"
    made = await api.post(base, json={"apiVersion": f"{group}/v1", "kind": "Widget",
                                      "metadata": {"name": "w1", "labels": {"tier": "a"}},
                                      "spec": {"image": "nginx", "junk": 1}, "extra": True})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["spec"] == {"image": "nginx", "replicas": 1}  # pruned, then defaulted
    assert "extra" not in body and body["metadata"]["uid"] and body["metadata"]["generation"] == 1
    assert "status" not in body  # a status subresource: status is not set on create

    strict = await api.post(base, params={"fieldValidation": "Strict"}, json={
        "apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w2"}, "spec": {"image": "x", "junk": 1}})
    assert strict.status_code == 400 and 'unknown field "spec.junk"' in strict.json()["message"]
    bad = await api.post(base, json={"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w2"},
                                     "spec": {"replicas": -1}})
    assert bad.status_code == 422, bad.text
    causes = {c["field"]: c["message"] for c in bad.json()["details"]["causes"]}
    assert set(causes) == {"spec.image", "spec.replicas"}, causes
    assert "greater than or equal to 0" in causes["spec.replicas"]
    assert (await api.get(f"{base}/w2")).status_code == 404  # nothing stored

    # status subresource: the main resource ignores status, /status ignores the rest
    w1 = (await api.get(f"{base}/w1")).json()
    put = await api.put(f"{base}/w1/status", json={**w1, "spec": {"image": "other"}, "status": {"ready": 1}})
    assert put.status_code == 200, put.text
    after = (await api.get(f"{base}/w1")).json()
    assert after["status"] == {"ready": 1} and after["spec"]["image"] == "nginx"
    patched = await api.patch(f"{base}/w1", json={"spec": {"replicas": 3}, "status": {"ready": 9}},
                              headers={"Content-Type": "application/merge-patch+json"})
    assert patched.status_code == 200 and patched.json()["status"] == {"ready": 1}
    assert patched.json()["metadata"]["generation"] == 2

    # lists, selectors, the second version, Tables with the printer columns
    listed = (await api.get(base, params={"labelSelector": "tier=a"})).json()
    assert listed["kind"] == "WidgetList" and [i["metadata"]["name"] for i in listed["items"]] == ["w1"]
    beta = (await api.get(f"/apis/{group}/v1beta1/namespaces/{namespace}/widgets/w1")).json()
    assert beta["apiVersion"] == f"{group}/v1beta1" and beta["spec"]["replicas"] == 3
    table = (await api.get(base, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})).json()
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Image", "Replicas"]
    assert table["rows"][0]["cells"] == ["w1", "nginx", 3]

    async with api.stream("GET", base, params={"watch": "true", "resourceVersion": "0", "timeoutSeconds": "2"}) as r:
        first = json.loads(await anext(r.aiter_lines()))
    assert first["type"] == "ADDED" and first["object"]["metadata"]["name"] == "w1"

    # scale subresource at the CRD's paths (what kubectl scale and autoscalers use)
    scale = (await api.get(f"{base}/w1/scale")).json()
    assert (scale["kind"], scale["spec"]["replicas"], scale["status"]["replicas"]) == ("Scale", 3, 1)
    scaled = await api.patch(f"{base}/w1/scale", json={"spec": {"replicas": 5}},
                             headers={"Content-Type": "application/merge-patch+json"})
    assert scaled.status_code == 200 and scaled.json()["spec"]["replicas"] == 5, scaled.text
    assert (await api.get(f"{base}/w1")).json()["spec"]["replicas"] == 5

    # server-side apply of a custom object, and a field selector on its name
    applied = await api.patch(f"{base}/w3", params={"fieldManager": "test"},
                              content=f"apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: w3}}\nspec: {{image: a}}\n",
                              headers={"Content-Type": "application/apply-patch+yaml"})
    assert applied.status_code == 201, applied.text  # an apply that creates, as in Kubernetes
    assert applied.json()["spec"] == {"image": "a", "replicas": 1}
    by_name = (await api.get(base, params={"fieldSelector": "metadata.name=w3"})).json()["items"]
    assert [i["metadata"]["name"] for i in by_name] == ["w3"]

    resources = (await api.get(f"/apis/{group}/v1")).json()["resources"]
    assert {"widgets", "widgets/status", "widgets/scale"} <= {r["name"] for r in resources}
    assert next(r for r in resources if r["name"] == "widgets")["shortNames"] == ["wd"]
    assert [v["version"] for v in (await api.get(f"/apis/{group}")).json()["versions"]] == ["v1", "v1beta1"]
    openapi = (await api.get(f"/openapi/v3/apis/{group}/v1")).json()
    schema = next(s for s in openapi["components"]["schemas"].values()
                  if s.get("x-kubernetes-group-version-kind", [{}])[0].get("group") == group)
    assert schema["properties"]["spec"]["required"] == ["image"]


async def test_deleting_the_crd_deletes_its_objects(api: httpx.AsyncClient, namespace: str, group: str) -> None:
    base = f"/apis/{group}/v1/namespaces/{namespace}/widgets"
    for i in range(3):
        r = await api.post(base, json={"apiVersion": f"{group}/v1", "kind": "Widget",
                                       "metadata": {"name": f"w{i}"}, "spec": {"image": "x"}})
        assert r.status_code == 201, r.text
    assert (await api.delete(f"{CRDS}/widgets.{group}")).status_code == 200
    started = time.monotonic()

    async def gone() -> bool:
        return (await api.get(f"{CRDS}/widgets.{group}")).status_code == 404

    await eventually(gone, timeout=20, message="the CRD (and its objects) never went away")
    assert time.monotonic() - started < 20
    assert (await api.get(base)).status_code == 404  # no longer served


async def test_invalid_crds_are_refused(api: httpx.AsyncClient) -> None:
    bad = crd("nodot")
    bad["metadata"]["name"] = "widgets.nodot"
    bad["spec"]["versions"][1]["storage"] = True
    bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["x"] = {
        "properties": {"y": {"type": "string"}}}
    r = await api.post(CRDS, json=bad)
    assert r.status_code == 422, r.text
    fields = {c["field"] for c in r.json()["details"]["causes"]}
    assert {"spec.group", "spec.versions"} <= fields, fields
    assert any("properties[x].type" in f for f in fields), fields
    assert (await api.get(f"{CRDS}/widgets.nodot")).status_code == 404
