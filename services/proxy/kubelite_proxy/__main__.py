"""kubelite-proxy: forwards Service cluster IPs and NodePorts to ready endpoints, answers cluster DNS."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket

from kubelite.flags import add_pki_dir_flag
from kubelite.logsetup import add_log_level_flag, setup_logging
from kubelite.service import run_service
from kubelite.telemetry.server import add_metrics_flags, serve_process_metrics
from kubelite_proxy.addresses import AddressManager
from kubelite_proxy.dataplane import UserspaceDataplane
from kubelite_proxy.nft_dataplane import NftablesDataplane, unavailable_reason
from kubelite_proxy.nft_mode import NftablesMode
from kubelite_proxy.nftables import table_name

log = logging.getLogger("kubelite.proxy")


def default_dns_bind() -> str:
    """Port 53 on every address as root (pods' resolv.conf can name no other port); else unprivileged."""
    return "0.0.0.0:53" if os.geteuid() == 0 else "127.0.0.1:10053"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="kubelite-proxy", description=__doc__)
    p.add_argument("--nats", default="nats://127.0.0.1:4222", help="NATS URL, or every server's, comma-separated")
    p.add_argument(
        "--node-name", default=socket.gethostname().lower(),
        help="this node's name (default: the hostname in lower case, as the kubelet and node agent)"
    )
    p.add_argument(
        "--bind-address",
        default="0.0.0.0",
        help="address NodePorts listen on (default: 0.0.0.0, every node address; give each "
        "proxy its own loopback address when several run on one host)",
    )
    p.add_argument(
        "--dns-bind",
        default=default_dns_bind(),
        metavar="HOST:PORT",
        help="cluster DNS address (default: 0.0.0.0:53 as root, else 127.0.0.1:10053); "
        "'off' disables DNS",
    )
    p.add_argument(
        "--cluster-domain", default="cluster.local", help="DNS domain (default: cluster.local)"
    )
    p.add_argument(
        "--resync-seconds", type=float, default=60.0, help="re-list period (default: 60)"
    )
    p.add_argument(
        "--udp-timeout", type=float, default=30.0, help="idle UDP flow timeout in seconds"
    )
    p.add_argument(
        "--proxy-mode", choices=("userspace", "nftables"), default=None,
        help="data path: 'nftables' (the kernel DNATs to endpoints; root and the nft command; the table "
        "outlives the process, see --cleanup; NodePorts on 127.0.0.1 are still served by this process) or "
        "'userspace' (this process forwards every connection; works without root). Default: nftables "
        "where it works, else userspace (the log says why)",
    )  # fmt: skip
    p.add_argument(
        "--cleanup", action="store_true",
        help="remove this node's nftables table (left in place on exit so Services work across restarts) and exit",
    )  # fmt: skip
    add_log_level_flag(p)
    add_pki_dir_flag(p)
    add_metrics_flags(p, default_port=10249)  # kube-proxy's metrics port
    return p.parse_args(argv)


def nftables_problem(args: argparse.Namespace) -> str | None:
    """Why the nftables mode cannot serve this proxy, or None."""
    why = unavailable_reason()
    if why is None and args.bind_address.startswith("127."):
        why = (f"NodePorts cannot be served on a loopback --bind-address ({args.bind_address}) "
               "in the kernel")
    return why


def choose_mode(args: argparse.Namespace) -> tuple[str, str]:
    """(the data path, what to log about the choice): as asked (nftables that cannot work is one
    line and exit), or by default nftables where it works and userspace where it does not."""
    why = nftables_problem(args)
    if args.proxy_mode == "nftables" and why is not None:
        raise SystemExit(f"kubelite-proxy: --proxy-mode nftables: {why}; use --proxy-mode userspace")
    if args.proxy_mode is None and why is not None:
        return "userspace", f"the default, nftables, cannot work here: {why}"
    mode = args.proxy_mode or "nftables"
    return mode, "as asked" if args.proxy_mode else "the default"


def _nftables(args: argparse.Namespace) -> NftablesMode:
    """The kernel data path for this node, and what it leaves to userspace (nft_mode.py)."""
    return NftablesMode(
        kernel=NftablesDataplane(table=table_name(args.node_name)),
        userspace=UserspaceDataplane(AddressManager(), udp_idle_timeout=args.udp_timeout),
    )


async def _run(args: argparse.Namespace, dataplane: NftablesMode | None) -> None:
    from kubelite.bus.connection import connect_nats
    from kubelite.bus.identity import BusIdentity
    from kubelite.credentials import bus_credentials
    from kubelite_proxy.dns_server import parse_host_port
    from kubelite_proxy.service import ProxyService

    identity = BusIdentity("proxy", args.node_name)
    creds = bus_credentials(args.pki_dir, identity)
    nc = await connect_nats(args.nats, name=f"kubelite-proxy-{args.node_name}", wait_seconds=30, credentials=creds)
    metrics = await serve_process_metrics(args.metrics_bind_address, pki_dir=args.pki_dir,
                                          file_name=identity.file_name)
    try:
        proxy = ProxyService(
            nc, node_name=args.node_name, bind_address=args.bind_address,
            dns_bind=None if args.dns_bind == "off" else parse_host_port(args.dns_bind),
            cluster_domain=args.cluster_domain, resync_seconds=args.resync_seconds,
            udp_idle_timeout=args.udp_timeout,
            dataplane=dataplane,
        )  # fmt: skip
        await proxy.run()
    finally:
        if metrics is not None:
            await metrics.stop()
        with contextlib.suppress(Exception):
            await nc.close()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging("proxy", args.log_level)
    # checked before connecting anywhere: a mode that cannot work is one line and exit 1
    if args.cleanup:
        import asyncio

        why = unavailable_reason()
        if why is not None:
            raise SystemExit(f"kubelite-proxy: --cleanup: {why}")
        nft = NftablesDataplane(table=table_name(args.node_name))
        if asyncio.run(nft.table_present()):
            asyncio.run(nft.cleanup())
            log.info("removed nftables table %s", nft.table)
        return
    mode, why = choose_mode(args)
    log.info("proxy mode %s (%s)", mode, why)
    dataplane = _nftables(args) if mode == "nftables" else None
    run_service("kubelite-proxy", lambda: _run(args, dataplane))


if __name__ == "__main__":
    main()
