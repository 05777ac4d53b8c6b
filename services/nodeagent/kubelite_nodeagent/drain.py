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

This module is the agent's side: one `DrainGate` per agent process, fed by the
Endpoints change events and the proxies' acknowledgements.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import msgspec

from kubelite.bus import changes, proxy

log = logging.getLogger("kubelite.nodeagent.drain")

REMOVAL_MEMORY_SECONDS = 120.0  # how long a "removed at rv R" fact is kept
POLL_SECONDS = 0.02

Key = tuple[str, str]  # (namespace, name) of an Endpoints


class _EventObject(msgspec.Struct):
    metadata: dict[str, Any] = {}
    subsets: list[dict[str, Any]] | None = None


class _Event(msgspec.Struct):
    type: str
    object: _EventObject


def ready_ips(subsets: list[dict[str, Any]] | None) -> frozenset[str]:
    """IPs in `addresses` (the ones proxies send traffic to) of an Endpoints' subsets."""
    return frozenset(
        a.get("ip", "") for s in (subsets or []) for a in (s.get("addresses") or []) if a.get("ip")
    )


def _rv(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


class DrainGate:
    def __init__(self, nc: Any, api: Any, *, timeout: float = 5.0) -> None:
        self.nc = nc
        self.api = api
        self.timeout = timeout
        self.endpoints: dict[Key, tuple[int, frozenset[str]]] = {}  # latest known version
        # ip -> {endpoints key: rv of the version that no longer listed it, when it was seen}
        self.removed: dict[str, dict[Key, tuple[int, float]]] = {}
        self.acks: dict[tuple[str, Key], int] = {}  # (proxy node, endpoints) -> acked rv
        self._subs: list[Any] = []
        self._listed = False

    async def start(self) -> None:
        self._subs.append(await self.nc.subscribe(changes.of("endpoints"), cb=self._on_change))
        self._subs.append(await self.nc.subscribe(proxy.APPLIED_ALL, cb=self._on_ack))

    async def stop(self) -> None:
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

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

    async def _on_change(self, msg: Any) -> None:
        try:
            ev = msgspec.json.decode(msg.data, type=_Event)
        except msgspec.MsgspecError:
            return
        meta = ev.object.metadata
        key = (meta.get("namespace") or "", meta.get("name") or "")
        ips = frozenset() if ev.type == "DELETED" else ready_ips(ev.object.subsets)
        self.observe(key, _rv(meta.get("resourceVersion")), ips)

    async def _on_ack(self, msg: Any) -> None:
        try:
            ack = proxy.decoder.decode(msg.data)
        except msgspec.MsgspecError:
            return
        k = (ack.node, (ack.namespace, ack.name))
        self.acks[k] = max(self.acks.get(k, 0), _rv(ack.resourceVersion))

    # --- the wait -------------------------------------------------------------------
    async def _list_once(self, namespace: str) -> None:
        items, _ = await self.api.list("endpoints", namespace)
        for e in items:
            subsets = msgspec.to_builtins(e.subsets) if e.subsets else None
            self.observe((namespace, e.metadata.name or ""), _rv(e.metadata.resourceVersion), ready_ips(subsets))

    async def _proxy_nodes(self) -> list[str]:
        nodes, _ = await self.api.list("nodes")
        out = []
        for n in nodes:
            conds = {c.type: c.status for c in ((n.status.conditions if n.status else None) or [])}
            if conds.get("Ready") == "True":
                out.append(n.metadata.name or "")
        return out

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
            await self._list_once(namespace)
            proxies = await self._proxy_nodes()
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
