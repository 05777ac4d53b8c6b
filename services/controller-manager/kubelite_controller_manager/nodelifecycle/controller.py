"""The node lifecycle controller (Kubernetes' pkg/controller/nodelifecycle, taint-based eviction).

Every `monitor_period` it looks at every node:
- a node whose heartbeat (Lease renewTime in kube-node-lease, or the Ready
  condition's lastHeartbeatTime) has not changed for `grace_period` gets its
  agent-posted conditions set to Unknown ("Kubelet stopped posting node status.");
- when a node stops being Ready, its pods are marked not Ready (so Endpoints drop
  them) and a NodeNotReady event is recorded;
- NoSchedule taints follow Ready at once; NoExecute taints (`unreachable` for
  Unknown, `not-ready` for False) are added through a per-zone rate limiter
  whose rate follows the zone's disruption state (zones.py), and removed at once
  when the node is Ready again;
- when every zone is fully disrupted it stops tainting and removes the NoExecute
  taints (a control-plane network split must not evict everything).
The pods on NoExecute-tainted nodes are evicted by the TaintManager it runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from kubelite.api.coordination_v1 import LEASES
from kubelite.api.core_v1 import NODES, PODS, Node, NodeSpec, NodeStatus, Pod
from kubelite.errors import APIError
from kubelite.reconcile.cache import INDEX_NODE
from kubelite.tasks import wait_event
from kubelite_controller_manager.nodelifecycle import health
from kubelite_controller_manager.nodelifecycle.notify import Notifier
from kubelite_controller_manager.nodelifecycle.taintmanager import TaintManager
from kubelite_controller_manager.nodelifecycle.zones import (
    EvictionPolicy,
    TokenBucket,
    ZoneState,
    all_fully_disrupted,
    zone_rate,
    zone_state,
)

log = logging.getLogger(__name__)

CONTROLLER_NAME = "node-lifecycle-controller"
LEASE_NAMESPACE = "kube-node-lease"
TAINTER_PERIOD = 0.1  # seconds between passes over the rate-limited taint queue (Kubernetes: 100ms)


@dataclass(frozen=True)
class NodeLifecycleConfig:
    grace_period: float = 50.0  # --node-monitor-grace-period
    monitor_period: float = 5.0  # --node-monitor-period
    startup_grace_period: float = 60.0  # --node-startup-grace-period
    policy: EvictionPolicy = field(default_factory=EvictionPolicy)

    @classmethod
    def from_options(cls, options: Any) -> NodeLifecycleConfig:
        d = cls()
        return cls(
            grace_period=float(getattr(options, "node_monitor_grace_period", d.grace_period)),
            monitor_period=float(getattr(options, "node_monitor_period", d.monitor_period)),
            startup_grace_period=float(getattr(options, "node_startup_grace_period", d.startup_grace_period)),
            policy=EvictionPolicy(
                eviction_rate=float(getattr(options, "node_eviction_rate", d.policy.eviction_rate)),
                secondary_eviction_rate=float(
                    getattr(options, "secondary_node_eviction_rate", d.policy.secondary_eviction_rate)),
                unhealthy_zone_threshold=float(
                    getattr(options, "unhealthy_zone_threshold", d.policy.unhealthy_zone_threshold)),
                large_cluster_size_threshold=int(
                    getattr(options, "large_cluster_size_threshold", d.policy.large_cluster_size_threshold)),
            ),
        )


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class NodeLifecycleController:
    name = "nodelifecycle"

    def __init__(self, informers: Any, api: Any, notify: Notifier, config: NodeLifecycleConfig, *,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.nodes = informers.get(NODES)
        self.leases = informers.get(LEASES)
        self.pods = informers.get(PODS)
        self.api = api
        self.notify = notify
        self.config = config
        self.clock = clock
        self.taint_manager = TaintManager(self.nodes, self.pods, api, notify, wall=wall)
        self.informers = [self.nodes, self.leases, self.pods]
        self.probes: dict[str, health.Probe] = {}
        self.observed_ready: dict[str, str] = {}
        self.zone_states: dict[str, ZoneState] = {}
        self.buckets: dict[str, TokenBucket] = {}
        self.pending: dict[str, dict[str, None]] = {}  # zone -> node names waiting for a NoExecute taint
        self.passes = 0  # completed monitor passes (tests and metrics watch it)
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()  # one pass at a time (monitor vs tainter)

    # -- lifecycle --------------------------------------------------------------

    async def run(self, *, sync_timeout: float | None = None) -> None:
        self._stop.clear()
        for inf in self.informers:
            inf.start()
        for inf in self.informers:
            await inf.wait_synced(sync_timeout)
        log.info("%s: caches synced (grace %.1fs, monitor every %.1fs)", self.name,
                 self.config.grace_period, self.config.monitor_period)
        tasks = [asyncio.ensure_future(self.taint_manager.run()),
                 asyncio.ensure_future(self._loop(self.monitor_once, self.config.monitor_period)),
                 asyncio.ensure_future(self._loop(self.process_pending, TAINTER_PERIOD))]
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for t in tasks:  # a part that ended by itself: say why (the process restarts us)
                if t.done() and not t.cancelled() and t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
        finally:
            stopped.cancel()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self, *, grace_seconds: float = 10.0) -> None:
        self._stop.set()
        await self.taint_manager.stop(grace_seconds=grace_seconds)

    async def _loop(self, step: Callable[[], Any], period: float) -> None:
        while not self._stop.is_set():
            try:
                async with self._lock:
                    await step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: %s failed", self.name, getattr(step, "__name__", step))
            await wait_event(self._stop, period)

    # -- one monitor pass -------------------------------------------------------

    async def monitor_once(self) -> None:
        now = self.clock()
        nodes: list[Node] = self.nodes.list()
        names = {n.metadata.name for n in nodes}
        for gone in [n for n in self.probes if n not in names]:
            self.probes.pop(gone, None)
            self.observed_ready.pop(gone, None)
        current: dict[str, Node] = {}
        for node in nodes:
            current[node.metadata.name] = await self._check_node(node, now)
        zones: dict[str, list[str]] = {}
        for node in current.values():
            zones.setdefault(health.zone_of(node), []).append(health.ready_status(node))
        await self._handle_disruption(zones, current, now)
        self.passes += 1

    async def _check_node(self, node: Node, now: float) -> Node:
        name = node.metadata.name or ""
        lease = self.leases.get(LEASE_NAMESPACE, name)
        probe = health.observe(self.probes.get(name), health.heartbeat_of(node, lease), now)
        self.probes[name] = probe
        grace = self.config.grace_period if health.ready_condition(node) else self.config.startup_grace_period
        if health.is_stale(probe, now, grace):
            node = await self._mark_unknown(node)
        ready = health.ready_status(node)
        previous = self.observed_ready.get(name)
        self.observed_ready[name] = ready
        if ready != "True" and previous == "True":
            await self.notify.event(node, "v1", "Node", "Normal", "NodeNotReady",
                                    f"Node {name} status is now: NodeNotReady")
            await self._mark_pods_not_ready(name)
        elif ready == "True" and previous not in (None, "True"):
            await self.notify.event(node, "v1", "Node", "Normal", "NodeReady",
                                    f"Node {name} status is now: NodeReady")
        # NoSchedule taints follow Ready without rate limiting (doNoScheduleTaintingPass)
        node = await self._set_no_schedule(node)
        if health.ready_condition(node) is not None:
            # a new node that has not posted status yet is left alone until its startup grace
            # period is over (then it is marked Unknown above), as Kubernetes does
            await self._no_execute_pass(node, ready)
        return node

    async def _mark_unknown(self, node: Node) -> Node:
        conditions = health.unknown_conditions(node, _now_text())
        if conditions is None:
            return node
        status = msgspec.structs.replace(node.status, conditions=conditions) if node.status \
            else NodeStatus(conditions=conditions)
        updated = msgspec.structs.replace(node, status=status)
        try:
            node = await self.api.update_status(updated)
        except APIError as exc:
            log.info("%s: cannot mark node %s Unknown: %s", self.name, node.metadata.name, exc)
            return updated  # decide on what we meant to write; the next pass writes again
        log.info("%s: node %s stopped posting status; Ready=Unknown", self.name, node.metadata.name)
        await self.notify.decision(CONTROLLER_NAME, node, "v1", "Node", "NodeStatusUnknown",
                                   f"Node {node.metadata.name} stopped posting status within "
                                   f"{self.config.grace_period:g}s; conditions set to Unknown")
        return node

    async def _mark_pods_not_ready(self, node_name: str) -> None:
        """MarkPodsNotReady: the node's Ready pods become not Ready (their agent cannot say)."""
        for pod in self.pods.by_index(INDEX_NODE, node_name):
            conds = list((pod.status.conditions if pod.status else None) or [])
            idx = next((i for i, c in enumerate(conds) if c.type == "Ready"), None)
            if idx is None or conds[idx].status != "True" or pod.metadata.deletionTimestamp:
                continue
            conds[idx] = msgspec.structs.replace(conds[idx], status="False", lastTransitionTime=_now_text())
            updated: Pod = msgspec.structs.replace(pod, status=msgspec.structs.replace(pod.status, conditions=conds))
            try:
                await self.api.update_status(updated)
            except APIError as exc:
                log.info("%s: cannot mark pod %s/%s not ready: %s", self.name,
                         pod.metadata.namespace, pod.metadata.name, exc)
                continue
            await self.notify.event(pod, "v1", "Pod", "Warning", "NodeNotReady", "Node is not ready")

    async def _set_no_schedule(self, node: Node) -> Node:
        """NoSchedule taints follow the conditions at once, without rate limiting."""
        taints = health.with_no_schedule(node, health.wanted_no_schedule(node))
        if taints is None:
            return node
        return await self._write_taints(node, taints) or node

    async def _write_taints(self, node: Node, taints: list[Any]) -> Node | None:
        spec = msgspec.structs.replace(node.spec, taints=taints or None) if node.spec \
            else NodeSpec(taints=taints or None)
        try:
            return await self.api.update(msgspec.structs.replace(node, spec=spec))
        except APIError as exc:
            log.info("%s: cannot update taints of node %s: %s", self.name, node.metadata.name, exc)
            return None

    async def _set_taint(self, node: Node, effect: str, key: str | None) -> Node:
        """Make `key` (or nothing) the controller's NoExecute taint on the node."""
        taints = health.with_taints(node, effect, key, _now_text())
        if taints is None:
            return node
        updated = await self._write_taints(node, taints)
        if updated is None:
            return node
        if effect == health.NO_EXECUTE:
            what = f"added taint {key}:{effect}" if key else f"removed {effect} taints"
            log.info("%s: node %s: %s", self.name, node.metadata.name, what)
            await self.notify.decision(CONTROLLER_NAME, updated, "v1", "Node",
                                       "TaintAdded" if key else "TaintRemoved",
                                       f"Node {node.metadata.name}: {what}", taint=key, effect=effect)
        return updated

    async def _no_execute_pass(self, node: Node, ready: str) -> None:
        """processTaintBaseEviction: swap or remove NoExecute taints at once; queue new ones."""
        name = node.metadata.name or ""
        zone = health.zone_of(node)
        want = health.wanted_no_execute(ready)
        have = [t.key for t in health.controller_taints(node, health.NO_EXECUTE)]
        queued = self.pending.setdefault(zone, {})
        if want is None or have == [want]:
            queued.pop(name, None)
            if want is None and have:
                await self._set_taint(node, health.NO_EXECUTE, None)
        elif have:
            queued.pop(name, None)  # unreachable <-> not-ready: swapped at once (SwapNodeControllerTaint)
            await self._set_taint(node, health.NO_EXECUTE, want)
        else:
            queued.setdefault(name, None)

    # -- zones ------------------------------------------------------------------

    async def _handle_disruption(self, zones: dict[str, list[str]], nodes: dict[str, Node], now: float) -> None:
        policy = self.config.policy
        new_states = {z: zone_state(statuses, policy.unhealthy_zone_threshold)[1] for z, statuses in zones.items()}
        for gone in [z for z in self.zone_states if z not in new_states]:
            del self.zone_states[gone]
            self.buckets.pop(gone, None)
            self.pending.pop(gone, None)
        all_now = all_fully_disrupted(new_states)
        all_was = all_fully_disrupted(self.zone_states)
        if all_now and all_was:
            return
        if all_now:
            log.warning("%s: no node in any zone is Ready; entering master disruption mode: "
                        "no evictions, NoExecute taints removed", self.name)
            for node in nodes.values():
                if health.controller_taints(node, health.NO_EXECUTE):
                    await self._set_taint(node, health.NO_EXECUTE, None)
            for zone in new_states:
                self.buckets[zone] = TokenBucket(0.0, now=now)
                self.pending.pop(zone, None)
            self.zone_states = dict(new_states)
            return
        if all_was:
            log.info("%s: some node is Ready again; leaving master disruption mode", self.name)
            for probe in self.probes.values():  # every node gets a full grace period again
                probe.seen_at = now
        for zone, state in new_states.items():
            if all_was or self.zone_states.get(zone) != state or zone not in self.buckets:
                size = len(zones[zone])
                rate = zone_rate(state, size, policy)
                if zone in self.zone_states and self.zone_states[zone] != state:
                    log.info("%s: zone %r is now %s (%d nodes); eviction rate %g/s",
                             self.name, zone, state, size, rate)
                self.buckets[zone] = TokenBucket(rate, now=now)
            self.zone_states[zone] = state

    async def process_pending(self) -> None:
        """Taint queued nodes NoExecute as fast as each zone's limiter allows."""
        now = self.clock()
        for zone, queued in list(self.pending.items()):
            bucket = self.buckets.get(zone)
            if bucket is None:
                continue
            for name in list(queued):
                node = self.nodes.get("", name)
                want = health.wanted_no_execute(health.ready_status(node)) \
                    if node is not None and health.ready_condition(node) is not None else None
                if want is None:
                    queued.pop(name, None)
                    continue
                if not bucket.try_accept(now):
                    break
                queued.pop(name, None)
                await self._set_taint(node, health.NO_EXECUTE, want)


def new_controller(ctx: Any) -> NodeLifecycleController:
    return NodeLifecycleController(
        ctx.informers, ctx.api, Notifier(ctx.recorder, ctx.decisions),
        NodeLifecycleConfig.from_options(ctx.options),
    )
