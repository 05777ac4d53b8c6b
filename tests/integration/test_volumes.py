# ruff: noqa: F811 - the shared fixtures are imported from test_replicaset and requested by name
"""PersistentVolumes and claims against a real apiserver and a real controller-manager: static
binding, Retain and Delete reclaim, in-use protection, default class admission, validation.
Volumes are cluster-scoped and shared with other tests, so each test's names carry its
namespace."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import eventually
from tests.integration.test_replicaset import ControllerManagers, controller_managers  # noqa: F401

pytestmark = pytest.mark.timeout(90)


def pv(name: str, size: str = "1Gi", *, sc: str = "manual", reclaim: str = "Retain", labels: dict | None = None
       ) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"], "storageClassName": sc,
                     "persistentVolumeReclaimPolicy": reclaim, "hostPath": {"path": f"/tmp/{name}"}}}


def pvc(name: str, size: str = "1Gi", *, sc: str | None = "manual", **spec: Any) -> dict[str, Any]:
    body = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}, **spec}
    if sc is not None:
        body["storageClassName"] = sc
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": body}


async def _get(api: httpx.AsyncClient, path: str) -> dict[str, Any] | None:
    r = await api.get(path)
    return r.json() if r.status_code == 200 else None


async def _phase(api: httpx.AsyncClient, path: str, phase: str) -> dict[str, Any] | None:
    obj = await _get(api, path)
    return obj if obj and obj.get("status", {}).get("phase") == phase else None


async def test_a_claim_binds_the_smallest_fitting_volume_and_retain_keeps_it(
        api: httpx.AsyncClient, namespace: str, controller_managers: ControllerManagers) -> None:
    ns = namespace
    big, small = f"{ns}-big", f"{ns}-small"
    for body in (pv(big, "5Gi"), pv(small, "2Gi")):
        r = await api.post("/api/v1/persistentvolumes", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]
    try:
        await eventually(lambda: _phase(api, f"/api/v1/persistentvolumes/{small}", "Available"), timeout=20,
                         message="volume never Available")
        r = await api.post(f"/api/v1/namespaces/{ns}/persistentvolumeclaims", json=pvc("data"))
        assert r.status_code == 201, r.text
        assert "kubernetes.io/pvc-protection" in r.json()["metadata"]["finalizers"]
        claim = await eventually(lambda: _phase(api, f"/api/v1/namespaces/{ns}/persistentvolumeclaims/data",
                                                "Bound"), timeout=20, message="claim never Bound")
        assert claim["spec"]["volumeName"] == small
        assert claim["status"]["capacity"] == {"storage": "2Gi"}
        volume = await eventually(lambda: _phase(api, f"/api/v1/persistentvolumes/{small}", "Bound"), timeout=20,
                                  message="volume never Bound")
        assert volume["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]

        # a pod using the claim keeps it from going away (pvc-protection)
        r = await api.post(f"/api/v1/namespaces/{ns}/pods", json={
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "user"}, "spec": {
                "nodeName": "nowhere", "containers": [{"name": "c", "image": "x"}],
                "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}})
        assert r.status_code == 201, r.text
        r = await api.delete(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/data")
        assert r.status_code == 200, r.text
        still = await _get(api, f"/api/v1/namespaces/{ns}/persistentvolumeclaims/data")
        assert still is not None and still["metadata"]["deletionTimestamp"]
        r = await api.delete(f"/api/v1/namespaces/{ns}/pods/user", params={"gracePeriodSeconds": "0"})
        assert r.status_code == 200, r.text

        async def claim_gone() -> bool:
            return await _get(api, f"/api/v1/namespaces/{ns}/persistentvolumeclaims/data") is None

        await eventually(claim_gone, timeout=20, message="claim stayed after its pod went")
        await eventually(lambda: _phase(api, f"/api/v1/persistentvolumes/{small}", "Released"), timeout=20,
                         message="a Retain volume whose claim is gone must be Released")
    finally:
        for name in (big, small):
            await api.delete(f"/api/v1/persistentvolumes/{name}")


async def test_delete_reclaim_removes_the_volume(api: httpx.AsyncClient, namespace: str,
                                                 controller_managers: ControllerManagers) -> None:
    ns = namespace
    name = f"{ns}-gone"
    r = await api.post("/api/v1/persistentvolumes", json=pv(name, reclaim="Delete", labels={"tier": ns}))
    assert r.status_code == 201, r.text
    r = await api.post(f"/api/v1/namespaces/{ns}/persistentvolumeclaims",
                       json=pvc("scratch", selector={"matchLabels": {"tier": ns}}))
    assert r.status_code == 201, r.text
    await eventually(lambda: _phase(api, f"/api/v1/namespaces/{ns}/persistentvolumeclaims/scratch", "Bound"),
                     timeout=20, message="claim never Bound")
    await api.delete(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/scratch")

    async def volume_gone() -> bool:
        return await _get(api, f"/api/v1/persistentvolumes/{name}") is None

    await eventually(volume_gone, timeout=30, message="a Delete volume outlived its claim")


async def test_default_class_and_validation(api: httpx.AsyncClient, namespace: str) -> None:
    ns = namespace
    classes = (await api.get("/apis/storage.k8s.io/v1/storageclasses")).json()["items"]
    default = [c["metadata"]["name"] for c in classes
               if c["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true"]
    assert "local-path" in default
    r = await api.post(f"/api/v1/namespaces/{ns}/persistentvolumeclaims", json=pvc("dflt", sc=None))
    assert r.status_code == 201 and r.json()["spec"]["storageClassName"] == "local-path", r.text
    assert r.json()["status"]["phase"] == "Pending"
    r = await api.post(f"/api/v1/namespaces/{ns}/persistentvolumeclaims", json=pvc("none", sc=""))
    assert r.status_code == 201 and r.json()["spec"]["storageClassName"] == "", r.text

    bad = pvc("bad")
    del bad["spec"]["resources"]
    r = await api.post(f"/api/v1/namespaces/{ns}/persistentvolumeclaims", json=bad)
    assert r.status_code == 422 and r.json()["details"]["causes"][0]["field"] == "spec.resources[storage]", r.text
    r = await api.post(f"/api/v1/namespaces/{ns}/persistentvolumeclaims", json=pvc("blk", volumeMode="Block"))
    assert r.status_code == 422 and "spec.volumeMode" in r.text, r.text
    r = await api.patch(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/dflt",
                        json={"spec": {"accessModes": ["ReadWriteMany"]}},
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 422 and "spec is immutable" in r.text, r.text
    r = await api.post("/api/v1/persistentvolumes", json={**pv(f"{ns}-x"), "spec": {
        **pv(f"{ns}-x")["spec"], "local": {"path": "/x"}}})
    assert r.status_code == 422 and "may not specify more than 1 volume type" in r.text, r.text
    r = await api.post("/apis/storage.k8s.io/v1/storageclasses", json={
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": f"{ns}-sc"},
        "provisioner": "x.io/y", "volumeBindingMode": "Sometimes"})
    assert r.status_code == 422 and "volumeBindingMode" in r.text, r.text
