"""One node's agent: its pod source, one serialized worker per pod, registration and logs.

Pod source: every change of a pod bound to this node arrives on the node's
NATS subject; a list with fieldSelector spec.nodeName=<node> at start, after
every reconnect and every `resync` seconds makes sure nothing is missed (pods
absent from a list are gone).  Each pod uid has one `PodWorker` task that
runs `PodSyncer.sync` whenever poked (event, runtime callback) or when its
own timer fires, never two syncs of one pod at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from kubelite import codec
from kubelite.api.core_v1 import Pod
from kubelite.api.meta import WatchEvent
from kubelite.bus import changes
from kubelite.client.nats import NatsAPIClient
from kubelite_nodeagent import podstate
from kubelite_nodeagent.backoff import BackOff
from kubelite_nodeagent.logserver import LogServer
from kubelite_nodeagent.podstate import PodState
from kubelite_nodeagent.podsync import NodeContext, PodSyncer
from kubelite_nodeagent.registration import Registrar
from kubelite_nodeagent.runtime.base import Runtime
from kubelite_nodeagent.streaming import StreamServer

log = logging.getLogger("kubelite.nodeagent")

_event_decoder = msgspec.json.Decoder(WatchEvent)
_pod_decoder = codec.decoder_for(Pod)

ERROR_RETRY_MAX = 10.0


@dataclass
class AgentOptions:
    resync_seconds: float = 60.0  # full re-list and runtime scan
    restart_backoff_base: float = 10.0
    restart_backoff_max: float = 300.0
    restart_backoff_reset: float = 600.0


def _rv(pod: Pod) -> int:
    try:
        return int(pod.metadata.resourceVersion or 0)
    except ValueError:
        return 0


class PodWorker:
    """Serializes the syncs of one pod uid; lives until the pod is gone and cleaned up."""

    def __init__(self, agent: NodeAgent, uid: str) -> None:
        self.agent = agent
        self.uid = uid
        self.wake = asyncio.Event()
        self.wake.set()
        self.task = asyncio.create_task(self._run(), name=f"pod-worker-{uid}")

    def poke(self) -> None:
        self.wake.set()

    async def _run(self) -> None:
        failures = 0
        delay: float | None = None
        while True:
            if delay is None:
                await self.wake.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), delay)
            self.wake.clear()
            await self.agent.synced.wait()
            try:
                done, delay = await self.agent.sync_pod(self.uid)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # retried: a failed status report or runtime call is never dropped
                failures += 1
                delay = min(0.2 * 2 ** (failures - 1), ERROR_RETRY_MAX)
                log.warning("pod %s: sync failed (retry in %.1fs): %s: %s", self.uid, delay, type(exc).__name__,
                            exc, exc_info=log.isEnabledFor(logging.DEBUG))
                continue
            if done:
                self.agent.worker_done(self)
                return


class NodeAgent:
    def __init__(
        self,
        nc: Any,
        api: NatsAPIClient,
        runtime: Runtime,
        node: NodeContext,
        registrar: Registrar,
        options: AgentOptions | None = None,
        recorder: Any = None,
        drain_gate: Any = None,
    ) -> None:
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
        o = self.options
        self.syncer = PodSyncer(
            node, runtime, api,
            BackOff(o.restart_backoff_base, o.restart_backoff_max, o.restart_backoff_reset),
            BackOff(o.restart_backoff_base, o.restart_backoff_max, o.restart_backoff_reset),
            self.pod_updated,
            recorder,
        )
        self.syncer.drain_gate = drain_gate
        self.recorder = recorder
        self.logs = LogServer(self)
        self._subs: list[Any] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._list_lock = asyncio.Lock()

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Register, adopt what the runtime runs, subscribe, list: then pods are being synced."""
        self.runtime.set_event_handler(self.poke)
        await self.registrar.register()
        await self._adopt()
        self._subs.append(await self.nc.subscribe(changes.node_pods(self.node.name), cb=self._on_pod_event))
        self._subs.append(await self.logs.subscribe())
        self._subs.extend(await StreamServer(self).subscribe())  # exec / port-forward (streaming.py)
        self._tasks.append(asyncio.create_task(self._relist_loop(), name=f"relist-{self.node.name}"))
        self._tasks.append(asyncio.create_task(self.registrar.run(), name=f"lease-{self.node.name}"))

    async def stop(self) -> None:
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        for task in [*self._tasks, *(w.task for w in self.workers.values())]:
            task.cancel()
        await asyncio.gather(*self._tasks, *(w.task for w in self.workers.values()), return_exceptions=True)
        self.logs.stop()
        if self.recorder is not None:
            await self.recorder.close()

    async def remove_all_pods(self, grace: float) -> None:
        """Stop and remove every container and sandbox of this node (a dev cluster going down).

        Call after stop(): the pods stay in the API; a later agent start re-creates them.
        """
        containers = await self.runtime.list_containers()
        await asyncio.gather(*(self.runtime.stop_container(c.id, grace) for c in containers),
                             return_exceptions=True)
        for c in containers:
            with contextlib.suppress(Exception):
                await self.runtime.remove_container(c.id)
        for sb in await self.runtime.list_sandboxes():
            with contextlib.suppress(Exception):
                await self.runtime.remove_sandbox(sb.pod_uid)

    async def on_reconnect(self) -> None:
        await self.relist()

    # --- pod source -------------------------------------------------------------------
    async def _on_pod_event(self, msg: Any) -> None:
        try:
            event = _event_decoder.decode(msg.data)
            pod = _pod_decoder.decode(event.object)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("undecodable pod event on %s: %s", msg.subject, exc)
            return
        uid = pod.metadata.uid or ""
        if not uid or pod.spec is None or pod.spec.nodeName != self.node.name:
            return
        if event.type == "DELETED":
            self.gone[uid] = _rv(pod)
            self.pods.pop(uid, None)
        elif uid in self.gone and self.gone[uid] >= _rv(pod):
            return  # a late event of a pod already deleted
        else:
            self.pod_updated(pod)
        self.poke(uid)

    def pod_updated(self, pod: Pod) -> None:
        """Keep the newest copy of a pod (events may come late; our own writes return fresher ones)."""
        uid = pod.metadata.uid or ""
        known = self.pods.get(uid)
        if known is None or _rv(pod) >= _rv(known):
            self.pods[uid] = pod

    async def relist(self) -> None:
        """List this node's pods; anything not listed (and not newer) is gone."""
        async with self._list_lock:
            items, rv = await self.api.list("pods", "", field_selector=f"spec.nodeName={self.node.name}")
            list_rv = int(rv or 0)
            listed = {p.metadata.uid: p for p in items if p.metadata.uid}
            for pod in listed.values():
                self.pod_updated(pod)
            for uid in list(self.pods):
                if uid not in listed and _rv(self.pods[uid]) <= list_rv:
                    self.pods.pop(uid, None)
                    self.gone[uid] = list_rv
            # forget tombstones older than this list: the list is the truth up to list_rv
            self.gone = {u: r for u, r in self.gone.items() if r > list_rv or u in self.states}
            for uid in set(self.pods) | set(self.states):
                self.poke(uid)
            self.synced.set()

    async def _relist_loop(self) -> None:
        delay = 0.0
        while True:
            await asyncio.sleep(delay)
            try:
                await self.relist()
                await self._scan_runtime()
                delay = self.options.resync_seconds * random.uniform(0.9, 1.1)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = 2.0
                log.warning("node %s: re-list failed (retry in %.0fs): %s", self.node.name, delay, exc)

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
            self.workers[uid] = PodWorker(self, uid)
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
        delay = await self.syncer.sync(pod, st)
        if pod is None or pod.metadata.deletionTimestamp:
            # cleaned up (and deletion confirmed): forget the pod
            self.states.pop(uid, None)
            if pod is not None:
                self.pods.pop(uid, None)
                self.gone[uid] = _rv(pod)
            return True, None
        return False, delay

    # --- views for the log server ----------------------------------------------------------
    def find_pod(self, namespace: str, name: str) -> tuple[Pod | None, PodState | None]:
        for uid, pod in self.pods.items():
            if pod.metadata.namespace == namespace and pod.metadata.name == name:
                return pod, self.states.get(uid)
        return None, None

    def pod_count(self) -> int:
        return len(self.pods)

    def now(self) -> float:
        return time.time()
