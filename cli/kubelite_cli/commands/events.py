"""`kubelite events`: the Event objects of a namespace; with -f, the live NATS bus."""

from __future__ import annotations

import argparse
import asyncio
import socket
import ssl
import sys
from datetime import UTC, datetime
from urllib.parse import urlsplit

from kubelite.bus.connection import servers_of
from kubelite.client.tls import client_context
from kubelite.printers import render_table, table_for
from kubelite_cli.errors import CLIError
from kubelite_cli.events_fmt import Heartbeats, format_message, is_shown
from kubelite_cli.session import Session


def _probe(url: str, timeout: float = 5.0) -> None:
    """Fail fast with one line if nothing listens at the NATS URL (nats-py would retry forever)."""
    parts = urlsplit(servers_of(url)[0])
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), timeout):
            pass
    except OSError as exc:
        raise CLIError(f"cannot connect to NATS at {url}: {exc.strerror or exc}") from exc


async def follow(url: str, subject: str, duration: float | None, tls: ssl.SSLContext | None = None, *,
                 show_all: bool = False) -> None:
    """Print every shown message until interrupted (or for `duration` seconds); heartbeats only
    with `show_all`. `tls` carries the kubeconfig's client certificate: the bus admits the
    admin's (and components') only."""
    import nats  # imported here: only `events -f` needs the bus client

    _probe(url)

    async def on_error(exc: Exception) -> None:  # reconnect attempts: a note, not a traceback
        print(f"# nats: {exc}", file=sys.stderr, flush=True)

    async def on_disconnected() -> None:
        print("# nats: disconnected, reconnecting", file=sys.stderr, flush=True)

    async def on_reconnected() -> None:
        print("# nats: reconnected", file=sys.stderr, flush=True)

    try:  # nats-py would retry a refused first connect forever
        async with asyncio.timeout(15):
            nc = await nats.connect(servers_of(url), connect_timeout=5, max_reconnect_attempts=-1, tls=tls,
                                    error_cb=on_error, disconnected_cb=on_disconnected,
                                    reconnected_cb=on_reconnected)
    except (TimeoutError, nats.errors.Error) as exc:
        raise CLIError(f"NATS at {url} refused this kubeconfig's credentials ({exc or 'timed out'}); "
                       "following the bus needs the admin's client certificate") from None

    heartbeats = Heartbeats()

    async def on_message(msg: nats.aio.msg.Msg) -> None:
        if is_shown(msg.subject) and (show_all or not heartbeats.is_heartbeat(msg.subject, msg.data)):
            print(format_message(msg.subject, msg.data, datetime.now(UTC)), flush=True)

    try:
        await nc.subscribe(subject, cb=on_message)
        await nc.flush()
        hidden = "" if show_all else " (heartbeats hidden; --all shows them)"
        print(f"# following {subject} on {url}{hidden}", file=sys.stderr, flush=True)
        if duration:
            await asyncio.sleep(duration)
        else:
            await asyncio.Event().wait()
    finally:
        await nc.drain()


def _bus_tls(session: Session) -> ssl.SSLContext | None:
    """The kubeconfig's CA and client certificate, for NATS (whose server has the cluster CA's certificate)."""
    cfg = session.config
    if not cfg.client_cert_pem:
        return None
    return client_context(ca_pem=cfg.ca_pem, cert_pem=cfg.client_cert_pem, key_pem=cfg.client_key_pem)


def run(args: argparse.Namespace) -> int:
    session = Session.from_args(args)
    try:
        if args.follow:
            url = args.nats or session.config.nats_url
            if not url:
                raise CLIError("no NATS URL: the kubeconfig has no kubelite extension; pass --nats")
            asyncio.run(follow(url, args.subject, args.timeout, _bus_tls(session), show_all=args.all))
            return 0
        ns = None if args.all_namespaces else session.namespace
        items = session.api.list("events", ns).get("items") or []
        items.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
        if not items:
            where = "" if args.all_namespaces else f" in {session.namespace} namespace"
            print(f"No events found{where}.", file=sys.stderr)
            return 0
        header, rows = table_for("events", items, datetime.now(UTC),
                                 all_namespaces=args.all_namespaces)
        print(render_table(header, rows), flush=True)
    finally:
        session.close()
    return 0
