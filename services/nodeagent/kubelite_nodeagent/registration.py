"""Node registration, node conditions and the node Lease heartbeat.

`register()` creates the Node, or (agent restart, re-registration) merges our
labels into the existing one and rewrites its status.  `run()` renews the
Lease `kube-node-lease/<node>` every interval and writes node status when a
condition changes (and at least every NODE_STATUS_REPORT seconds, as the
kubelet's nodeStatusReportFrequency).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

import msgspec

from kubelite.api.coordination_v1 import Lease, LeaseSpec
from kubelite.api.core_v1 import Node
from kubelite.api.meta import ObjectMeta, OwnerReference
from kubelite.client.nats import NatsAPIClient
from kubelite.errors import APIError
from kubelite.timefmt import micro_time, rfc3339
from kubelite_nodeagent import nodeinfo

log = logging.getLogger("kubelite.nodeagent.registration")

LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40
NODE_STATUS_REPORT = 300.0
RUNTIME_CHECK_TIMEOUT = 10.0


class Registrar:
    def __init__(
        self,
        api: NatsAPIClient,
        settings: nodeinfo.NodeSettings,
        facts: nodeinfo.HostFacts,
        *,
        interval: float = 10.0,
        pressure: Callable[[], nodeinfo.Pressure] | None = None,
        runtime_ok: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.api = api
        self.settings = settings
        self.facts = facts
        self.interval = interval
        self.pressure = pressure or (lambda: nodeinfo.Pressure())
        self.runtime_ok = runtime_ok
        self._healthy = True
        self.node: Node | None = None
        self.lease: Lease | None = None
        self._status_at = 0.0
        # set when heartbeats stopped for a while (a failed renewal, a paused process, a
        # partition): the node lifecycle controller may have marked the Node Unknown meanwhile,
        # which our cached copy cannot show, so the next status check reads the server's copy.
        # The first check always does: a restarted agent registers, then starts heartbeats a
        # moment later, and the controller may judge the lease of its previous life in between
        self._recheck = True
        self._renewed_at = 0.0
        self.renewals = 0

    @property
    def name(self) -> str:
        return self.settings.name

    async def register(self) -> Node:
        """Create or update our Node; retried until the apiserver answers."""
        delay = 0.5
        while True:
            try:
                self.node = await self._register_once()
                log.info("node %s registered", self.name)
                return self.node
            except APIError as exc:
                log.warning("node %s: registration failed (retry in %.1fs): %s", self.name, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _register_once(self) -> Node:
        conditions = nodeinfo.node_conditions(self.pressure(), True, rfc3339(time.time()), None)
        wanted = nodeinfo.build_node(self.settings, self.facts, conditions)
        try:
            existing: Node = await self.api.get("nodes", "", self.name)
        except APIError as exc:
            if exc.code != 404:
                raise
            try:
                node = await self.api.create(wanted)
                self._status_at = time.time()
                return node
            except APIError as exc2:
                if exc2.code != 409:
                    raise
                existing = await self.api.get("nodes", "", self.name)
        # Re-registration: our labels and annotations win; podCIDR is set once; status is ours.
        meta = existing.metadata
        labels = {**(meta.labels or {}), **(wanted.metadata.labels or {})}
        annotations = {**(meta.annotations or {}), **(wanted.metadata.annotations or {})} or None
        spec = existing.spec or wanted.spec
        if spec is not None and not spec.podCIDR:
            spec = msgspec.structs.replace(spec, podCIDR=self.settings.pod_cidr, podCIDRs=[self.settings.pod_cidr])
        if labels != meta.labels or annotations != meta.annotations or spec is not existing.spec:
            existing = await self.api.update(msgspec.structs.replace(
                existing, metadata=msgspec.structs.replace(meta, labels=labels, annotations=annotations), spec=spec))
        old_conditions = existing.status.conditions if existing.status else None
        status = msgspec.structs.replace(
            wanted.status, conditions=nodeinfo.node_conditions(self.pressure(), True, rfc3339(time.time()),
                                                               old_conditions))
        node = await self.api.update_status(msgspec.structs.replace(existing, status=status))
        self._status_at = time.time()
        return node

    async def run(self) -> None:
        """Renew the lease every interval; report node status on change. Runs until cancelled."""
        await asyncio.sleep(random.uniform(0, min(self.interval, 1.0)))
        while True:
            try:
                await self.renew_lease()
                self._note_renewal(time.time())
                await self.update_status_if_needed()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._recheck = True
                log.warning("node %s: heartbeat failed: %s", self.name, exc)
            await asyncio.sleep(self.interval)

    def _note_renewal(self, now: float) -> None:
        """A renewal well over an interval after the previous one means a gap the node lifecycle
        controller may have acted on (a SIGSTOP, a stalled loop). Its grace period is longer than
        the interval, so an Unknown it wrote always follows a gap this long; a false alarm costs
        one GET of the Node."""
        if self._renewed_at and now - self._renewed_at > self.interval + max(1.0, self.interval / 2):
            self._recheck = True
        self._renewed_at = now

    async def renew_lease(self, *, retry: bool = True) -> Lease:
        """Create or renew our Lease (one retry after a conflict or a vanished lease)."""
        now = time.time()
        lease = self.lease
        if lease is None:
            try:
                lease = await self.api.get("leases", LEASE_NAMESPACE, self.name)
            except APIError as exc:
                if exc.code != 404:
                    raise
                lease = None
        if lease is None:
            owner = []
            if self.node is not None and self.node.metadata.uid:
                owner = [OwnerReference(apiVersion="v1", kind="Node", name=self.name, uid=self.node.metadata.uid)]
            lease = Lease(
                apiVersion="coordination.k8s.io/v1", kind="Lease",
                metadata=ObjectMeta(name=self.name, namespace=LEASE_NAMESPACE, ownerReferences=owner or None),
                spec=LeaseSpec(holderIdentity=self.name, leaseDurationSeconds=LEASE_DURATION_SECONDS,
                               renewTime=micro_time(now)),
            )
            try:
                self.lease = await self.api.create(lease)
            except APIError as exc:
                self.lease = None
                if exc.code != 409 or not retry:
                    raise
                return await self.renew_lease(retry=False)
        else:
            spec = msgspec.structs.replace(lease.spec or LeaseSpec(), holderIdentity=self.name,
                                           leaseDurationSeconds=LEASE_DURATION_SECONDS, renewTime=micro_time(now))
            try:
                self.lease = await self.api.update(msgspec.structs.replace(lease, spec=spec))
            except APIError as exc:
                self.lease = None  # conflict or deleted: fetch again next time
                if exc.code not in (404, 409) or not retry:
                    raise
                return await self.renew_lease(retry=False)
        self.renewals += 1
        return self.lease

    async def update_status_if_needed(self) -> None:
        now = time.time()
        node = self.node
        if node is None:
            return
        if self.runtime_ok is not None:
            try:
                async with asyncio.timeout(RUNTIME_CHECK_TIMEOUT):
                    self._healthy = await self.runtime_ok()
            except Exception as exc:  # a hung or failing runtime makes the node NotReady
                log.warning("node %s: container runtime check failed: %s", self.name, exc)
                self._healthy = False
        old = node.status.conditions if node.status else None
        conditions = nodeinfo.node_conditions(self.pressure(), self._healthy, rfc3339(now), old)
        due = self._recheck or now - self._status_at >= NODE_STATUS_REPORT
        if not nodeinfo.conditions_changed(old, conditions) and not due:
            return
        try:
            fresh: Node = await self.api.get("nodes", "", self.name)
        except APIError as exc:
            if exc.code == 404:  # deleted (e.g. by an admin): register again, as the kubelet does
                self.node = await self._register_once()
                return
            raise
        old = fresh.status.conditions if fresh.status else None
        conditions = nodeinfo.node_conditions(self.pressure(), self._healthy, rfc3339(now), old)
        self._recheck = False
        if not nodeinfo.conditions_changed(old, conditions) and now - self._status_at < NODE_STATUS_REPORT:
            self.node = fresh  # the server agrees with us: nothing to write
            return
        status = msgspec.structs.replace(fresh.status or nodeinfo.node_status(self.settings, self.facts, conditions),
                                         conditions=conditions)
        self.node = await self.api.update_status(msgspec.structs.replace(fresh, status=status))
        self._status_at = now
