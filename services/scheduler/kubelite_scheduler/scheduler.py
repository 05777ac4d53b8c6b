"""The scheduler service: informers feed the cache and the queue; one loop decides,
several binds run at once; every decision is published.

Decisions are strictly sequential (each sees the previous one's assumption),
binds are concurrent (up to `parallel_binds` in flight), which is where the
throughput comes from.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import time
from typing import Any

from kubelite.api.core_v1 import NODES, PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, PODS, Pod
from kubelite.api.podrefs import referenced_claims
from kubelite.api.storage_v1 import SELECTED_NODE, STORAGECLASSES
from kubelite.bus import decisions
from kubelite.client.nats import NatsAPIClient
from kubelite.errors import APIError
from kubelite.gctune import tune_gc
from kubelite.reconcile.informer import Informer
from kubelite.reconcile.recorder import EventRecorder
from kubelite.reconcile.transforms import lean
from kubelite.storage.etcd import EtcdStore
from kubelite_scheduler import podrecord
from kubelite_scheduler.algorithm import Algorithm
from kubelite_scheduler.cache import SchedulerCache
from kubelite_scheduler.decision import decision_of
from kubelite_scheduler.metrics import ATTEMPT_DURATION, PENDING_PODS, SCHEDULE_ATTEMPTS
from kubelite_scheduler.podinfo import pod_info
from kubelite_scheduler.queue import SchedulingQueue
from kubelite_scheduler.volumes import VolumePlan, plan_volumes

log = logging.getLogger(__name__)

DEFAULT_SCHEDULER_NAME = "default-scheduler"


class Scheduler:
    def __init__(
        self,
        store: EtcdStore,
        nc: Any,
        *,
        api: NatsAPIClient,
        scheduler_name: str = DEFAULT_SCHEDULER_NAME,
        parallel_binds: int = 64,
        percentage_of_nodes_to_score: int = 0,
        flush_seconds: float = 30.0,
        publish_decisions: bool = True,
    ) -> None:
        self.store = store
        self.nc = nc
        self.name = scheduler_name
        self.client = api
        self.cache = SchedulerCache()
        self.algorithm = Algorithm(self.cache, percentage=percentage_of_nodes_to_score)
        self.queue = SchedulingQueue(flush_seconds=flush_seconds)
        PENDING_PODS.labels("active").set_function(lambda: len(self.queue))
        PENDING_PODS.labels("unschedulable").set_function(lambda: self.queue.unschedulable_count)
        self.events = EventRecorder(self.client, scheduler_name, host=os.uname().nodename)
        self.publish_decisions = publish_decisions
        # bound pods are kept as skeletons (podrecord.py); nothing here looks pods up by owner
        self.pods = Informer(store, PODS, resync_seconds=0, transform=podrecord.keep, owner_indexed=False)
        self.nodes = Informer(store, NODES, resync_seconds=0, transform=lean)
        # VolumeBinding reads claims, volumes and classes; any change may make a waiting pod fit
        self.storage = [Informer(store, info, resync_seconds=0, transform=lean)
                        for info in (PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, STORAGECLASSES)]
        self._bind_slots = asyncio.Semaphore(max(1, parallel_binds))
        self._binding: set[str] = set()  # pod keys with a bind in flight
        self._tasks: set[asyncio.Task[None]] = set()
        self.scheduled = 0
        self.failed = 0
        self.pods.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        self.nodes.add_handler(self._node_set, lambda old, new: self._node_set(new), self._node_deleted)
        for informer in self.storage:
            informer.add_handler(lambda _o: self.queue.cluster_changed(),
                                 lambda _o, _n: self.queue.cluster_changed(), lambda _o: self.queue.cluster_changed())

    # -- informer handlers: keep the cache and the queue level with etcd -----------
    def _responsible(self, pod: Pod) -> bool:
        """Ours to place: our schedulerName, no node yet, not being deleted, and no
        schedulingGates left (Kubernetes holds gated pods back until they are removed)."""
        return (
            (pod.spec.schedulerName or DEFAULT_SCHEDULER_NAME) == self.name
            and not pod.spec.nodeName
            and not pod.metadata.deletionTimestamp
            and not pod.spec.schedulingGates
        )

    def _pod_added(self, pod: Pod) -> None:
        key = f"{pod.metadata.namespace}/{pod.metadata.name}"
        if pod.spec.nodeName:
            self.queue.remove(key)
            if not self.cache.confirm(key, pod.metadata.uid or "", pod.spec.nodeName):
                self.cache.set_bound_pod(pod_info(pod))
            self.queue.cluster_changed()
        elif self._responsible(pod):
            if key not in self._binding and key not in self.cache.assumed:
                self.queue.add(key)
        else:
            self.queue.remove(key)
            if key in self.cache.assumed:  # deleted while its bind was in flight
                self.cache.forget(key)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        if (
            new.spec.nodeName and old.spec.nodeName == new.spec.nodeName
            and old.metadata.labels == new.metadata.labels
            and _terminal(old) == _terminal(new)
            and f"{new.metadata.namespace}/{new.metadata.name}" not in self.cache.assumed
        ):
            return  # a status update of a bound pod: nothing the scheduler counts changed
        self._pod_added(new)

    def _pod_deleted(self, pod: Pod) -> None:
        key = f"{pod.metadata.namespace}/{pod.metadata.name}"
        self.queue.remove(key)
        self.cache.remove_pod(key)
        self.queue.cluster_changed()

    def _node_set(self, node: Any) -> None:
        self.cache.set_node(node)
        self.queue.cluster_changed()

    def _node_deleted(self, node: Any) -> None:
        self.cache.remove_node(node.metadata.name or "")
        self.queue.cluster_changed()

    # -- running ----------------------------------------------------------------------
    async def run(self) -> None:
        """Start the informers, wait for their first list, then decide forever."""
        for informer in (self.nodes, self.pods, *self.storage):
            informer.start()
        for informer in (self.nodes, self.pods, *self.storage):
            await informer.wait_synced()
        log.info("caches synced: %d nodes, %d pods; scheduling as %r",
                 len(self.cache.known_nodes()), len(self.pods.keys()), self.name)
        # the caches hold one object per pod and node for good: no rescans of them (gctune.py)
        tune_gc()
        try:
            while True:
                key = await self.queue.pop()
                try:
                    await self.schedule_one(key)
                except Exception:
                    log.exception("scheduling %s failed", key)
                    self._attempted("error", None)  # when it started is lost with the exception
                    self.queue.requeue_unschedulable(key)
        finally:
            await self.stop()

    async def stop(self) -> None:
        for informer in (self.pods, self.nodes, *self.storage):
            await informer.stop()
        for t in list(self._tasks):
            t.cancel()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await self.events.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def schedule_one(self, key: str) -> None:
        ns, _, name = key.partition("/")
        pod = self.pods.get(ns, name)
        if pod is None or not self._responsible(pod) or key in self._binding or self.cache.is_counted(key):
            return
        started = time.perf_counter()
        info = pod_info(pod)
        volumes = self._volumes(pod)
        if volumes is not None:
            if volumes.error or volumes.waiting:
                self._not_yet(pod, key, volumes.error, started)
                return
            info.volume_terms = volumes.terms
        result = self.algorithm.schedule(info)
        if self.publish_decisions:
            decision = decision_of(ns, name, info.uid, self.name, rfc3339_now(), result)
            self._spawn(self._publish(decisions.scheduler(ns, name), decisions.encode_scheduling(decision)))
        if result.node is None:
            self.failed += 1
            self._attempted("unschedulable", started)
            log.info("pod %s is unschedulable: %s", key, result.message)
            self.queue.requeue_unschedulable(key)
            self._spawn(self._report_unschedulable(pod, result.message))
            return
        if volumes is not None and volumes.to_select:
            # WaitForFirstConsumer: the claims learn the node; the pod binds once they are bound
            self.queue.requeue_unschedulable(key)
            for claim in volumes.to_select:
                self._spawn(self._select_node(claim, result.node))
            return
        # Assume at once: the next decision must see this pod's requests as used.
        self.cache.assume(info, result.node)
        self._binding.add(key)
        await self._bind_slots.acquire()
        self._spawn(self._bind(pod, result.node, started))

    def _attempted(self, result: str, started: float | None) -> None:
        SCHEDULE_ATTEMPTS.labels(result, self.name).inc()
        if started is not None:
            ATTEMPT_DURATION.labels(result, self.name).observe(time.perf_counter() - started)

    def _volumes(self, pod: Pod) -> VolumePlan | None:
        if not referenced_claims(pod):
            return None
        claims, volumes, classes = self.storage
        return plan_volumes(pod, claims.get, lambda name: volumes.get("", name), lambda name: classes.get("", name))

    def _not_yet(self, pod: Pod, key: str, error: str, started: float) -> None:
        """A pod whose claims stop it: unschedulable with the reason, or quietly waiting for a
        claim given a node to be bound; a claim or volume change brings it back."""
        self.queue.requeue_unschedulable(key)
        if error:
            self.failed += 1
            self._attempted("unschedulable", started)
            log.info("pod %s is unschedulable: %s", key, error)
            self._spawn(self._report_unschedulable(pod, error))

    async def _select_node(self, claim: Any, node: str) -> None:
        ns, name = claim.metadata.namespace or "default", claim.metadata.name or ""
        try:
            await self.client.patch(PERSISTENTVOLUMECLAIMS, ns, name, {"metadata": {
                "annotations": {SELECTED_NODE: node}, "resourceVersion": claim.metadata.resourceVersion}})
            log.info("claim %s/%s: selected node %s", ns, name, node)
        except APIError as exc:  # changed meanwhile: the next attempt looks again
            log.info("claim %s/%s: could not select node %s: %s", ns, name, node, exc)
            self.queue.cluster_changed()

    async def _publish(self, subject: str, payload: bytes) -> None:
        try:
            await self.nc.publish(subject, payload)
        except Exception as exc:  # the bus is best effort for decisions
            log.debug("publish %s failed: %s", subject, exc)

    async def _bind(self, pod: Pod, node: str, started: float) -> None:
        ns, name = pod.metadata.namespace or "default", pod.metadata.name or ""
        key = f"{ns}/{name}"
        try:
            await self.client.bind(ns, name, node)
        except APIError as exc:
            log.warning("binding %s to %s failed: %s", key, node, exc)
            self._attempted("error", started)
            self.cache.forget(key)
            self._binding.discard(key)
            current = self.pods.get(ns, name)
            if current is not None and self._responsible(current):
                self.queue.requeue_unschedulable(key)
            self.queue.cluster_changed()
            return
        finally:
            self._bind_slots.release()
        self._binding.discard(key)
        self.queue.succeeded(key)
        self.scheduled += 1
        self._attempted("scheduled", started)
        self.events.event(pod, "Normal", "Scheduled", f"Successfully assigned {key} to {node}")

    async def _report_unschedulable(self, pod: Pod, message: str) -> None:
        """PodScheduled=False/Unschedulable with the FitError message (written only when it
        changed), and a Warning FailedScheduling event (aggregated when repeated)."""
        ns, name = pod.metadata.namespace or "default", pod.metadata.name or ""
        self.events.event(pod, "Warning", "FailedScheduling", message)
        for cond in (pod.status.conditions or ()) if pod.status else ():
            if cond.type == "PodScheduled" and cond.status == "False" and cond.reason == "Unschedulable" \
                    and cond.message == message:
                return
        patch = {"status": {"conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
            "lastProbeTime": None, "lastTransitionTime": rfc3339_now(),
        }]}}
        try:
            await self.client.patch("pods", ns, name, patch, subresource="status",
                                    patch_type="application/strategic-merge-patch+json")
        except APIError as exc:
            log.info("could not mark %s/%s unschedulable: %s", ns, name, exc)


def rfc3339_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _terminal(pod: Pod) -> bool:
    return pod.status is not None and pod.status.phase in ("Succeeded", "Failed")
