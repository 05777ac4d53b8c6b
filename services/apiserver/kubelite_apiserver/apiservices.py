"""GET and LIST of apiregistration.k8s.io/v1 APIServices, computed from what this apiserver
serves (kubelite.api.apiregistration_v1): `kubectl get apiservices` shows every group/version
as Local and Available, as kube-aggregator's autoregistration lists the built-in ones."""

from __future__ import annotations

import msgspec

from kubelite import errors
from kubelite.api.apiregistration_v1 import api_service
from kubelite.bus.api import APIRequest
from kubelite.timefmt import rfc3339
from kubelite_apiserver import discovery

STARTED = rfc3339()
# kube-apiserver's groupPriorityMinimum for the groups kubelite serves; any other group (a CRD's) 1000
PRIORITY = {"": 18000, "apps": 17800, "events.k8s.io": 17750, "authentication.k8s.io": 17700,
            "authorization.k8s.io": 17600, "autoscaling": 17500, "batch": 17400, "policy": 17100,
            "rbac.authorization.k8s.io": 17000, "apiextensions.k8s.io": 16700, "coordination.k8s.io": 16500,
            "discovery.k8s.io": 16200, "storage.k8s.io": 16800, "apiregistration.k8s.io": 18000,
            "metrics.k8s.io": 100}


def all_services() -> list[dict]:
    out = []
    groups = [("", discovery.api_versions("")["versions"])] + [
        (g["name"], [v["version"] for v in g["versions"]]) for g in discovery.api_group_list()["groups"]]
    for group, versions in groups:
        for rank, version in enumerate(versions):
            out.append(api_service(group, version, STARTED, priority=PRIORITY.get(group, 1000),
                                   version_priority=15 - rank if group in PRIORITY else 100 - rank))
    return sorted(out, key=lambda s: s["metadata"]["name"])


def serve(req: APIRequest) -> tuple[int, bytes]:
    if req.verb == "list":
        return 200, msgspec.json.encode({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIServiceList",
                                         "metadata": {"resourceVersion": "0"}, "items": all_services()})
    if req.verb == "get":
        found = next((s for s in all_services() if s["metadata"]["name"] == req.name), None)
        if found is None:
            raise errors.not_found("apiservices.apiregistration.k8s.io", req.name)
        return 200, msgspec.json.encode(found)
    raise errors.method_not_allowed(f"{req.verb} is not supported on apiservices: kubelite serves every API group "
                                    "itself and proxies to no aggregated API server")
