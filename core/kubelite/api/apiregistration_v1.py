"""apiregistration.k8s.io/v1 APIService: one per group/version the apiserver serves.

kubelite serves every group itself (metrics.k8s.io included: its apiservers answer it from the
bus, where Kubernetes would proxy to metrics-server), so the list is computed from what is
served, each `Local` and Available; nothing is stored and nothing is proxied. Creating an
APIService (an aggregated server elsewhere) is refused."""

from typing import Any

from kubelite.api.base import Model
from kubelite.api.meta import Condition, Object
from kubelite.api.scheme import ResourceInfo, register


class ServiceReference(Model):
    namespace: str | None = None
    name: str | None = None
    port: int | None = None


class APIServiceSpec(Model):
    service: ServiceReference | None = None
    group: str | None = None
    version: str | None = None
    insecureSkipTLSVerify: bool | None = None
    caBundle: str | None = None
    groupPriorityMinimum: int | None = None
    versionPriority: int | None = None


class APIServiceStatus(Model):
    conditions: list[Condition] | None = None


class APIService(Object):
    spec: APIServiceSpec | None = None
    status: APIServiceStatus | None = None


APISERVICES = register(ResourceInfo(
    group="apiregistration.k8s.io", version="v1", kind="APIService", plural="apiservices", singular="apiservice",
    namespaced=False, type=APIService, verbs=("get", "list"), subresources=(), has_spec=False,
    categories=("api-extensions",), extra={"computed": "apiservices"},
))


def api_service(group: str, version: str, created: str, *, priority: int, version_priority: int) -> dict[str, Any]:
    """The APIService of one served group/version ("v1." for the core group), Local and Available."""
    return {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": f"{version}.{group}", "creationTimestamp": created,
                         "labels": {"kube-aggregator.kubernetes.io/automanaged": "onstart"}},
            "spec": {"group": group or None, "version": version, "groupPriorityMinimum": priority,
                     "versionPriority": version_priority},
            "status": {"conditions": [{"type": "Available", "status": "True", "reason": "Local",
                                       "message": "Local APIServices are always available",
                                       "lastTransitionTime": created}]}}
