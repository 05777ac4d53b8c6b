"""A node agent's Services come from one watch per process (servicecache.py), as a kubelet's
come from its Service informer: a pod's service-link variables cost no request per pod.

Real nats-server, apiserver and etcd; the cache runs as a node identity, so the node's bus
permissions (changes.services) and its RBAC (list services) are exercised too."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import msgspec

from kubelite.api.core_v1 import Pod
from kubelite.bus.connection import connect_nats
from kubelite.bus.identity import BusIdentity
from kubelite.client.nats import NatsAPIClient
from kubelite.pki import ClusterPKI
from kubelite_nodeagent.configsources import ConfigFetcher
from kubelite_nodeagent.servicecache import ServiceCache
from kubelite_nodeagent.servicelinks import service_env
from tests.conftest import as_bus, eventually


async def test_service_links_come_from_the_watched_services(
    nats_url: str, cluster_pki: ClusterPKI, register_nodes: Any, api: httpx.AsyncClient, namespace: str,
) -> None:
    node = f"svc-{uuid.uuid4().hex[:6]}"
    register_nodes(node)
    nc = await connect_nats(nats_url, name="test-services", wait_seconds=10,
                            credentials=as_bus(cluster_pki, "node", node))
    cache = ServiceCache.over_nats(nc, NatsAPIClient(nc, caller=BusIdentity("node", node)))
    pod = msgspec.convert({"metadata": {"name": "p", "namespace": namespace}}, Pod)
    try:
        assert cache.namespace(namespace) is None and cache.master() is None  # not listed yet: ask the API
        cache.start()
        await cache.informer.wait_synced(10)
        assert cache.namespace(namespace) == []
        r = await api.post(f"/api/v1/namespaces/{namespace}/services", json={
            "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80, "targetPort": 8080}]}})
        assert r.status_code == 201, r.text
        cluster_ip = r.json()["spec"]["clusterIP"]
        await eventually(lambda: [s.metadata.name for s in cache.namespace(namespace) or []] == ["web"],
                         timeout=10, message="the created Service never reached the node's cache")
        fetcher = ConfigFetcher(services=cache)
        linked = await fetcher.services(None, pod)  # type: ignore[arg-type]  # no API: the cache answers
        assert service_env(linked)["WEB_SERVICE_HOST"] == cluster_ip
        assert await fetcher.master_service(None) == cache.master()  # type: ignore[arg-type]
        r = await api.delete(f"/api/v1/namespaces/{namespace}/services/web")
        assert r.status_code == 200, r.text
        await eventually(lambda: cache.namespace(namespace) == [], timeout=10,
                         message="the deleted Service stayed in the node's cache")
    finally:
        await cache.stop()
        await nc.close()
