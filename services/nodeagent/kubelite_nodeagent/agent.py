"""One node's agent, built the way the proxy is:

    pods informer (NatsInformer on kubelite.node.<node>.pods, listed with
    fieldSelector spec.nodeName=<node>)  →  handlers (keep the newest copy, poke)
    →  one PodWorker per pod uid (worker.py)  →  PodSyncer (podsync.py: pure rules
    in podspec/podstatus/podstate)  →  the runtime.

The informer lists at start, after every reconnect and every `resync` seconds,
so nothing is missed (pods absent from a list are gone); the agent's own
status writes return fresher copies than the bus, which `pod_updated` keeps.
Logs and exec/port-forward (logserver.py, streaming.py) see the agent only
through `find_pod`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from kubelite.api.core_v1 import PODS, Pod
from kubelite.bus import changes
from kubelite.client.nats import NatsAPIClient
from kubelite.reconcile.cache import resource_version
from kubelite.reconcile.nats_informer import NatsInformer
from kubelite.reconcile.recorder import EventRecorder
from kubelite_nodeagent import emptydir, podstate
from kubelite_nodeagent.backoff import BackOff
from kubelite_nodeagent.drain import DrainGate
from kubelite_nodeagent.logserver import LogServer
from kubelite_nodeagent.metrics import POD_START_DURATION, InstrumentedRuntime, pod_worker_timer
from kubelite_nodeagent.podspec import update_needs_sync
from kubelite_nodeagent.podstate import PodState
from kubelite_nodeagent.podsync import NodeContext, PodSyncer
from kubelite_nodeagent.registration import Registrar
from kubelite_nodeagent.resourcemetrics import MetricsCollector
from kubelite_nodeagent.runtime.base import ContainerState, Runtime
from kubelite_nodeagent.shared import SharedWatches
from kubelite_nodeagent.streaming import StreamServer
from kubelite_nodeagent.volumeserver import VolumeServer, volume_root
from kubelite_nodeagent.worker import PodWorker

log = logging.getLogger("kubelite.nodeagent")

STOP_STEP_SECONDS = 10.0  # each step of NodeAgent.stop


def _where(task: asyncio.Task) -> str:
    """file:line of the innermost frame a task is suspended in (for a log line)."""
    frames = task.get_stack()
    return f"{frames[-1].f_code.co_filename}:{frames[-1].f_lineno}" if frames else "?"


@dataclass
class AgentOptions:
    resync_seconds: float = 60.0  # full re-list and runtime scan
    restart_backoff_base: float = 10.0
    restart_backoff_max: float = 300.0
    restart_backoff_reset: float = 600.0
    metrics_resolution: float = 15.0  # seconds between resource metrics reports; 0: none


class NodeAgent:
    def __init__(
        self,
        *,
        nc: Any,
        api: NatsAPIClient,
        runtime: Runtime,
        node: NodeContext,
        registrar: Registrar,
        options: AgentOptions | None = None,
        recorder: EventRecorder | None = None,
        drain_gate: DrainGate | None = None,
        shared: SharedWatches | None = None,
    ) -> None:
        """`shared`: what the process watches for all its nodes (None: read from the API)."""
        self.nc = nc
        self.api = api
        self.runtime = runtime
        self.node = node
        self.registrar = registrar
        self.options = options or AgentOptions()
        self.pods: dict[str, Pod] = {}  # desired: latest known object per uid
        self.gone: dict[str, int] = {}  # uid -> resourceVersion at which it was seen deleted
        self.states: dict[str, PodState] = {}
        self.workers: dict[str, PodWorker] = {}
        self.synced = asyncio.Event()  # the first list has completed (adopted pods wait for it)
        self.informer = NatsInformer(
            nc, api, PODS, subject=changes.node_pods(node.name), field_selector=f"spec.nodeName={node.name}",
            resync_seconds=self.options.resync_seconds, watch_reconnects=False,
        )
        self.informer.add_handler(on_add=self._pod_seen, on_update=self._pod_changed, on_delete=self._pod_deleted)
        o = self.options
        self._first_seen: dict[str, float] = {}  # uid -> when first seen Pending (pod start latency)
        self.syncer = PodSyncer(
            node, InstrumentedRuntime(runtime), api,
            BackOff(o.restart_backoff_base, o.restart_backoff_max, o.restart_backoff_reset),
            BackOff(o.restart_backoff_base, o.restart_backoff_max, o.restart_backoff_reset),
            self.pod_updated, recorder, drain_gate, shared=shared,
        )
        self.drain_gate = drain_gate
        self.recorder = recorder
        self.logs = LogServer(nc=nc, node_name=node.name, pods=self, runtime=runtime)
        self.streams = StreamServer(nc=nc, node_name=node.name, pods=self, runtime=runtime)
        self.volumes = VolumeServer(nc=nc, node_name=node.name, root=volume_root(node.root_dir))
        self.metrics = MetricsCollector(nc=nc, node_name=node.name, runtime=runtime, running=self.running_containers,
                                        resolution=self.options.metrics_resolution)
        self._subs: list[Any] = []
        self._tasks: list[asyncio.Task[Any]] = []

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Register, adopt what the runtime runs, start the informer: then pods are being synced."""
        self.runtime.set_event_handler(self.poke)
        await self.registrar.register()
        await self._adopt()
        self._tasks.append(self.informer.start())
        self._subs.append(await self.logs.subscribe())
        self._subs.extend(await self.streams.subscribe())
        self._subs.append(await self.volumes.subscribe())
        self._tasks.append(asyncio.create_task(self._scan_loop(), name=f"scan-{self.node.name}"))
        self._tasks.append(asyncio.create_task(self.registrar.run(), name=f"lease-{self.node.name}"))
        if self.options.metrics_resolution > 0:
            self._tasks.append(asyncio.create_task(self.metrics.run(), name=f"metrics-{self.node.name}"))

    async def stop(self) -> None:
        """Stop watching and syncing (pods keep running). Each step is bounded: an agent that
        hung on its way out would keep its process from ending on SIGTERM."""
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await self._bounded("unsubscribe", sub.unsubscribe())
        await self._bounded("the pod informer's stop", self.informer.stop())
        tasks = [*self._tasks, *(w.task for w in self.workers.values())]
        for task in tasks:
            task.cancel()
        await self._bounded("cancelled tasks", asyncio.gather(*tasks, return_exceptions=True), tasks=tasks)
        self.logs.stop()
        self.streams.stop()
        if self.recorder is not None:
            await self._bounded("the event recorder's close", self.recorder.close())

    async def _bounded(self, what: str, step: Awaitable[Any], *, tasks: list[asyncio.Task] | None = None) -> None:
        try:
            async with asyncio.timeout(STOP_STEP_SECONDS):
                await step
        except TimeoutError:
            stuck = [f"{t.get_name()} at {_where(t)}" for t in tasks or [] if not t.done()]
            log.warning("node %s: %s did not finish within %.0f s; stopping anyway%s", self.node.name, what,
                        STOP_STEP_SECONDS, f" (still running: {'; '.join(stuck)})" if stuck else "")

    def running_containers(self) -> list[tuple[str, str, list[tuple[str, str]]]]:
        """(namespace, pod, [(container, id)]) for each pod with running containers (metrics)."""
        out = []
        for st in self.states.values():
            running = [(rec.current.name, rec.current.id) for rec in st.all_records()
                       if rec.current is not None and rec.current.state == ContainerState.RUNNING]
            if running:
                out.append((st.namespace, st.name, running))
        return out

    async def remove_all_pods(self, grace: float) -> None:
        """Stop and remove every container and sandbox of this node (a dev cluster going down).

        Call after stop(): the pods stay in the API; a later agent start re-creates them.
        """
        containers = await self.runtime.list_containers()
        await asyncio.gather(*(self.runtime.stop_container(c.id, self._stop_grace(c.pod_uid, grace))
                               for c in containers), return_exceptions=True)
        for c in containers:
            with contextlib.suppress(Exception):
                await self.runtime.remove_container(c.id)
        for sb in await self.runtime.list_sandboxes():
            with contextlib.suppress(Exception):
                await self.runtime.remove_sandbox(sb.pod_uid)
        # memory-backed emptyDirs would outlive the agent as tmpfs mounts
        await asyncio.to_thread(emptydir.unmount_pods, os.path.join(self.node.root_dir, "pods"))

    def _stop_grace(self, uid: str, most: float) -> float:
        """At most `most` seconds, and no more than the pod's own terminationGracePeriodSeconds."""
        pod = self.pods.get(uid)
        own = pod.spec.terminationGracePeriodSeconds if pod is not None and pod.spec is not None else None
        return most if own is None else min(most, float(own))

    async def on_reconnect(self) -> None:
        self.informer.request_relist()
        if self.drain_gate is not None:
            await self.drain_gate.on_reconnect()

    # --- handlers: the informer's view of this node's pods ------------------------------
    def _pod_seen(self, pod: Pod) -> None:
        self.pod_updated(pod)
        self.poke(pod.metadata.uid or "")

    def _pod_changed(self, old: Pod, new: Pod) -> None:
        uid = new.metadata.uid or ""
        st = self.states.get(uid)
        if update_needs_sync(old, new, st.sent if st is not None else None):
            self._pod_seen(new)
        else:
            self.pod_updated(new)  # kept (a newer copy), but nothing for the worker to do

    def _pod_deleted(self, pod: Pod) -> None:
        uid = pod.metadata.uid or ""
        self.gone[uid] = max(self.gone.get(uid, 0), resource_version(pod))
        self.pods.pop(uid, None)
        self._first_seen.pop(uid, None)
        self.poke(uid)

    def pod_updated(self, pod: Pod) -> None:
        """Keep the newest copy of a pod (events may come late; our own writes return fresher ones)."""
        uid = pod.metadata.uid or ""
        if uid in self.gone and self.gone[uid] >= resource_version(pod):
            return  # a late copy of a pod already deleted
        known = self.pods.get(uid)
        if known is None or resource_version(pod) >= resource_version(known):
            self.pods[uid] = pod
            self._measure_start(uid, pod, first=known is None)

    def _measure_start(self, uid: str, pod: Pod, *, first: bool) -> None:
        """kubelet_pod_start_duration_seconds: from first seeing a pod Pending to its Running status."""
        phase = pod.status.phase if pod.status is not None else None
        if first and phase in (None, "Pending"):
            self._first_seen[uid] = time.monotonic()
        elif phase != "Pending" and (seen := self._first_seen.pop(uid, None)) is not None and phase == "Running":
            POD_START_DURATION.observe(time.monotonic() - seen)

    async def _scan_loop(self) -> None:
        """After the first list: every resync period, pick up what the runtime runs without a pod."""
        await self.informer.wait_synced()
        self.synced.set()
        for uid in list(self.states):
            self.poke(uid)  # adopted pods the list did not name: their workers remove them
        while True:
            await asyncio.sleep(self.options.resync_seconds * random.uniform(0.9, 1.1))
            try:
                await self._scan_runtime()
                self.gone = {u: r for u, r in self.gone.items() if u in self.states or u in self.workers}
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("node %s: runtime scan failed: %s", self.node.name, exc)

    # --- runtime side -------------------------------------------------------------------
    async def _adopt(self) -> None:
        """Take over what the runtime already runs (after an agent restart) instead of starting twins."""
        containers = await self.runtime.list_containers()
        sandboxes = await self.runtime.list_sandboxes()
        for uid, st in podstate.adopt(containers, sandboxes).items():
            self.states[uid] = st
            self.poke(uid)
        if self.states:
            log.info("node %s: adopted %d pods from the runtime", self.node.name, len(self.states))

    async def _scan_runtime(self) -> None:
        """Containers of pods this agent has no worker for (left behind) get one, which removes them."""
        containers = await self.runtime.list_containers()
        sandboxes = await self.runtime.list_sandboxes()
        uids = {c.pod_uid for c in containers} | {s.pod_uid for s in sandboxes}
        strays = [uid for uid in uids if uid not in self.states and uid not in self.pods]
        if strays:
            adopted = podstate.adopt([c for c in containers if c.pod_uid in strays],
                                     [s for s in sandboxes if s.pod_uid in strays])
            for uid, st in adopted.items():
                self.states[uid] = st
                self.poke(uid)

    # --- workers ---------------------------------------------------------------------------
    def poke(self, uid: str) -> None:
        worker = self.workers.get(uid)
        if worker is None:
            if uid not in self.pods and uid not in self.states:
                return
            self.workers[uid] = PodWorker(uid, sync=self.sync_pod, ready=self.synced, on_done=self.worker_done)
        else:
            worker.poke()

    def worker_done(self, worker: PodWorker) -> None:
        if self.workers.get(worker.uid) is worker:
            del self.workers[worker.uid]
        # an event may have arrived meanwhile: start again if there is still something to do
        if worker.uid in self.pods:
            self.poke(worker.uid)

    async def sync_pod(self, uid: str) -> tuple[bool, float | None]:
        """One sync; (worker done, delay before the next sync)."""
        pod = self.pods.get(uid)
        st = self.states.get(uid)
        if st is None:
            if pod is None:
                return True, None
            st = self.states[uid] = PodState(uid=uid)
        with pod_worker_timer(pod, first=st.sandbox is None):
            delay = await self.syncer.sync(pod, st)
        if pod is None or pod.metadata.deletionTimestamp:
            # cleaned up (and deletion confirmed): forget the pod
            self.states.pop(uid, None)
            if pod is not None:
                self.pods.pop(uid, None)
                self.gone[uid] = resource_version(pod)
            return True, None
        return False, delay

    # --- the narrow view logs and exec/port-forward get (logserver.PodLookup) ----------------
    def find_pod(self, namespace: str, name: str) -> tuple[Pod | None, PodState | None]:
        for uid, pod in self.pods.items():
            if pod.metadata.namespace == namespace and pod.metadata.name == name:
                return pod, self.states.get(uid)
        return None, None
