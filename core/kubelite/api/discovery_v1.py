"""discovery.k8s.io/v1 EndpointSlice: the endpoints of a Service as kubectl >= 1.33 reads them.

Field names are Kubernetes' (k8s.io/api/discovery/v1/types.go). `endpoints` is
serialised even when empty (Kubernetes' field has no omitempty and the official
clients require it), so writers set it to a list, never leave it None.
"""

from kubelite.api.base import Model
from kubelite.api.core_v1 import ObjectReference
from kubelite.api.meta import Object
from kubelite.api.scheme import ResourceInfo, register

ADDRESS_TYPES = ("IPv4", "IPv6", "FQDN")
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"


class EndpointConditions(Model):
    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None


class ForZone(Model):
    name: str | None = None


class ForNode(Model):
    name: str | None = None


class EndpointHints(Model):
    forZones: list[ForZone] | None = None
    forNodes: list[ForNode] | None = None


class Endpoint(Model):
    addresses: list[str] | None = None
    conditions: EndpointConditions | None = None
    hostname: str | None = None
    targetRef: ObjectReference | None = None
    deprecatedTopology: dict[str, str] | None = None
    nodeName: str | None = None
    zone: str | None = None
    hints: EndpointHints | None = None


class EndpointPort(Model):
    name: str | None = None
    protocol: str | None = None
    port: int | None = None
    appProtocol: str | None = None


class EndpointSlice(Object):
    addressType: str | None = None
    endpoints: list[Endpoint] | None = None
    ports: list[EndpointPort] | None = None


ENDPOINTSLICES = register(ResourceInfo(
    group="discovery.k8s.io", version="v1", kind="EndpointSlice", plural="endpointslices",
    singular="endpointslice", namespaced=True, type=EndpointSlice, has_spec=False,
))
