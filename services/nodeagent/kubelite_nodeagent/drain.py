"""Zero-drop termination: hold a pod's SIGTERM until no proxy sends it new connections.

Kubernetes drops requests during rollouts because a pod may get SIGTERM before
every proxy has stopped sending to it. kubelite closes that gap:

1. The Endpoints controller drops a pod from `addresses` as soon as it has a
   deletionTimestamp (endpoints controller, in the controller-manager).
2. Every proxy publishes `kubelite.proxy.<node>.applied` {node, namespace,
   name, resourceVersion} after applying an Endpoints change (services/proxy).
3. Before stopping a terminating pod's containers, the node agent waits until
   each Endpoints that listed the pod's IP has a version without it, and every
   proxy (one per Ready node) has acknowledged that version — or until a
   bounded wait (`--endpoint-drain-timeout`, and never more than half the grace
   period) runs out, so a missing proxy delays a pod, never blocks it.
4. Then it waits (at most ACCEPT_WAIT_SECONDS) until the pod's listening sockets
   have no connection waiting to be accepted: a proxy may have connected just
   before it applied the change, and a server that closes its listener on
   SIGTERM (Python's http.server, Go's Server.Shutdown) resets whatever is
   still queued — the client would see "connection reset by peer".

This module is the agent's side: one `DrainGate` per agent process, fed by an
Endpoints informer (NatsInformer: list + change events) and the proxies'
`Applied` acknowledgements (kubelite.bus.proxy).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from kubelite.api.core_v1 import ENDPOINTS, Endpoints
from kubelite.bus import changes, proxy
from kubelite.reconcile.cache import resource_version
from kubelite.reconcile.nats_informer import NatsInformer

log = logging.getLogger("kubelite.nodeagent.drain")

REMOVAL_MEMORY_SECONDS = 120.0  # how long a "removed at rv R" fact is kept
POLL_SECONDS = 0.02
ACCEPT_WAIT_SECONDS = 1.0
PROXY_LIST_SECONDS = 2.0  # how long a list of the Ready nodes serves the pods stopping meanwhile

Key = tuple[str, str]  # (namespace, name) of an Endpoints


def ready_ips(eps: Endpoints) -> frozenset[str]:
    """IPs in `addresses` (the ones proxies send traffic to) of an Endpoints' subsets."""
    return frozenset(a.ip for s in (eps.subsets or []) for a in (s.addresses or []) if a.ip)


def _key(eps: Endpoints) -> Key:
    return (eps.metadata.namespace or "", eps.metadata.name or "")


class DrainGate:
    def __init__(self, *, nc: Any, api: Any, endpoints: Any = None, timeout: float = 5.0) -> None:
        """`endpoints`: an Informer of Endpoints (None: fed only through `observe`, in tests)."""
        self.nc = nc
        self.api = api
        self.informer = endpoints
        self.timeout = timeout
        self.endpoints: dict[Key, tuple[int, frozenset[str]]] = {}  # latest known version
        # ip -> {endpoints key: rv of the version that no longer listed it, when it was seen}
        self.removed: dict[str, dict[Key, tuple[int, float]]] = {}
        self.acks: dict[tuple[str, Key], int] = {}  # (proxy node, endpoints) -> acked rv
        self._subs: list[Any] = []
        self._proxies: tuple[float, list[str]] | None = None  # (when listed, Ready nodes)
        self._proxies_lock = asyncio.Lock()
        if endpoints is not None:
            endpoints.add_handler(on_add=self._on_endpoints, on_update=lambda _old, new: self._on_endpoints(new),
                                  on_delete=self._on_endpoints_deleted)

    @classmethod
    def over_nats(cls, nc: Any, api: Any, *, timeout: float, resync: float = 60.0) -> DrainGate:
        informer = NatsInformer(nc, api, ENDPOINTS, subject=changes.of("endpoints"), resync_seconds=resync,
                                watch_reconnects=False)
        return cls(nc=nc, api=api, endpoints=informer, timeout=timeout)

    async def start(self) -> None:
        if self.informer is not None:
            self.informer.start()
        self._subs.append(await self.nc.subscribe(proxy.APPLIED_ALL, cb=self._on_ack))

    async def stop(self) -> None:
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        if self.informer is not None:
            await self.informer.stop()

    async def on_reconnect(self) -> None:
        if self.informer is not None:
            self.informer.request_relist()

    # --- inputs ---------------------------------------------------------------------
    def observe(self, key: Key, rv: int, ips: frozenset[str]) -> None:
        """A version of an Endpoints: remember which IPs it dropped, and at which rv."""
        old = self.endpoints.get(key)
        if old is not None and rv <= old[0]:
            return
        self.endpoints[key] = (rv, ips)
        if old is not None:
            now = time.monotonic()
            for ip in old[1] - ips:
                self.removed.setdefault(ip, {})[key] = (rv, now)
        for ip in ips:
            gone = self.removed.get(ip)
            if gone is not None:
                gone.pop(key, None)

    def _on_endpoints(self, eps: Endpoints) -> None:
        self.observe(_key(eps), resource_version(eps), ready_ips(eps))

    def _on_endpoints_deleted(self, eps: Endpoints) -> None:
        self.observe(_key(eps), resource_version(eps), frozenset())

    async def _on_ack(self, msg: Any) -> None:
        try:
            ack = proxy.decoder.decode(msg.data)
        except msgspec.MsgspecError:
            return
        k = (ack.node, (ack.namespace, ack.name))
        self.acks[k] = max(self.acks.get(k, 0), int(ack.resourceVersion or 0))

    # --- the wait -------------------------------------------------------------------
    async def _proxy_nodes(self) -> list[str]:
        """The Ready nodes (one proxy each), listed at most once per PROXY_LIST_SECONDS for
        all the pods stopping meanwhile: a rollout of 50 pods lists the nodes once or twice,
        not 50 times (at 5,000 nodes each LIST is ~10 MB)."""
        async with self._proxies_lock:
            if self._proxies is not None and time.monotonic() - self._proxies[0] < PROXY_LIST_SECONDS:
                return self._proxies[1]
            nodes, _ = await self.api.list("nodes")
            out = []
            for n in nodes:
                conds = {c.type: c.status for c in ((n.status.conditions if n.status else None) or [])}
                if conds.get("Ready") == "True":
                    out.append(n.metadata.name or "")
            self._proxies = (time.monotonic(), out)
            return out

    def behind_a_service(self, ip: str, namespace: str) -> bool:
        """Whether some Endpoints lists `ip`, or dropped it lately: else no proxy sends it
        anything and there is nothing to wait for (most pods of a batch Job, say)."""
        return ip in self.removed or any(
            key[0] == namespace and ip in ips for key, (_, ips) in self.endpoints.items())

    def pending(self, ip: str, namespace: str, proxies: list[str]) -> list[str]:
        """What still stands between the pod and SIGTERM (empty: safe to stop)."""
        waits = []
        for key, (_, ips) in self.endpoints.items():
            if key[0] == namespace and ip in ips:
                waits.append(f"endpoints {key[0]}/{key[1]} still lists {ip}")
        now = time.monotonic()
        for key, (rv, seen) in list(self.removed.get(ip, {}).items()):
            if now - seen > REMOVAL_MEMORY_SECONDS:
                continue
            for node in proxies:
                if self.acks.get((node, key), 0) < rv:
                    waits.append(f"proxy {node} has not applied endpoints {key[0]}/{key[1]}@{rv}")
        return waits

    async def wait_drained(self, pod: Any, budget: float) -> float:
        """Wait (at most min(timeout, budget)) until no proxy sends `pod` new connections.
        Returns the seconds waited."""
        ip = getattr(getattr(pod, "status", None), "podIP", None)
        if not ip or getattr(pod.spec, "hostNetwork", False):
            return 0.0
        start = time.monotonic()
        limit = start + max(0.0, min(self.timeout, budget))
        namespace = pod.metadata.namespace or ""
        try:
            if self.informer is not None:
                await self.informer.wait_synced(timeout=max(0.0, limit - start))
            proxies = await self._proxy_nodes() if self.behind_a_service(ip, namespace) else []
        except Exception as exc:  # the API unreachable: do not hold the pod hostage
            log.info("drain gate skipped for %s/%s: %s", namespace, pod.metadata.name, exc)
            return time.monotonic() - start
        waits = self.pending(ip, namespace, proxies)
        while waits and time.monotonic() < limit:
            await asyncio.sleep(POLL_SECONDS)
            waits = self.pending(ip, namespace, proxies)
        waited = time.monotonic() - start
        if waits:
            log.info("pod %s/%s: stopping after %.1fs without full drain: %s", namespace,
                     pod.metadata.name, waited, "; ".join(waits[:3]))
        elif waited > 0.05:
            log.debug("pod %s/%s: drained from proxies in %.3fs", namespace, pod.metadata.name, waited)
        self._forget_old()
        return waited

    def _forget_old(self) -> None:
        now = time.monotonic()
        for ip in list(self.removed):
            keep = {k: v for k, v in self.removed[ip].items() if now - v[1] <= REMOVAL_MEMORY_SECONDS}
            if keep:
                self.removed[ip] = keep
            else:
                del self.removed[ip]


async def wait_accepted(queued: Callable[[], Awaitable[int]], budget: float) -> float:
    """Poll `queued()` (connections waiting in the pod's accept queues) until it is 0, for at
    most min(ACCEPT_WAIT_SECONDS, budget); returns the seconds waited. Step 4 above."""
    start = time.monotonic()
    limit = start + max(0.0, min(ACCEPT_WAIT_SECONDS, budget))
    try:
        while await queued() and time.monotonic() < limit:  # noqa: ASYNC110 - the kernel sends no event
            await asyncio.sleep(POLL_SECONDS / 2)
    except OSError as exc:  # the namespace is gone or unreadable: nothing to protect
        log.debug("accept queue unreadable: %s", exc)
    return time.monotonic() - start
