"""The controller-manager process: flags, leader election, and the controllers it runs.

Adding a controller: write a module with a factory `(ctx: ControllerContext) ->
Controller` (a `kubelite.reconcile.controller.Controller`) and add one line to
CONTROLLERS below. Every controller gets the same context: shared informers
(one etcd list/watch per resource, whoever asks first), the NATS API client
for writes, the event recorder, the decision publisher and the parsed options.
Nothing runs until this process is the leader. Losing the lease stops every
controller at once and the process campaigns again as a standby (where
kube-controller-manager exits and relies on a supervisor): `kubelite up` does
not restart processes, so a control plane of one must recover by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import signal
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from kubelite.api.core_v1 import PODS
from kubelite.api.meta import Object
from kubelite.api.scheme import ResourceInfo
from kubelite.bus import changes, decisions
from kubelite.bus.identity import BusIdentity
from kubelite.client.nats import NatsAPIClient
from kubelite.durations import duration_flag
from kubelite.flags import add_etcd_tls_flags, add_pki_dir_flag, etcd_tls_from, options_from
from kubelite.reconcile.informer import Informer
from kubelite.reconcile.leader import LeaderElector, Outcome, campaign_and_lead, wait_term
from kubelite.reconcile.nats_informer import NatsInformer
from kubelite.reconcile.recorder import EventRecorder
from kubelite.reconcile.transforms import lean
from kubelite.telemetry.server import BindAddress, add_metrics_flags, serve_process_metrics
from kubelite.timefmt import micro_time
from kubelite_controller_manager import podrecord
from kubelite_controller_manager.customresources import CustomResources

log = logging.getLogger("kubelite.controller_manager")

COMPONENT = "controller-manager"
IDENTITY = BusIdentity("controller-manager")
METRICS_ADDRESS = BindAddress("127.0.0.1", 10257)  # kube-controller-manager's secure port
ELECTION = "kube-controller-manager"  # etcd key /kubelite/leader/<this>; Lease kube-system/<this>

# name -> "module:factory". The factory takes a ControllerContext and returns a Controller.
CONTROLLERS: dict[str, str] = {
    "replicaset": "kubelite_controller_manager.replicaset.controller:new_controller",
    "replicationcontroller": "kubelite_controller_manager.replicaset.controller:new_replication_manager",
    "deployment": "kubelite_controller_manager.deployment.controller:new_controller",
    "nodelifecycle": "kubelite_controller_manager.nodelifecycle.controller:new_controller",
    "nodeipam": "kubelite_controller_manager.nodeipam.controller:new_controller",
    "garbagecollector": "kubelite_controller_manager.garbagecollector.controller:new_controller",
    "namespace": "kubelite_controller_manager.namespace.controller:new_controller",
    "endpoint": "kubelite_controller_manager.endpoints.controller:new_controller",
    "endpointslice": "kubelite_controller_manager.endpointslices.controller:new_controller",
    "serviceaccount": "kubelite_controller_manager.serviceaccounts.controller:new_controller",
    "root-ca-cert-publisher": "kubelite_controller_manager.rootcacert.controller:new_controller",
    "job": "kubelite_controller_manager.job.controller:new_controller",
    "cronjob": "kubelite_controller_manager.cronjob.controller:new_controller",
    "daemonset": "kubelite_controller_manager.daemonset.controller:new_controller",
    "statefulset": "kubelite_controller_manager.statefulset.controller:new_controller",
    "persistentvolume-binder": "kubelite_controller_manager.volume.binder:new_controller",
    "storage-protection": "kubelite_controller_manager.volume.protection:new_controller",
    "disruption": "kubelite_controller_manager.disruption.controller:new_controller",
    "horizontalpodautoscaling": "kubelite_controller_manager.podautoscaler.controller:new_controller",
}


# --------------------------------------------------------------------------
# options
# --------------------------------------------------------------------------


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes", "on"):
        return True
    if text.lower() in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}")


@dataclass(frozen=True)
class Options:
    etcd: str = "http://127.0.0.1:2379"
    nats: str = "nats://127.0.0.1:4222"
    leader_elect: bool = True
    leader_elect_lease_duration: float = 15.0
    leader_elect_retry_period: float = 2.0
    concurrent_deployment_syncs: int = 5
    concurrent_replicaset_syncs: int = 5
    node_monitor_grace_period: float = 50.0
    node_monitor_period: float = 5.0
    horizontal_pod_autoscaler_sync_period: float = 15.0
    allocate_node_cidrs: bool = True
    cluster_cidr: str = "10.244.0.0/16"
    node_cidr_mask_size: int = 24
    node_startup_grace_period: float = 60.0
    node_eviction_rate: float = 0.1
    secondary_node_eviction_rate: float = 0.01
    unhealthy_zone_threshold: float = 0.55
    large_cluster_size_threshold: int = 50
    resync_period: float = 300.0
    controllers: tuple[str, ...] = ("*",)
    log_level: str = "info"
    identity: str = ""
    pki_dir: str = ""
    root_ca_file: str = ""
    etcd_cafile: str = ""
    etcd_certfile: str = ""
    etcd_keyfile: str = ""
    metrics_bind_address: BindAddress | None = METRICS_ADDRESS

    def enabled(self, name: str) -> bool:
        """kube-controller-manager's --controllers: '*' all, 'name' on, '-name' off."""
        if f"-{name}" in self.controllers:
            return False
        return "*" in self.controllers or name in self.controllers


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubelite-controller-manager",
                                description="Reconcile loops: ReplicaSet, Deployment, and more.")
    p.add_argument("--etcd", default=Options.etcd,
                   help="etcd URL, or every member's, comma-separated (read: informers, leader lease)")
    p.add_argument("--nats", default=Options.nats,
                   help="NATS URL, or every server's, comma-separated (writes go to the apiserver over NATS)")
    p.add_argument("--leader-elect", type=_bool, nargs="?", const=True, default=True,
                   help="elect a leader among replicas before acting (default true; --leader-elect=false)")
    p.add_argument("--no-leader-elect", dest="leader_elect", action="store_false",
                   help="act at once, without leader election (one replica only!)")
    p.add_argument("--leader-elect-lease-duration", type=duration_flag, default="15s",
                   help="how long a standby waits before taking over (default 15s)")
    p.add_argument("--leader-elect-retry-period", type=duration_flag, default="2s",
                   help="how often a standby tries to become leader (default 2s)")
    p.add_argument("--concurrent-deployment-syncs", type=int, default=Options.concurrent_deployment_syncs)
    p.add_argument("--concurrent-replicaset-syncs", type=int, default=Options.concurrent_replicaset_syncs)
    p.add_argument("--node-monitor-grace-period", type=duration_flag, default="50s",
                   help="time a node's Lease may go unrenewed before it is marked unreachable")
    p.add_argument("--horizontal-pod-autoscaler-sync-period", type=duration_flag, default="15s",
                   help="how often each HorizontalPodAutoscaler is evaluated (default 15s)")
    p.add_argument("--allocate-node-cidrs", type=_bool, default=True,
                   help="give every Node a spec.podCIDR from --cluster-cidr (node IPAM; default true)")
    p.add_argument("--cluster-cidr", default=Options.cluster_cidr,
                   help="the pods' network, cut into one range per node (default 10.244.0.0/16)")
    p.add_argument("--node-cidr-mask-size", type=int, default=Options.node_cidr_mask_size,
                   help="prefix length of each node's range (default 24: 254 pods per node)")
    p.add_argument("--node-monitor-period", type=duration_flag, default="5s",
                   help="how often the node lifecycle controller checks every node")
    p.add_argument("--node-startup-grace-period", type=duration_flag, default="1m",
                   help="time a new node may take to post its first status")
    p.add_argument("--node-eviction-rate", type=float, default=Options.node_eviction_rate,
                   help="nodes per second tainted NoExecute (pods evicted) in a healthy zone")
    p.add_argument("--secondary-node-eviction-rate", type=float, default=Options.secondary_node_eviction_rate,
                   help="nodes per second in an unhealthy zone of a large cluster (0 in small ones)")
    p.add_argument("--unhealthy-zone-threshold", type=float, default=Options.unhealthy_zone_threshold,
                   help="fraction of NotReady nodes (at least 3) that makes a zone unhealthy")
    p.add_argument("--large-cluster-size-threshold", type=int, default=Options.large_cluster_size_threshold,
                   help="zones with more nodes use the secondary eviction rate when unhealthy")
    p.add_argument("--resync-period", type=duration_flag, default="5m",
                   help="every cached object is reconciled again at least this often")
    p.add_argument("--controllers", default="*",
                   help="comma-separated controllers to run: '*' all, 'foo' on, '-foo' off")
    p.add_argument("--identity", default="", help="leader election identity (default host_pid_random)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    add_pki_dir_flag(p)
    add_etcd_tls_flags(p)
    add_metrics_flags(p, default_port=METRICS_ADDRESS.port)
    p.add_argument("--root-ca-file", default="",
                   help="CA published as ConfigMap kube-root-ca.crt in every namespace (default: cluster-ca.crt "
                        "in --pki-dir)")
    return p


def parse_options(argv: list[str] | None = None) -> Options:
    ns = build_parser().parse_args(argv)
    identity = ns.identity or f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    return options_from(
        ns, Options, identity=identity,
        controllers=tuple(c.strip() for c in ns.controllers.split(",") if c.strip()),
    )


# --------------------------------------------------------------------------
# what every controller shares
# --------------------------------------------------------------------------


class InformerFactory:
    """One Informer per resource for the whole process, created on first request.

    Secrets are read through the apiserver (list over NATS, then their change events), never
    from etcd: there they are encrypted with a key only the apiserver holds."""

    THROUGH_APISERVER = ("secrets",)

    def __init__(self, store: Any, resync_seconds: float, *, nc: Any = None, api: NatsAPIClient | None = None
                 ) -> None:
        self.store = store
        self.resync_seconds = resync_seconds
        self.nc = nc
        self.api = api
        self._informers: dict[str, Any] = {}

    def get(self, info: ResourceInfo) -> Any:
        informer = self._informers.get(info.group_resource)
        if informer is None:
            if info.group_resource in self.THROUGH_APISERVER and self.api is not None:
                informer = NatsInformer(self.nc, self.api, info, subject=changes.of(info.plural),
                                        resync_seconds=self.resync_seconds)
            else:
                informer = Informer(self.store, info, resync_seconds=self.resync_seconds,
                                    transform=podrecord.keep if info.group_resource == PODS.group_resource else lean)
            self._informers[info.group_resource] = informer
        return informer

    async def stop(self) -> None:
        for informer in self._informers.values():
            await informer.stop()


class DecisionPublisher:
    def __init__(self, nc: Any) -> None:
        self.nc = nc
        self._encoder = msgspec.json.Encoder()

    async def publish(self, controller: str, obj: Object, reason: str, message: str,
                      **details: Any) -> None:
        meta = obj.metadata
        decision = decisions.ControllerDecision(
            type=reason, controller=controller, kind=obj.kind or type(obj).__name__,
            namespace=meta.namespace, name=meta.name or "", message=message,
            time=micro_time(), details=details or None,
        )
        try:
            await self.nc.publish(decisions.controller(controller, meta.namespace, meta.name or ""),
                                  self._encoder.encode(decision))
        except Exception as exc:  # publishing is best effort: the controller's work is done
            log.debug("cannot publish decision: %s", exc)


@dataclass
class ControllerContext:
    options: Options
    store: Any  # kubelite.storage.etcd.EtcdStore
    nc: Any  # nats client
    api: NatsAPIClient
    informers: InformerFactory
    recorder: EventRecorder  # .event(obj, "Normal"|"Warning", reason, message): queued, never raises
    decisions: DecisionPublisher
    custom_resources: Any = None  # CustomResources: established CRDs' resources, as they come
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def load_controller(name: str, ctx: ControllerContext) -> Any:
    module, _, func = CONTROLLERS[name].partition(":")
    return getattr(importlib.import_module(module), func)(ctx)


# --------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------


async def lead(options: Options, store: Any, nc: Any, api: NatsAPIClient, recorder: EventRecorder,
               stop: asyncio.Event, lost: asyncio.Event) -> Outcome:
    """One term: every enabled controller, on fresh informers and fresh expectations, until
    `stop`, `lost` or a controller crashes; then stop them all."""
    informers = InformerFactory(store, options.resync_period, nc=nc, api=api)
    custom = CustomResources(informers)
    await custom.start()  # custom kinds known before any controller looks at the scheme
    ctx = ControllerContext(options=options, store=store, nc=nc, api=api, informers=informers,
                            recorder=recorder, decisions=DecisionPublisher(nc), custom_resources=custom)
    controllers = []
    for name in CONTROLLERS:
        if options.enabled(name) and (controller := load_controller(name, ctx)) is not None:
            controllers.append(controller)  # a factory returns None when its controller cannot run here
            log.info("starting controller %s", name)
    tasks = [asyncio.ensure_future(c.run()) for c in controllers]
    outcome: Outcome = "stopped"
    try:
        outcome = await wait_term(tasks, stop=stop, lost=lost)
    finally:
        # a leader that lost its lease must stop acting at once; otherwise let work finish briefly
        grace = 0.5 if outcome == "lost" else 5.0
        for c in controllers:
            with contextlib.suppress(Exception):
                await c.stop(grace_seconds=grace)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await informers.stop()
    return outcome


async def run(options: Options, stop: asyncio.Event | None = None) -> int:
    """Connect, then campaign and lead until `stop` (see `campaign_and_lead`)."""
    from kubelite.bus.connection import connect_nats
    from kubelite.credentials import bus_credentials
    from kubelite.gctune import tune_gc
    from kubelite.storage.etcd import EtcdStore

    stop = stop or asyncio.Event()
    creds = bus_credentials(options.pki_dir, IDENTITY)
    store = await EtcdStore.connect(options.etcd, wait_seconds=30, tls=etcd_tls_from(options, COMPONENT))
    nc = await connect_nats(options.nats, name=f"kubelite-controller-manager-{options.identity}", wait_seconds=30,
                            credentials=creds)
    api = NatsAPIClient(nc, caller=IDENTITY)
    recorder = EventRecorder(api, COMPONENT, socket.gethostname())
    metrics = await serve_process_metrics(options.metrics_bind_address, pki_dir=options.pki_dir,
                                          file_name=IDENTITY.file_name)
    elector: LeaderElector | None = None
    if options.leader_elect:
        lease_seconds = max(2, round(options.leader_elect_lease_duration))
        elector = LeaderElector(
            store, ELECTION, options.identity, lease_seconds=lease_seconds,
            renew_seconds=min(options.leader_elect_retry_period, lease_seconds / 3), mirror=api,
        )
    tune_gc()  # informers will hold every pod: collect less often (gctune.py)
    try:
        outcome = await campaign_and_lead(
            elector, lambda lost: lead(options, store, nc, api, recorder, stop, lost), stop=stop)
    finally:
        if metrics is not None:
            await metrics.stop()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await recorder.flush()
        with contextlib.suppress(Exception):
            await recorder.close()
        with contextlib.suppress(Exception):
            await nc.close()
        with contextlib.suppress(Exception):
            await store.close()
    return 1 if outcome == "failed" else 0


async def main_async(options: Options) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return await run(options, stop)
