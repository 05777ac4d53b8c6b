"""One sync of one pod: drive the runtime from what the pod asks toward what it says.

Level-driven: every call looks at the pod (desired) and the PodState (actual)
and does only what differs: create the sandbox, run init containers in order,
start or restart containers (restartPolicy, back-off), run due probes, kill
on liveness failure, report status when it changed; or, for a pod being
deleted, stop everything gracefully and confirm the deletion.  Returns when it
wants to be called again (a delay), or None when only an event can change
anything.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from kubelite.api.core_v1 import Container, LifecycleHandler, Pod
from kubelite.client.nats import NatsAPIClient
from kubelite.errors import APIError
from kubelite.reconcile.recorder import EventRecorder
from kubelite.tasks import cancel_and_wait
from kubelite_nodeagent import (
    clusterdns,
    drain,
    envresolve,
    probes,
    projected,
    servicelinks,
    volumes,
)
from kubelite_nodeagent.backoff import BackOff, go_duration
from kubelite_nodeagent.configsources import ConfigFetcher
from kubelite_nodeagent.drain import DrainGate
from kubelite_nodeagent.podspec import (
    DEADLINE_MESSAGE,
    active_deadline,
    adopted_trackers,
    container_resources,
    default_pull_policy,
    is_sidecar,
    pod_label,
    port_mappings,
    should_restart,
)
from kubelite_nodeagent.podstate import ContainerRecord, PodState
from kubelite_nodeagent.podstatus import (
    TERMINAL_PHASES,
    ContainerView,
    compute_status,
    status_differs,
)
from kubelite_nodeagent.podtokens import PodTokens
from kubelite_nodeagent.projected import token_keys
from kubelite_nodeagent.runtime.base import (
    ERR_IMAGE_NEVER_PULL,
    ERR_IMAGE_PULL,
    IMAGE_PULL_BACKOFF,
    INVALID_IMAGE_NAME,
    ContainerSpec,
    ContainerState,
    ImageError,
    Mount,
    PodSandbox,
    PodSandboxConfig,
    Runtime,
    RuntimeError_,
    container_labels,
    resolve_argv,
)
from kubelite_nodeagent.shared import SharedWatches

log = logging.getLogger("kubelite.nodeagent.sync")

CONFIG_RETRY = 2.0  # seconds between retries of a missing ConfigMap/Secret/key
VOLUME_REFRESH = 60.0  # seconds between refreshes of configMap/secret volume files
POST_START_TIMEOUT = 30.0  # seconds a postStart exec/httpGet hook may take
# Waiting reasons of a container the agent could not create yet (retried at retry_at, no crash back-off).
START_ERRORS = {ERR_IMAGE_PULL, IMAGE_PULL_BACKOFF, ERR_IMAGE_NEVER_PULL, INVALID_IMAGE_NAME,
                envresolve.CREATE_CONTAINER_CONFIG_ERROR, "CreateContainerError", "ContainerCreating"}


@dataclass
class NodeContext:
    name: str
    ip: str
    root_dir: str
    allocatable: dict[str, str]
    runtime_name: str
    cluster_dns: str = ""  # nameserver for ClusterFirst pods (the proxy's DNS on this node)
    cluster_domain: str = "cluster.local"
    run_dir: str = ""  # the agent's directory on a tmpfs (runtime/statedir.py); "" for root_dir


EMPTYDIR_CHECK = 2.0  # seconds between sizeLimit checks of a pod's emptyDirs


async def _prepare_volumes(pod: Pod, dirs: volumes.PodDirs, *args: Any) -> None:
    """volumes.prepare_volumes, on a thread when it may touch the node's disk. Only Secret,
    projected and downwardAPI volumes on the node's tmpfs (every pod's token volume): a few small
    files in memory, written here for less than a thread hand-off costs the agent's loop."""
    pod_volumes = (pod.spec.volumes if pod.spec else None) or []
    if dirs.memory != dirs.disk and all(volumes.in_memory(v) for v in pod_volumes):
        volumes.prepare_volumes(pod, dirs, *args)
    else:
        await asyncio.to_thread(volumes.prepare_volumes, pod, dirs, *args)


def _has_size_limit(pod: Pod) -> bool:
    return any(v.emptyDir is not None and v.emptyDir.sizeLimit is not None
               for v in (pod.spec.volumes or [] if pod.spec else []))


class Wake:
    """The earliest time a sync wants to run again."""

    def __init__(self) -> None:
        self.at_time: float | None = None

    def at(self, when: float) -> None:
        if self.at_time is None or when < self.at_time:
            self.at_time = when

    def delay(self, now: float) -> float | None:
        return None if self.at_time is None else max(0.0, self.at_time - now)


class PodSyncer:
    def __init__(
        self,
        node: NodeContext,
        runtime: Runtime,
        api: NatsAPIClient,
        backoff: BackOff,
        image_backoff: BackOff,
        on_pod_updated: Callable[[Pod], None],
        recorder: EventRecorder | None = None,
        drain_gate: DrainGate | None = None,
        tokens: PodTokens | None = None,
        shared: SharedWatches | None = None,
    ) -> None:
        self.node = node
        self.runtime = runtime
        self.api = api
        self.backoff = backoff
        self.image_backoff = image_backoff
        self.on_pod_updated = on_pod_updated
        self.recorder = recorder  # None: no Events (fake nodes at scale)
        self.drain_gate = drain_gate  # holds SIGTERM until proxies stop sending (None: never)
        self.tokens = tokens or PodTokens()  # ServiceAccount tokens of projected volumes
        self.shared = shared or SharedWatches()  # the process's watched Services and root CAs

    def _event(self, pod: Pod, type_: str, reason: str, message: str) -> None:
        if self.recorder is not None:
            self.recorder.event(pod, type_, reason, message)

    def pod_dir(self, uid: str) -> str:
        return os.path.join(self.node.root_dir, "pods", uid)

    def pod_dirs(self, uid: str) -> volumes.PodDirs:
        return volumes.PodDirs(self.pod_dir(uid), os.path.join(self.node.run_dir or self.node.root_dir, "pods", uid))

    # --- entry point ------------------------------------------------------------------
    async def sync(self, pod: Pod | None, st: PodState) -> float | None:
        """Sync one pod; returns the delay before the next wanted sync (None: on events only)."""
        await self._refresh(st)
        for cid in st.surplus:
            await self.runtime.remove_container(cid)
        st.surplus.clear()
        if pod is None:
            if st.all_records() or st.sandbox is not None:
                log.info("pod %s/%s (uid %s) is gone from the API: removing its containers", st.namespace,
                         st.name, st.uid)
            await self._cleanup(st, pod=None, grace=2)
            return None
        if pod.metadata.deletionTimestamp:
            grace = pod.metadata.deletionGracePeriodSeconds
            if grace is None:
                grace = (pod.spec.terminationGracePeriodSeconds if pod.spec else None) or 30
            log.info("pod %s/%s: terminating (grace %ss)", pod.metadata.namespace, pod.metadata.name, grace)
            if self.drain_gate is not None and st.has_live_containers():
                # The wait counts against the grace period (never more than half of it).
                waited = await self.drain_gate.wait_drained(pod, budget=grace / 2)
                if not (pod.spec and pod.spec.hostNetwork):
                    waited += await drain.wait_accepted(lambda: self.runtime.accept_queue(st.uid),
                                                        budget=grace / 2 - waited)
                grace = max(grace - waited, 1.0 if grace > 0 else 0.0)
            await self._cleanup(st, pod=pod, grace=grace)
            await self._confirm_deletion(pod)
            return None
        return await self._sync_live(pod, st)

    # --- actual state ----------------------------------------------------------------
    async def _refresh(self, st: PodState) -> None:
        for rec in st.all_records():
            cur = rec.current
            if cur is None or cur.state == ContainerState.EXITED:
                continue
            fresh = await self.runtime.container_status(cur.id)
            if fresh is None:  # the runtime lost it: report it as Kubernetes does
                fresh = msgspec.structs.replace(
                    cur, state=ContainerState.EXITED, exit_code=137, reason="ContainerStatusUnknown",
                    message="The container could not be located when the pod was terminated",
                    finished_at=time.time(),
                )
            rec.current = fresh

    # --- a live pod ---------------------------------------------------------------------
    async def _sync_live(self, pod: Pod, st: PodState) -> float | None:
        spec = pod.spec
        assert spec is not None
        now = time.time()
        wake = Wake()
        st.namespace, st.name = pod.metadata.namespace or "", pod.metadata.name or ""
        policy = spec.restartPolicy or "Always"
        stored_phase = pod.status.phase if pod.status else None
        if st.terminal or stored_phase in TERMINAL_PHASES:
            st.terminal = True
            await self._stop_running(pod, st, spec.terminationGracePeriodSeconds or 30)
            await self._report(pod, st, now)
            return None

        if await self._evict_overflowing(pod, st, now, wake):
            return None
        deadline = active_deadline(pod, st.sent)
        if deadline is not None:
            if now >= deadline:
                log.info("pod %s/%s: active deadline exceeded", st.namespace, st.name)
                await self._stop_running(pod, st, spec.terminationGracePeriodSeconds or 30)
                st.terminal = True
                await self._report(pod, st, now, message=DEADLINE_MESSAGE, failed_reason="DeadlineExceeded")
                self._event(pod, "Normal", "DeadlineExceeded", DEADLINE_MESSAGE)
                return None

        ctx = ConfigFetcher(services=self.shared.services, root_ca=self.shared.root_ca)
        if st.sandbox is None:
            try:
                st.sandbox = await self._create_sandbox(pod, st, ctx)
            except RuntimeError_ as exc:
                log.warning("pod %s/%s: sandbox: %s", st.namespace, st.name, exc)
                await self._report(pod, st, now, message=f"Failed to create pod sandbox: {exc.message}")
                return CONFIG_RETRY

        init_specs = spec.initContainers or []
        app_started = any(rec.current is not None for rec in st.containers.values())
        init_done = app_started or all(self._init_complete(st, c) for c in init_specs)
        if not init_done:
            for c in init_specs:
                rec = st.record(c.name or "", init=True)
                if is_sidecar(c):
                    # a sidecar (restartable init container) keeps running; the next init container
                    # starts once it has started
                    await self._keep_running(pod, st, c, rec, "Always", True, now, wake, ctx)
                    if self._init_complete(st, c):
                        continue
                    break
                if rec.succeeded():
                    continue
                if rec.current is not None and rec.current.state == ContainerState.CREATED:
                    await self._start_created(rec)
                elif rec.exited:
                    if policy != "Never":  # init containers restart on failure unless Never
                        await self._restart(pod, st, c, rec, True, now, wake, ctx)
                elif rec.current is None:
                    await self._start(pod, st, c, rec, 0, True, now, wake, ctx)
                break  # one init container at a time, in order
        else:
            for c in init_specs:
                if is_sidecar(c):
                    await self._keep_running(pod, st, c, st.record(c.name or "", init=True), "Always", True,
                                             now, wake, ctx)
            for c in spec.containers or []:
                await self._keep_running(pod, st, c, st.record(c.name or "", init=False), policy, False,
                                         now, wake, ctx)
            await self._run_ephemeral(pod, st, now, wake, ctx)
        await self._refresh_live_volumes(pod, st, wake, ctx)
        await self._report(pod, st, now)
        if st.terminal:
            return 0.0  # the status just sent ended the pod: stop what still runs (sidecars) now
        if (deadline := active_deadline(pod, st.sent)) is not None:
            wake.at(deadline)  # after the report: the first status sent sets the start time
        return wake.delay(time.time())

    async def _evict_overflowing(self, pod: Pod, st: PodState, now: float, wake: Wake) -> bool:
        """localStorageEviction: a running pod whose emptyDir outgrew its sizeLimit fails with
        reason Evicted (its controller replaces it); checked every EMPTYDIR_CHECK seconds."""
        if not st.volumes_at or not _has_size_limit(pod):
            return False
        if now < st.emptydir_checked_at + EMPTYDIR_CHECK:
            wake.at(st.emptydir_checked_at + EMPTYDIR_CHECK)
            return False
        st.emptydir_checked_at = now
        wake.at(now + EMPTYDIR_CHECK)
        message = await asyncio.to_thread(volumes.emptydir_overflow, pod, self.pod_dirs(st.uid))
        if message is None:
            return False
        log.info("pod %s/%s: evicted: %s", st.namespace, st.name, message)
        # no grace, as the kubelet's localStorageEviction (evictPod(pod, 0, ...)): the pod is
        # filling the node's disk now
        await self._stop_running(pod, st, 0)
        st.terminal = True
        await self._report(pod, st, now, message=message, failed_reason="Evicted")
        self._event(pod, "Warning", "Evicted", message)
        return True

    async def _create_sandbox(self, pod: Pod, st: PodState, ctx: ConfigFetcher) -> PodSandbox:
        """The pod's sandbox, made while what its containers will read from the API is fetched
        (see `_prefetch`): the kubelet too mounts a pod's volumes, tokens included, before its
        containers start and apart from its sandbox."""
        spec = pod.spec
        assert spec is not None
        prefetch = asyncio.create_task(self._prefetch(pod, ctx), name=f"prefetch-{st.uid}")
        try:
            sandbox = await self.runtime.create_sandbox(PodSandboxConfig(
                pod_uid=st.uid, namespace=st.namespace, name=st.name,
                hostname=spec.hostname or st.name, host_network=bool(spec.hostNetwork),
                pod_dir=self.pod_dir(st.uid), labels=dict(pod.metadata.labels or {}),
                port_mappings=port_mappings(pod),
            ))
        except BaseException:
            await cancel_and_wait(prefetch)
            raise
        await prefetch
        return sandbox

    async def _prefetch(self, pod: Pod, ctx: ConfigFetcher) -> None:
        """Fetch the pod's ConfigMaps, Secrets and claims (kept by `ctx` for this sync) and the
        ServiceAccount tokens its volumes need (kept by `self.tokens`), so that the containers'
        start finds them. A failure is only logged: the start fetches again and reports it.

        Why: in a burst every pod waits its turn for the one thread that makes network
        namespaces, and each start then waited another round trip to the apiserver for its
        token (bench/pod_startup_bench.py --burst: sandbox made → token answered, 40–60 ms a
        pod at the median); fetched meanwhile, the token is there when the sandbox is."""
        try:
            await ctx.sources(self.api, pod)
            await self.tokens.tokens(self.api, pod)  # only the missing and the due; none: no request
        except Exception as exc:  # met again, and reported, by the start
            log.debug("pod %s/%s: prefetch: %r", pod.metadata.namespace, pod.metadata.name, exc)

    async def _pod_tokens(self, pod: Pod) -> dict[tuple[str, int], bytes]:
        try:
            return await self.tokens.tokens(self.api, pod)
        except APIError as exc:
            raise _VolumeError(f"MountVolume.SetUp failed for a projected volume : failed to fetch token: "
                               f"{exc.message}") from None

    async def _refresh_live_volumes(self, pod: Pod, st: PodState, wake: Wake, ctx: ConfigFetcher) -> None:
        """A running pod's projected and downwardAPI volumes follow it, as the kubelet's do: fresh
        ServiceAccount tokens before 80 % of the old ones' lifetime, and the downward API files
        when its labels or annotations change. A failure is retried soon; the old files stay."""
        if not st.volumes_at:
            return
        digest = projected.metadata_digest(pod)
        tokens_due = bool(token_keys(pod)) and self.tokens.due(pod)
        if tokens_due or (st.downward_digest and digest != st.downward_digest):
            try:
                tokens = await self.tokens.tokens(self.api, pod) if token_keys(pod) else {}
                sources = await ctx.sources(self.api, pod)
                await asyncio.to_thread(volumes.prepare_volumes, pod, self.pod_dirs(st.uid), sources, ctx.binary,
                                        tokens, only_projected=True)
            except (APIError, envresolve.ConfigError) as exc:
                log.warning("pod %s/%s: volume refresh failed: %s", st.namespace, st.name, exc)
                wake.at(time.time() + CONFIG_RETRY * 5)
                return
        st.downward_digest = digest
        refresh = self.tokens.next_refresh(pod)
        if refresh is not None:
            wake.at(refresh)

    def _init_complete(self, st: PodState, c: Container) -> bool:
        """A regular init container succeeded; a sidecar is running and started."""
        rec = st.init.get(c.name or "")
        if rec is None:
            return False
        if is_sidecar(c):
            return rec.running and probes.container_started(rec.trackers, True)
        return rec.succeeded()

    async def _keep_running(
        self, pod: Pod, st: PodState, c: Container, rec: ContainerRecord, policy: str, init: bool,
        now: float, wake: Wake, ctx: ConfigFetcher,
    ) -> None:
        """An app container or sidecar: start it, probe it, kill it on liveness failure, restart per policy."""
        if rec.current is None:
            await self._start(pod, st, c, rec, 0, init, now, wake, ctx)
            return
        if rec.current.state == ContainerState.CREATED:
            await self._start_created(rec)
        if rec.running and rec.probes_for != rec.current.id:
            rec.trackers = adopted_trackers(pod, c, rec.current.id)  # adopted after an agent restart
            rec.probes_for = rec.current.id
        if rec.running:
            await self._probe(pod, st, c, rec, now, wake)
            failed = probes.liveness_failed(rec.trackers)
            if failed:
                log.info("pod %s/%s container %s: %s", st.namespace, st.name, c.name, failed)
                self._event(pod, "Normal", "Killing", f"Container {c.name} {failed[len('Container '):]}")
                await self.runtime.stop_container(rec.current.id, self._probe_grace(pod, c))
                rec.current = await self.runtime.container_status(rec.current.id) or rec.current
        if rec.exited:
            if should_restart(policy, rec.current.exit_code):
                await self._restart(pod, st, c, rec, init, now, wake, ctx)
            else:
                rec.waiting_reason = rec.waiting_message = ""

    async def _run_ephemeral(self, pod: Pod, st: PodState, now: float, wake: Wake, ctx: ConfigFetcher) -> None:
        """Ephemeral containers (kubectl debug) start once, after the app containers, and are never
        restarted; one with targetContainerName joins that container's PID namespace."""
        for c in (pod.spec.ephemeralContainers if pod.spec else None) or []:
            rec = st.record(c.name or "", init=False, ephemeral=True)
            if rec.current is None:
                await self._start(pod, st, c, rec, 0, False, now, wake, ctx, ephemeral=True)
            elif rec.current.state == ContainerState.CREATED:
                await self._start_created(rec)

    def _probe_grace(self, pod: Pod, c: Container) -> float:
        probe = c.livenessProbe or c.startupProbe
        if probe is not None and probe.terminationGracePeriodSeconds is not None:
            return probe.terminationGracePeriodSeconds
        grace = pod.spec.terminationGracePeriodSeconds if pod.spec else None
        return 30 if grace is None else grace

    async def _start_created(self, rec: ContainerRecord) -> None:
        assert rec.current is not None
        try:
            await self.runtime.start_container(rec.current.id)
        except RuntimeError_ as exc:
            log.info("start of adopted container %s failed: %s", rec.current.id, exc)
        rec.current = await self.runtime.container_status(rec.current.id) or rec.current

    async def _restart(
        self, pod: Pod, st: PodState, c: Container, rec: ContainerRecord, init: bool,
        now: float, wake: Wake, ctx: ConfigFetcher,
    ) -> None:
        """Restart an exited container, or wait in CrashLoopBackOff."""
        assert rec.current is not None
        if rec.waiting_reason not in START_ERRORS:
            key = f"{st.uid}/{c.name}"
            finished = rec.current.finished_at or now
            if self.backoff.in_backoff_since(key, finished, now):
                if rec.waiting_reason != "CrashLoopBackOff":
                    self._event(pod, "Warning", "BackOff",
                                f"Back-off restarting failed container {c.name} in pod {pod_label(pod)}")
                rec.waiting_reason = "CrashLoopBackOff"
                rec.waiting_message = (f"back-off {go_duration(self.backoff.delay(key))} restarting failed "
                                       f"container={c.name} pod={pod_label(pod)}")
                wake.at(self.backoff.ready_at(key, finished))
                return
            self.backoff.next(key, finished, now)
        await self._start(pod, st, c, rec, rec.current.attempt + 1, init, now, wake, ctx)

    async def _start(
        self, pod: Pod, st: PodState, c: Container, rec: ContainerRecord, attempt: int, init: bool,
        now: float, wake: Wake, ctx: ConfigFetcher, *, ephemeral: bool = False,
    ) -> None:
        """Create and start attempt `attempt` of container `c`; on failure set a waiting reason."""
        if now < rec.retry_at:
            if rec.waiting_reason == ERR_IMAGE_PULL:
                rec.waiting_reason = IMAGE_PULL_BACKOFF
                rec.waiting_message = f'Back-off pulling image "{c.image}"'
                self._event(pod, "Normal", "BackOff", rec.waiting_message)
            wake.at(rec.retry_at)
            return
        assert st.sandbox is not None
        image = c.image or ""
        try:
            image_info = await self.runtime.ensure_image(image, c.imagePullPolicy or default_pull_policy(image))
        except ImageError as exc:
            key = f"image/{st.uid}/{c.name}"
            self.image_backoff.next(key, now, now)
            rec.waiting_reason, rec.waiting_message = exc.reason, exc.message
            rec.retry_at = now + self.image_backoff.delay(key)
            wake.at(min(rec.retry_at, now + 1))  # show ImagePullBackOff soon after ErrImagePull
            if exc.reason == ERR_IMAGE_PULL:
                self._event(pod, "Warning", "Failed", f'Failed to pull image "{image}": {exc.message}')
                self._event(pod, "Warning", "Failed", f"Error: {exc.reason}")
            else:
                self._event(pod, "Warning", exc.reason, exc.message)
            return
        self.image_backoff.forget(f"image/{st.uid}/{c.name}")
        dirs = self.pod_dirs(st.uid)
        try:
            sources = await ctx.sources(self.api, pod)
            if pod.spec and pod.spec.volumes and (not st.volumes_at or now - st.volumes_at > VOLUME_REFRESH):
                tokens = await self._pod_tokens(pod)
                try:
                    await _prepare_volumes(pod, dirs, sources, ctx.binary, tokens)
                except envresolve.ConfigError as exc:
                    raise _VolumeError(str(exc)) from None
                st.volumes_at = now
            env = envresolve.container_env(
                pod, c, sources, pod_ip=st.sandbox.ip, host_ip=self.node.ip,
                node_allocatable=self.node.allocatable,
            )
            linked = await ctx.master_service(self.api)
            if pod.spec is None or pod.spec.enableServiceLinks is not False:
                linked = [*linked, *await ctx.services(self.api, pod)]
            env = {**servicelinks.service_env(linked), **env}
            mounts = volumes.container_mounts(pod, c, dirs)
            # one small file on the node's tmpfs: quicker written here than handed to a thread
            resolv = self._write_resolv_conf(pod, st.sandbox, dirs.memory)
            if resolv and not any(m.container_path == "/etc/resolv.conf" for m in mounts):
                mounts = [*mounts, Mount(resolv, "/etc/resolv.conf", read_only=True)]
        except _VolumeError as exc:
            rec.waiting_reason = "ContainerCreating"
            rec.waiting_message = str(exc)
            rec.retry_at = now + CONFIG_RETRY
            wake.at(rec.retry_at)
            self._event(pod, "Warning", "FailedMount", str(exc))
            return
        except envresolve.ConfigError as exc:
            rec.waiting_reason = envresolve.CREATE_CONTAINER_CONFIG_ERROR
            rec.waiting_message = str(exc)
            rec.retry_at = now + CONFIG_RETRY
            wake.at(rec.retry_at)
            self._event(pod, "Warning", "Failed", f"Error: {exc}")
            return
        argv = resolve_argv(envresolve.expand_list(c.command, env), envresolve.expand_list(c.args, env),
                            image_info)
        cspec = ContainerSpec(
            pod_uid=st.uid, namespace=st.namespace, pod_name=st.name, name=c.name or "", attempt=attempt,
            image=image, image_info=image_info, argv=argv, env=env, working_dir=c.workingDir or "",
            mounts=mounts, resources=container_resources(c),
            labels=container_labels(st.uid, st.namespace, st.name, c.name or "", attempt, init, ephemeral),
            tty=bool(c.tty), stdin=bool(c.stdin), stdin_once=bool(c.stdinOnce), init=init, sidecar=init and is_sidecar(c),
            target_container_id=self._target_id(st, c) if ephemeral else "",
        )
        try:
            cid = await self.runtime.create_container(st.sandbox, cspec)
        except RuntimeError_ as exc:
            rec.waiting_reason = "CreateContainerError"
            rec.waiting_message = exc.message
            rec.retry_at = now + CONFIG_RETRY
            wake.at(rec.retry_at)
            self._event(pod, "Warning", "Failed", f"Error: {exc.message}")
            return
        # The container now exists (labelled): a restarted agent adopts it from here on.
        if rec.current is not None:
            if rec.previous is not None:
                await self.runtime.remove_container(rec.previous.id)
            rec.previous = rec.current
        rec.current = await self.runtime.container_status(cid)
        rec.waiting_reason = rec.waiting_message = ""
        rec.retry_at = 0.0
        rec.trackers = probes.trackers_for(c)
        rec.probes_for = cid
        self._event(pod, "Normal", "Created", f"Created container {c.name}")
        try:
            await self.runtime.start_container(cid)
            self._event(pod, "Normal", "Started", f"Started container {c.name}")
        except RuntimeError_ as exc:
            log.info("pod %s/%s container %s failed to start: %s", st.namespace, st.name, c.name, exc)
            self._event(pod, "Warning", "Failed", f"Error: {exc.message}")
        else:
            await self._post_start(pod, st, c, cid)
        rec.current = await self.runtime.container_status(cid) or rec.current
        log.info("pod %s/%s: started container %s (attempt %d): %s", st.namespace, st.name, c.name, attempt,
                 rec.current.state.value if rec.current else "?")
        if rec.running:
            for t in rec.trackers.values():
                wake.at(t.next_run_at(rec.current.started_at))

    @staticmethod
    def _target_id(st: PodState, c: Container) -> str:
        """The running container whose PID namespace an ephemeral container shares ("" for none)."""
        target = st.containers.get(getattr(c, "targetContainerName", None) or "")
        return target.current.id if target is not None and target.running and target.current else ""

    async def _post_start(self, pod: Pod, st: PodState, c: Container, cid: str) -> None:
        """Run the postStart hook; a failed hook kills the container (restarted per restartPolicy)."""
        hook = c.lifecycle.postStart if c.lifecycle is not None else None
        if hook is None:
            return
        if hook.sleep is not None:
            await asyncio.sleep(hook.sleep.seconds or 0)
            return
        ip = st.sandbox.ip if st.sandbox else ""
        ok, message = await probes.run_probe(hook, c, ip, cid, self.runtime, POST_START_TIMEOUT)  # type: ignore[arg-type]
        if not ok:
            self._event(pod, "Warning", "FailedPostStartHook", message)
            await self.runtime.stop_container(cid, self._probe_grace(pod, c))

    async def _probe(self, pod: Pod, st: PodState, c: Container, rec: ContainerRecord, now: float,
                     wake: Wake) -> None:
        assert rec.current is not None and st.sandbox is not None
        started_at = rec.current.started_at or now
        for kind in (probes.STARTUP, probes.LIVENESS, probes.READINESS):
            t = rec.trackers.get(kind)
            if t is None:
                continue
            started = probes.container_started(rec.trackers, True)
            if t.should_run(now, started_at, started):
                probe = getattr(c, kind + "Probe")
                ok, message = await probes.run_probe(probe, c, st.sandbox.ip, rec.current.id, self.runtime,
                                                     t.timing.timeout)
                if t.observe(ok, time.time()):
                    log.info("pod %s/%s container %s: %s probe now %s %s", st.namespace, st.name, c.name,
                             kind, t.result.value, message)
                if not ok:
                    self._event(pod, "Warning", "Unhealthy", f"{kind.capitalize()} probe failed: {message}")
                rec.probe_message = message
            started = probes.container_started(rec.trackers, True)
            if not t.on_hold and not (kind == probes.STARTUP and t.result == probes.Result.SUCCESS) and (
                kind == probes.STARTUP or started
            ):
                wake.at(t.next_run_at(started_at))

    # --- status -------------------------------------------------------------------------
    def _views(self, pod: Pod, st: PodState, init: bool, ephemeral: bool = False) -> list[ContainerView]:
        spec = pod.spec
        specs: list[Any] | None = None
        if spec is not None:
            specs = spec.ephemeralContainers if ephemeral else spec.initContainers if init else spec.containers
        table = st.ephemeral if ephemeral else st.init if init else st.containers
        views = []
        for c in specs or []:
            rec = table.get(c.name or "") or ContainerRecord(c.name or "")
            last = rec.previous if rec.previous is not None and rec.previous.state == ContainerState.EXITED else None
            running = rec.running
            views.append(ContainerView(
                name=c.name or "", image=c.image or "", current=rec.current, last_terminated=last,
                restart_count=rec.restart_count, waiting_reason=rec.waiting_reason,
                waiting_message=rec.waiting_message,
                ready=probes.container_ready(rec.trackers, running) if not (init or ephemeral) or is_sidecar(c)
                else False,
                started=probes.container_started(rec.trackers, running),
                runtime_name=self.node.runtime_name,
            ))
        return views

    async def _report(self, pod: Pod, st: PodState, now: float, message: str = "", failed_reason: str = "") -> None:
        sandbox = st.sandbox
        status = compute_status(
            pod, self._views(pod, st, True), self._views(pod, st, False),
            ephemeral_views=self._views(pod, st, False, ephemeral=True),
            pod_ip=sandbox.ip if sandbox else "", host_ip=self.node.ip, now=now,
            message=message or (sandbox.message if sandbox else ""), failed_reason=failed_reason,
        )
        if not status_differs(pod.status, status):
            return
        body = msgspec.structs.replace(pod, status=status)
        st.sent = status  # its echo on the bus may come before the answer (agent.update_needs_sync)
        try:
            updated = await self.api.update_status(body)
        except APIError as exc:
            if exc.code == 404:
                return  # the pod is gone; the DELETED event ends this worker
            if exc.code == 409:  # our copy is stale: fetch the current one and retry soon
                fresh = await self.api.get("pods", pod.metadata.namespace or "", pod.metadata.name or "")
                if fresh.metadata.uid == pod.metadata.uid:
                    self.on_pod_updated(fresh)
            raise
        st.reported = updated.status
        if updated.status is not None and updated.status.phase in TERMINAL_PHASES:
            st.terminal = True
        self.on_pod_updated(updated)

    def _write_resolv_conf(self, pod: Pod, sandbox: Any, directory: str) -> str:
        """directory/resolv.conf for this pod's dnsPolicy ("" when the host's file stays)."""
        text = clusterdns.resolv_conf(pod, nameserver=self.node.cluster_dns,
                                      cluster_domain=self.node.cluster_domain,
                                      host_network=bool(sandbox.host_network))
        if text is None:
            return ""
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, "resolv.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    # --- termination -------------------------------------------------------------------
    async def _stop_running(self, pod: Pod | None, st: PodState, grace: float) -> None:
        """preStop hooks, then SIGTERM → grace → SIGKILL for every live container, in parallel."""
        live = [rec for rec in st.all_records()
                if rec.current is not None and rec.current.state in (ContainerState.RUNNING, ContainerState.CREATED)]
        if not live:
            return
        deadline = time.monotonic() + grace
        specs = {}
        if pod is not None and pod.spec is not None:
            specs = {c.name: c for c in [*(pod.spec.initContainers or []), *(pod.spec.containers or [])]}

        async def stop(rec: ContainerRecord) -> None:
            assert rec.current is not None
            c = specs.get(rec.name)
            if pod is not None:
                self._event(pod, "Normal", "Killing", f"Stopping container {rec.name}")
            hook = c.lifecycle.preStop if c is not None and c.lifecycle is not None else None
            if hook is not None and rec.current.state == ContainerState.RUNNING:
                await self._run_hook(hook, c, st, rec.current.id, max(deadline - time.monotonic(), 0.1))
            # Kubernetes gives at least 2 s between SIGTERM and SIGKILL once a hook used the budget.
            remaining = max(deadline - time.monotonic(), 2.0 if grace > 0 else 0.0)
            await self.runtime.stop_container(rec.current.id, remaining)
            rec.current = await self.runtime.container_status(rec.current.id) or rec.current

        await asyncio.gather(*(stop(rec) for rec in live))

    async def _run_hook(self, hook: LifecycleHandler, c: Container, st: PodState, cid: str, budget: float) -> None:
        try:
            if hook.sleep is not None:
                await asyncio.sleep(min(hook.sleep.seconds or 0, budget))
                return
            ip = st.sandbox.ip if st.sandbox else ""
            async with asyncio.timeout(budget):
                await probes.run_probe(hook, c, ip, cid, self.runtime, budget)  # type: ignore[arg-type]
        except TimeoutError:
            log.info("pod %s/%s container %s: preStop hook did not finish in %.0fs", st.namespace, st.name,
                     c.name, budget)

    async def _cleanup(self, st: PodState, *, pod: Pod | None, grace: float) -> None:
        await self._stop_running(pod, st, grace)
        for cid in st.container_ids():
            await self.runtime.remove_container(cid)
        await self.runtime.remove_sandbox(st.uid)
        await asyncio.to_thread(volumes.remove_pod_dirs, self.pod_dirs(st.uid))
        self.tokens.forget(st.uid)
        self.backoff.forget_prefix(st.uid + "/")
        self.image_backoff.forget_prefix(f"image/{st.uid}/")
        st.init.clear()
        st.containers.clear()
        st.sandbox = None

    async def _confirm_deletion(self, pod: Pod) -> None:
        meta = pod.metadata
        try:
            await self.api.delete("pods", meta.namespace or "", meta.name or "", grace_period=0, uid=meta.uid or "")
        except APIError as exc:
            if exc.code not in (404, 409):  # gone already / a different pod now has the name
                raise


class _VolumeError(Exception):
    pass
