"""kubelite-scheduler: places pods on nodes (reads etcd, binds through the apiserver over NATS)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os

from kubelite.logsetup import add_log_level_flag, setup_logging
from kubelite.service import run_service

log = logging.getLogger("kubelite.scheduler")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="kubelite-scheduler", description=__doc__)
    p.add_argument("--etcd", default="http://127.0.0.1:2379", help="etcd client URL (read only)")
    p.add_argument("--nats", default="nats://127.0.0.1:4222", help="NATS URL")
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
        type=int,
        default=15,
        metavar="SECONDS",
        help="lease TTL: how long a dead leader blocks the standby (default: 15)",
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
    return p.parse_args(argv)


async def _run(args: argparse.Namespace) -> None:
    from kubelite.bus.connection import connect_nats
    from kubelite.client.nats import NatsAPIClient
    from kubelite.reconcile.leader import LeaderElector
    from kubelite.storage.etcd import EtcdStore
    from kubelite_scheduler.scheduler import Scheduler

    store = await EtcdStore.connect(args.etcd, wait_seconds=30)
    nc = await connect_nats(args.nats, name="kubelite-scheduler", wait_seconds=30)
    elector = None
    try:
        identity = f"{os.uname().nodename}_{os.getpid()}"
        lock = ""
        if args.leader_elect:
            lease = args.leader_elect_lease_duration
            lock = args.leader_elect_resource_name or (
                "kube-scheduler"
                if args.scheduler_name == "default-scheduler"
                else args.scheduler_name
            )
            elector = LeaderElector(
                store,
                lock,
                identity,
                lease_seconds=lease,
                renew_seconds=lease / 3,
                mirror=NatsAPIClient(nc),
            )
        while True:
            if elector is not None:
                await _campaign(store, elector, lock, identity)
            scheduler = Scheduler(
                store,
                nc,
                scheduler_name=args.scheduler_name,
                parallel_binds=args.parallel_binds,
                percentage_of_nodes_to_score=args.percentage_of_nodes_to_score,
                flush_seconds=args.unschedulable_flush_seconds,
                publish_decisions=args.decisions,
            )
            run = asyncio.get_running_loop().create_task(scheduler.run())
            waits = [run]
            if elector is not None:
                waits.append(asyncio.get_running_loop().create_task(elector.lost.wait()))
            done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            if run in done:
                run.result()
                return
            # Lost the lease (e.g. etcd unreachable longer than it): stop acting at once,
            # drop this scheduler's cache and campaign again, as the controller-manager does.
            with contextlib.suppress(asyncio.CancelledError):
                await run
            with contextlib.suppress(Exception):
                await scheduler.stop()
            log.warning("lost leadership; campaigning again")
    finally:
        if elector is not None:
            await elector.release()
        with contextlib.suppress(Exception):
            await nc.close()
        await store.close()


async def _campaign(store, elector, lock: str, identity: str) -> None:
    """Become leader, however long etcd stays unreachable meanwhile."""
    from kubelite.reconcile.leader import current_holder
    from kubelite.storage import StorageError

    delay = 0.5
    while True:
        try:
            holder = await current_holder(store, lock)
            if holder and holder != identity:
                log.info("standing by: %s holds %s", holder, lock)
            await elector.acquire()
            log.info("became leader as %s", identity)
            return
        except StorageError as exc:
            log.warning("campaign for %s: %s; retrying in %.1fs", lock, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging("scheduler", args.log_level)
    run_service("kubelite-scheduler", lambda: _run(args))


if __name__ == "__main__":
    main()
