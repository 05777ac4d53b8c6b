"""kubelite-nodeagent: connect to NATS, start this node's agent(s), run until SIGTERM/SIGINT.

Stopping the agent leaves its containers running: the next start adopts them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import os
import signal
import sys
from typing import Any

from kubelite.api.storage_v1 import LOCAL_PATH_ROOT
from kubelite.bus.connection import PING_INTERVAL, connect_nats
from kubelite.bus.identity import BusIdentity
from kubelite.client.nats import NatsAPIClient
from kubelite.credentials import bus_credentials
from kubelite.gctune import tune_gc
from kubelite.logsetup import setup_logging
from kubelite.reconcile.recorder import EventRecorder
from kubelite.service import wait_for_children_with_pidfds
from kubelite.telemetry.server import serve_process_metrics
from kubelite_nodeagent import nodeinfo, reconnect
from kubelite_nodeagent.agent import AgentOptions, NodeAgent
from kubelite_nodeagent.config import AgentConfig, parse_args
from kubelite_nodeagent.drain import DrainGate
from kubelite_nodeagent.metrics import watch_agents
from kubelite_nodeagent.podcidr import assigned_pod_cidr
from kubelite_nodeagent.podsync import NodeContext
from kubelite_nodeagent.registration import Registrar
from kubelite_nodeagent.rootca import RootCACache
from kubelite_nodeagent.routes import RouteManager
from kubelite_nodeagent.runtime import create_runtime, statedir
from kubelite_nodeagent.runtime.base import RuntimeConfig
from kubelite_nodeagent.servicecache import ServiceCache
from kubelite_nodeagent.shared import SharedWatches
from kubelite_nodeagent.volumeserver import volume_root

log = logging.getLogger("kubelite.nodeagent")

FAKE_NODES_PING_INTERVAL = 30.0
START_BATCH = 50  # fake nodes registered concurrently
REMOVE_GRACE = 5.0  # seconds each container gets to stop with --remove-pods-on-exit


async def build_agent(cfg: AgentConfig, nc: Any, facts: nodeinfo.HostFacts,
                      name: str, index: int, drain_gate: DrainGate | None = None,
                      shared: SharedWatches | None = None) -> NodeAgent:
    """One node's runtime, registrar and agent (not started); it calls the API as its node."""
    api = NatsAPIClient(nc, caller=BusIdentity("node", name))
    root = cfg.root_dir_for(name)
    pod_cidr = cfg.pod_cidr_for(name, index) or await assigned_pod_cidr(
        api, name, dict(cfg.labels), wait_seconds=cfg.pod_cidr_wait)
    run_dir = str(statedir.run_dir(root)) if cfg.runtime != "fake" else ""  # one tmpfs check per node
    runtime = create_runtime(cfg.runtime, RuntimeConfig(node_name=name, root_dir=root, pod_cidr=pod_cidr,
                                                         node_ip=facts.internal_ip, run_dir=run_dir))
    await runtime.start()
    settings = nodeinfo.NodeSettings(
        name=name, pod_cidr=pod_cidr, labels=dict(cfg.labels), taints=list(cfg.taints),
        annotations={LOCAL_PATH_ROOT: volume_root(root)},
        system_reserved=dict(cfg.system_reserved), capacity_override=dict(cfg.capacity),
        runtime_version=f"{cfg.runtime}://{_runtime_version(runtime)}",
    )
    pressure = None
    if cfg.runtime != "fake":
        os.makedirs(root, exist_ok=True)

        def pressure() -> nodeinfo.Pressure:
            return nodeinfo.measure_pressure(root)

    async def runtime_ok() -> bool:
        await runtime.list_sandboxes()  # raises (or hangs) when the runtime is down
        return True

    registrar = Registrar(api, settings, facts, interval=cfg.status_update_frequency, pressure=pressure,
                          runtime_ok=runtime_ok if cfg.runtime != "fake" else None)
    cap = nodeinfo.capacity(facts, settings.capacity_override)
    node = NodeContext(name=name, ip=facts.internal_ip, root_dir=root,
                       run_dir=run_dir,
                       allocatable=nodeinfo.allocatable(cap, settings.system_reserved), runtime_name=cfg.runtime,
                       cluster_dns=cfg.cluster_dns or first_host(pod_cidr), cluster_domain=cfg.cluster_domain)
    options = AgentOptions(resync_seconds=cfg.resync, metrics_resolution=cfg.metrics_resolution,
                           restart_backoff_base=cfg.backoff_base,
                           restart_backoff_max=cfg.backoff_max, restart_backoff_reset=cfg.backoff_reset)
    recorder = EventRecorder(api, "kubelet", host=name) if cfg.events else None
    return NodeAgent(nc=nc, api=api, runtime=runtime, node=node, registrar=registrar, options=options,
                     recorder=recorder, drain_gate=drain_gate, shared=shared)


def first_host(cidr: str) -> str:
    """The node's pod-network gateway (bridge address), where its proxy answers DNS."""
    try:
        return str(next(ipaddress.ip_network(cidr, strict=False).hosts()))
    except (ValueError, StopIteration):
        return ""


def _runtime_version(runtime: Any) -> str:
    return str(getattr(runtime, "version", "0.1.0"))


async def start_agents(cfg: AgentConfig, nc: Any, shared: SharedWatches | None = None) -> list[NodeAgent]:
    api = NatsAPIClient(nc, caller=BusIdentity("node", cfg.node_names()[0]))  # the process's shared readers
    facts = nodeinfo.host_facts()
    if cfg.node_ip:
        facts = dataclasses.replace(facts, internal_ip=cfg.node_ip)
    names = cfg.node_names()
    gate = None
    if cfg.runtime != "fake" and cfg.endpoint_drain_timeout > 0:
        gate = DrainGate.over_nats(nc, api, timeout=cfg.endpoint_drain_timeout, resync=cfg.resync)  # one per process
        await gate.start()
    agents: list[NodeAgent] = []
    for start in range(0, len(names), START_BATCH):
        batch = [await build_agent(cfg, nc, facts, name, cfg.fake_node_offset + start + i, gate, shared)
                 for i, name in enumerate(names[start : start + START_BATCH])]
        await asyncio.gather(*(a.start() for a in batch))
        agents.extend(batch)
    return agents


async def stop_agents(agents: list[NodeAgent], *, remove_pods: bool = False) -> None:
    await asyncio.gather(*(a.stop() for a in agents), return_exceptions=True)
    if remove_pods:
        await asyncio.gather(*(a.remove_all_pods(grace=REMOVE_GRACE) for a in agents), return_exceptions=True)
    for a in agents:
        try:
            await a.runtime.close()
        except Exception as exc:
            log.warning("runtime close failed: %s", exc)


async def run(cfg: AgentConfig) -> None:
    wait_for_children_with_pidfds()
    agents: list[NodeAgent] = []
    routes: list[RouteManager] = []  # one per process, shared by its nodes
    watches: list[ServiceCache | RootCACache] = []  # one of each per process, shared by its nodes

    async def on_reconnect() -> None:
        # thousands of fake nodes: not at once
        await reconnect.spread([a.on_reconnect for a in [*agents, *routes, *watches]])

    creds = bus_credentials(cfg.pki_dir, cfg.bus_identity())
    # thousands of fake nodes in one process stall its loop for seconds at a time: a short ping
    # would take that for a dead server and make every node re-list
    nc = await connect_nats(cfg.nats, name=f"nodeagent-{cfg.node_name}", on_reconnect=on_reconnect,
                            credentials=creds, ping_interval=FAKE_NODES_PING_INTERVAL if cfg.fake_nodes > 0 else PING_INTERVAL)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watch_agents(lambda: agents)
    metrics = await serve_process_metrics(cfg.metrics_bind_address, pki_dir=cfg.pki_dir,
                                          file_name=cfg.bus_identity().file_name)
    try:
        reader = NatsAPIClient(nc, caller=BusIdentity("node", cfg.node_names()[0]))
        shared = SharedWatches(services=ServiceCache.over_nats(nc, reader, resync=cfg.resync), root_ca=RootCACache(nc))
        watches.extend([shared.services, shared.root_ca])
        shared.services.start()
        await shared.root_ca.start()
        agents.extend(await start_agents(cfg, nc, shared))
        tune_gc()  # with --fake-nodes one process holds thousands of nodes' state (gctune.py)
        if cfg.manage_routes:
            routes.append(RouteManager.over_nats(nc, reader, cluster_cidr=cfg.cluster_cidr,
                                                 local_nodes=[a.node.name for a in agents], resync=cfg.resync))
            await routes[0].start()
        log.info("node agent running: %d node(s), runtime %s", len(agents), cfg.runtime)
        await stop.wait()
        log.info("node agent stopping (%s)",
                 "removing its pods' containers" if cfg.remove_pods_on_exit else "containers keep running")
    finally:
        for r in routes:
            await r.stop()  # its routes stay: a restarted agent recomputes the same set
        for cache in watches:
            await cache.stop()
        await stop_agents(agents, remove_pods=cfg.remove_pods_on_exit)
        if metrics is not None:
            await metrics.stop()
        await nc.close()


def main(argv: list[str] | None = None) -> None:
    cfg = parse_args(argv)
    setup_logging("nodeagent", cfg.log_level)
    if cfg.log_level != "debug":  # httpx logs every probe request at info
        logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        asyncio.run(run(cfg))
    except (ConnectionError, FileNotFoundError) as exc:
        sys.exit(f"kubelite-nodeagent: {exc}")


if __name__ == "__main__":
    main()
