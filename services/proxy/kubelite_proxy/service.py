"""The proxy service: NATS informers for Services and Endpoints -> rules -> data path and DNS.

Every Service or Endpoints change recomputes that one Service's rules and
applies them; after an Endpoints change is applied the proxy publishes an
`Applied` acknowledgement (kubelite.bus.proxy) so a node agent can hold a
terminating pod's SIGTERM until every proxy stopped sending it new connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from kubelite.api.core_v1 import Endpoints, Service
from kubelite.api.scheme import ResourceInfo, resolve
from kubelite.bus import changes, proxy
from kubelite.bus.identity import BusIdentity
from kubelite.client.nats import NatsAPIClient
from kubelite.reconcile.nats_informer import NatsInformer
from kubelite_proxy.addresses import AddressManager
from kubelite_proxy.dataplane import Dataplane, UserspaceDataplane
from kubelite_proxy.dns_server import DNSServer
from kubelite_proxy.rules import ServiceKey, key_of, service_rules

log = logging.getLogger(__name__)

def _info(plural: str) -> ResourceInfo:
    info = resolve(plural)
    assert info is not None, plural
    return info


class _InformerView:
    """The DNS server's read access to the informer caches."""

    def __init__(self, services: NatsInformer, endpoints: NatsInformer) -> None:
        self._services = services
        self._endpoints = endpoints

    def service(self, namespace: str, name: str) -> Service | None:
        return self._services.get(namespace, name)

    def endpoints(self, namespace: str, name: str) -> Endpoints | None:
        return self._endpoints.get(namespace, name)


class ProxyService:
    def __init__(
        self,
        nc: Any,
        *,
        node_name: str,
        bind_address: str = "0.0.0.0",
        dns_bind: tuple[str, int] | None = None,
        cluster_domain: str = "cluster.local",
        resync_seconds: float = 60,
        addresses: AddressManager | None = None,
        udp_idle_timeout: float = 30.0,
        dns_upstreams: list[tuple[str, int]] | None = None,
        api: NatsAPIClient | None = None,
        dataplane: Dataplane | None = None,
    ) -> None:
        """`dataplane`: the kernel one (NftablesDataplane) or, by default, the userspace one."""
        self.nc = nc
        self.node_name = node_name
        self.bind_address = bind_address
        client = api or NatsAPIClient(nc, caller=BusIdentity("proxy", node_name))
        self.services = NatsInformer(
            nc, client, _info("services"), subject=changes.of("services"),
            resync_seconds=resync_seconds,
        )  # fmt: skip
        self.endpoints = NatsInformer(
            nc, client, _info("endpoints"), subject=changes.of("endpoints"),
            resync_seconds=resync_seconds,
        )  # fmt: skip
        self.dataplane = dataplane or UserspaceDataplane(addresses or AddressManager(),
                                                         udp_idle_timeout=udp_idle_timeout)
        self.dns: DNSServer | None = None
        if dns_bind is not None:
            self.dns = DNSServer(
                _InformerView(self.services, self.endpoints), domain=cluster_domain,
                host=dns_bind[0], port=dns_bind[1], upstreams=dns_upstreams,
            )  # fmt: skip
        self.services.add_handler(self._on_service, lambda _old, new: self._on_service(new), self._on_service)
        self.endpoints.add_handler(self._on_endpoints, self._on_endpoints_update, self._on_endpoints_deleted)
        self.ready = asyncio.Event()
        self._unacked: dict[ServiceKey, Endpoints] = {}
        self._acks_held: dict[ServiceKey, Endpoints] | None = {}  # until the data path has started

    # -- event handlers (each runs on its informer's task) --------------------

    async def _recompute(self, key: ServiceKey) -> None:
        svc = self.services.get(key.namespace, key.name)
        eps = self.endpoints.get(key.namespace, key.name)
        rules = service_rules(svc, eps, node_address=self.bind_address) if svc is not None else []
        await self.dataplane.apply(key, rules)

    async def _on_service(self, svc: Service) -> None:
        key = key_of(svc)
        await self._recompute(key)
        waiting = self._unacked.pop(key, None)
        if waiting is not None:
            await self._ack(waiting)

    async def _on_endpoints(self, eps: Endpoints) -> None:
        key = key_of(eps)
        await self._recompute(key)
        if self.services.get(key.namespace, key.name) is None:
            # Endpoints heard before their Service: nothing applied yet, so no ack until it is
            self._unacked[key] = eps
            if len(self._unacked) > 10000:  # Endpoints without a Service forever: bound the memory
                self._unacked.pop(next(iter(self._unacked)))
            return
        self._unacked.pop(key, None)
        await self._ack(eps)

    async def _on_endpoints_update(self, old: Endpoints, new: Endpoints) -> None:
        if old is new:  # a periodic resync, nothing changed
            return
        await self._on_endpoints(new)

    async def _on_endpoints_deleted(self, eps: Endpoints) -> None:
        await self._on_endpoints(eps)

    async def _ack(self, eps: Endpoints) -> None:
        if self._acks_held is not None:  # not applied yet (see run): acknowledged once it is
            self._acks_held[key_of(eps)] = eps
            return
        meta = eps.metadata
        msg = proxy.Applied(self.node_name, meta.namespace or "", meta.name or "", meta.resourceVersion or "")
        try:
            await self.nc.publish(proxy.applied(self.node_name), proxy.encoder.encode(msg))
        except Exception as exc:  # the bus being down must not stop the data path
            log.debug("cannot publish applied ack: %s", exc)

    # -- lifecycle -------------------------------------------------------------

    async def run(self) -> None:
        if self.dns is not None:
            try:
                await self.dns.start()
            except OSError as exc:  # forwarding matters more than DNS: keep running without it
                log.error("cluster DNS disabled: cannot listen on %s:%d: %s", self.dns.host, self.dns.port, exc)
                self.dns = None
        tasks = [
            self.services.start(),
            self.endpoints.start(),
            asyncio.get_running_loop().create_task(self.dataplane.run_checks()),
        ]
        try:
            await self.services.wait_synced()
            await self.endpoints.wait_synced()
            await self.dataplane.start()
            held, self._acks_held = self._acks_held or {}, None
            for eps in held.values():
                await self._ack(eps)
            self.ready.set()
            log.info(
                "proxy on %s synced: %d services, %d rules",
                self.node_name, len(self.services.keys()), len(self.dataplane.rules()),
            )  # fmt: skip
            await asyncio.gather(*tasks)
        finally:
            await self.services.stop()
            await self.endpoints.stop()
            for t in tasks:
                t.cancel()
            with contextlib.suppress(Exception):
                await self.dataplane.close()
            if self.dns is not None:
                await self.dns.close()
