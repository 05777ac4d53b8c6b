"""kubelite-scheduler: places pods on nodes (reads etcd, binds through the apiserver over NATS)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
from typing import TYPE_CHECKING

from kubelite.bus.identity import BusIdentity
from kubelite.durations import duration_flag
from kubelite.flags import add_etcd_tls_flags, add_pki_dir_flag, etcd_tls_from
from kubelite.logsetup import add_log_level_flag, setup_logging
from kubelite.service import run_service
from kubelite.tasks import cancel_and_wait
from kubelite.telemetry.server import add_metrics_flags, serve_process_metrics

if TYPE_CHECKING:
    from kubelite.reconcile.leader import Outcome

log = logging.getLogger("kubelite.scheduler")
IDENTITY = BusIdentity("scheduler")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="kubelite-scheduler", description=__doc__)
    p.add_argument("--etcd", default="http://127.0.0.1:2379",
                   help="etcd client URL, or every member's, comma-separated (read only)")
    p.add_argument("--nats", default="nats://127.0.0.1:4222", help="NATS URL, or every server's, comma-separated")
    p.add_argument(
        "--scheduler-name",
        default="default-scheduler",
        help="schedule pods whose spec.schedulerName is this (default: default-scheduler)",
    )
    p.add_argument(
        "--leader-elect",
        default=True,
        action=argparse.BooleanOptionalAction,
        help="elect a leader through an etcd lease so replicas stand by (default: on)",
    )
    p.add_argument(
        "--leader-elect-resource-name",
        default=None,
        metavar="NAME",
        help="name of the leader lock (default: kube-scheduler for default-scheduler, "
        "else the scheduler name)",
    )
    p.add_argument(
        "--leader-elect-lease-duration",
        type=duration_flag,
        default=15.0,
        metavar="DURATION",
        help="lease TTL: how long a dead leader blocks the standby (default: 15s)",
    )
    p.add_argument(
        "--parallel-binds", type=int, default=64, help="binds in flight at once (default: 64)"
    )
    p.add_argument(
        "--percentage-of-nodes-to-score",
        type=int,
        default=0,
        metavar="PCT",
        help="stop filtering after this share of nodes fit (0: Kubernetes' adaptive default)",
    )
    p.add_argument(
        "--unschedulable-flush-seconds",
        type=float,
        default=30.0,
        help="retry unschedulable pods at least this often (default: 30)",
    )
    p.add_argument(
        "--no-decisions",
        dest="decisions",
        action="store_false",
        help="do not publish decisions on NATS",
    )
    add_log_level_flag(p)
    add_pki_dir_flag(p)
    add_etcd_tls_flags(p)
    add_metrics_flags(p, default_port=10259)  # kube-scheduler's secure port
    return p.parse_args(argv)


async def _run(args: argparse.Namespace) -> None:
    from kubelite.bus.connection import connect_nats
    from kubelite.client.nats import NatsAPIClient
    from kubelite.credentials import bus_credentials
    from kubelite.reconcile.leader import LeaderElector, campaign_and_lead, wait_term
    from kubelite.storage.etcd import EtcdStore
    from kubelite_scheduler.scheduler import Scheduler

    creds = bus_credentials(args.pki_dir, IDENTITY)
    store = await EtcdStore.connect(args.etcd, wait_seconds=30, tls=etcd_tls_from(args, "scheduler"))
    nc = await connect_nats(args.nats, name="kubelite-scheduler", wait_seconds=30, credentials=creds)
    api = NatsAPIClient(nc, caller=IDENTITY, timeout=30)
    metrics = await serve_process_metrics(args.metrics_bind_address, pki_dir=args.pki_dir,
                                          file_name=IDENTITY.file_name)
    stop = asyncio.Event()  # the process ends by cancellation (run_service), never by this

    async def term(lost: asyncio.Event) -> Outcome:
        """One term: a fresh scheduler (its cache is dropped with a lost lease)."""
        scheduler = Scheduler(
            store, nc, api=api, scheduler_name=args.scheduler_name, parallel_binds=args.parallel_binds,
            percentage_of_nodes_to_score=args.percentage_of_nodes_to_score,
            flush_seconds=args.unschedulable_flush_seconds, publish_decisions=args.decisions,
        )
        run = asyncio.get_running_loop().create_task(scheduler.run())
        try:
            return await wait_term([run], stop=stop, lost=lost)
        finally:
            with contextlib.suppress(Exception):
                await cancel_and_wait(run)
            with contextlib.suppress(Exception):
                await scheduler.stop()

    elector = None
    if args.leader_elect:
        lease = max(2, round(args.leader_elect_lease_duration))
        lock = args.leader_elect_resource_name or (
            "kube-scheduler" if args.scheduler_name == "default-scheduler" else args.scheduler_name)
        elector = LeaderElector(store, lock, f"{os.uname().nodename}_{os.getpid()}",
                                lease_seconds=lease, renew_seconds=lease / 3, mirror=api)
    try:
        if await campaign_and_lead(elector, term, stop=stop) == "failed":
            raise SystemExit("kubelite-scheduler: the scheduler loop crashed (see the log above)")
    finally:
        if metrics is not None:
            await metrics.stop()
        with contextlib.suppress(Exception):
            await nc.close()
        await store.close()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging("scheduler", args.log_level)
    run_service("kubelite-scheduler", lambda: _run(args))


if __name__ == "__main__":
    main()
