"""coordination.k8s.io/v1 Lease: leader election for the scheduler and controller-manager."""

from kubelite.api.base import Model
from kubelite.api.meta import Object
from kubelite.api.scheme import ResourceInfo, register


class LeaseSpec(Model):
    holderIdentity: str | None = None
    leaseDurationSeconds: int | None = None
    acquireTime: str | None = None  # MicroTime (RFC3339 with microseconds)
    renewTime: str | None = None  # MicroTime
    leaseTransitions: int | None = None
    strategy: str | None = None
    preferredHolder: str | None = None


class Lease(Object):
    spec: LeaseSpec | None = None


LEASES = register(ResourceInfo(
    group="coordination.k8s.io", version="v1", kind="Lease", plural="leases", singular="lease",
    namespaced=True, type=Lease,
))
