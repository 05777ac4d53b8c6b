"""The Services that pods' service-link variables come from, watched once per process.

Every container start needs the `kubernetes` Service of `default` (KUBERNETES_SERVICE_HOST...)
and, with enableServiceLinks, every Service of the pod's namespace. The kubelet reads both from
a Service informer (kubelet_pods.go, getServiceEnvVarMap). Asking the apiserver instead cost
two requests per pod start, one of them a LIST: in a burst of 50 pods, 100 requests on the path
of every start.

One cache per node agent process, shared by its nodes (like the drain gate and the routes). Until
its first list has arrived, `namespace()` and `master()` answer None and the caller asks the
apiserver, as before. A Service created a moment before a pod may be missing from that pod's
variables if its change event has not arrived yet; the kubelet's informer has the same lag.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kubelite.api.core_v1 import SERVICES, Service
from kubelite.bus import changes
from kubelite.reconcile.nats_informer import NatsInformer

MASTER_NAMESPACE, MASTER_NAME = "default", "kubernetes"


class ServiceCache:
    def __init__(self, informer: Any) -> None:
        """`informer`: an Informer of Services (NatsInformer on kubelite.changes.services.>)."""
        self.informer = informer

    @classmethod
    def over_nats(cls, nc: Any, api: Any, *, resync: float = 60.0) -> ServiceCache:
        return cls(NatsInformer(nc, api, SERVICES, subject=changes.of("services"), resync_seconds=resync,
                                watch_reconnects=False))  # fmt: skip

    def start(self) -> asyncio.Task[None]:
        return self.informer.start()

    async def stop(self) -> None:
        await self.informer.stop()

    async def on_reconnect(self) -> None:
        self.informer.request_relist()

    def namespace(self, namespace: str) -> list[Service] | None:
        """The Services of `namespace` by name, or None before the first list."""
        if not self.informer.has_synced:
            return None
        return sorted(self.informer.list(namespace), key=lambda s: s.metadata.name or "")

    def master(self) -> list[Service] | None:
        """[the `kubernetes` Service] ([] if there is none), or None before the first list."""
        if not self.informer.has_synced:
            return None
        found = self.informer.get(MASTER_NAMESPACE, MASTER_NAME)
        return [found] if found is not None else []
