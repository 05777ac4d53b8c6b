"""Server-side Tables (kubectl get) and generated OpenAPI documents."""

from __future__ import annotations

import httpx

TABLE_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,"
                "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")


async def test_list_as_table(api: httpx.AsyncClient, namespace: str) -> None:
    await api.post(f"/api/v1/namespaces/{namespace}/configmaps",
                   json={"metadata": {"name": "t1", "labels": {"a": "b"}}, "data": {"x": "1", "y": "2"}})
    r = await api.get(f"/api/v1/namespaces/{namespace}/configmaps", headers={"accept": TABLE_ACCEPT})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json;as=Table")
    table = r.json()
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    [row] = [r for r in table["rows"] if r["cells"][0] != "kube-root-ca.crt"]  # every namespace has that one
    assert row["cells"][:2] == ["t1", "2"]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["labels"] == {"a": "b"}
    r = await api.get(f"/api/v1/namespaces/{namespace}/configmaps/t1", headers={"accept": TABLE_ACCEPT})
    assert r.json()["rows"][0]["cells"][0] == "t1"
    # Plain JSON is still the default.
    assert (await api.get(f"/api/v1/namespaces/{namespace}/configmaps")).json()["kind"] == "ConfigMapList"


async def test_pod_table_has_wide_columns_at_priority_1(api: httpx.AsyncClient, namespace: str) -> None:
    await api.post(f"/api/v1/namespaces/{namespace}/pods",
                   json={"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    table = (await api.get(f"/api/v1/namespaces/{namespace}/pods", headers={"accept": TABLE_ACCEPT})).json()
    cols = {c["name"]: c["priority"] for c in table["columnDefinitions"]}
    assert cols["Name"] == cols["Ready"] == cols["Status"] == 0 and cols["IP"] == cols["Node"] == 1
    assert table["rows"][0]["cells"][1:3] == ["0/1", "Pending"]


async def test_openapi_v3_tells_kubectl_fields_are_validated_server_side(api: httpx.AsyncClient) -> None:
    index = (await api.get("/openapi/v3")).json()["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/coordination.k8s.io/v1"} <= set(index)
    doc = (await api.get(index["apis/apps/v1"]["serverRelativeURL"])).json()
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    schemas = doc["components"]["schemas"]
    assert schemas["Deployment"]["x-kubernetes-group-version-kind"][0]["kind"] == "Deployment"
    assert "replicas" in schemas["DeploymentSpec"]["properties"]
    assert (await api.get("/openapi/v3/apis/nope/v1")).status_code == 404
    v2 = (await api.get("/openapi/v2", headers={"accept": "application/json"})).json()
    assert v2["swagger"] == "2.0" and "Pod" in v2["definitions"]


async def test_generation_only_for_kinds_with_spec(api: httpx.AsyncClient, namespace: str) -> None:
    r = await api.post(f"/api/v1/namespaces/{namespace}/configmaps", json={"metadata": {"name": "g"}})
    assert "generation" not in r.json()["metadata"]
