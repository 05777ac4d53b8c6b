"""Connecting to NATS: wait for the server at startup, then reconnect forever.

Components re-list after every reconnect (design rule 4), so the hook
`on_reconnect` is part of connecting rather than an afterthought.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable

import nats
import nats.aio.client

from kubelite.credentials import BusCredentials
from kubelite.telemetry.families import BUS_DISCONNECTS, BUS_RECONNECTS

log = logging.getLogger(__name__)


class _QuietTLSClose(logging.Filter):
    """nats-py's protocol asks to keep a half-closed socket open, which TLS cannot do;
    asyncio says so at every disconnect. Harmless, and noise in every log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "eof_received()" not in record.getMessage()


logging.getLogger("asyncio").addFilter(_QuietTLSClose())


# How soon a client notices a path to its server that went silent (a host cut off the network, a
# dead route) rather than closed: it PINGs every PING_INTERVAL seconds and gives the connection up
# when MAX_OUTSTANDING_PINGS are unanswered at the next one, 6-9 s after the path died; then it
# reconnects and re-lists. With nats-py's default (120 s) a proxy on a host that came back from a
# 20 s partition kept its old connection, whose queued events arrived only when TCP's backed-off
# retransmission timer fired, seconds after its node agent had already stopped the local pods
# the proxy still sent to (the lab's partition-worker scenario saw requests fail after recovery).
# Kubernetes' clients do the same over HTTP/2 (client-go: a ping after 30 s idle, 15 s to answer).
PING_INTERVAL = 3.0
MAX_OUTSTANDING_PINGS = 2
# A stale connection is only given up once its socket closes, and closing a TCP socket with unsent
# data waits for the dead path (the proxy above noticed only after the partition had healed). The
# kernel ends a connection whose sent data (our PINGs at least) has stayed unacknowledged this
# long, so the reconnect starts during the partition. The peer's kernel acknowledges, not its
# process, so a loaded server or a stalled loop of ours never trips it (gRPC's keepalive sets
# the same option).
TCP_USER_TIMEOUT_SECONDS = 6.0


def _give_up_silent_paths(nc: nats.aio.client.Client) -> None:
    """TCP_USER_TIMEOUT on the client's current socket (a new one after every reconnect)."""
    writer = getattr(getattr(nc, "_transport", None), "_bare_io_writer", None)  # nats-py's TcpTransport
    sock = writer.get_extra_info("socket") if writer is not None else None
    if sock is not None and hasattr(socket, "TCP_USER_TIMEOUT"):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(TCP_USER_TIMEOUT_SECONDS * 1000))
        except OSError as exc:  # not TCP (a unix socket) or closed meanwhile: nothing to tune
            log.debug("TCP_USER_TIMEOUT not set: %s", exc)


async def connect_nats(
    url: str,
    *,
    name: str,
    wait_seconds: float = 30,
    on_reconnect: Callable[[], Awaitable[None]] | None = None,
    credentials: BusCredentials | None = None,
    ping_interval: float = PING_INTERVAL,
) -> nats.aio.client.Client:
    """Connect to NATS at `url`, retrying for up to `wait_seconds`.

    `credentials` (kubelite.credentials.bus_credentials) is the process's client
    certificate: a cluster's nats-server takes nothing else. Its replies arrive under
    the identity's own inbox prefix, the only one it may subscribe to.

    Raises ConnectionError("NATS at URL not reachable after Ns") when the
    server never answers. Once connected the client reconnects forever and
    awaits `on_reconnect` after each reconnect (failures there are logged,
    never raised into the NATS client). `ping_interval`: see PING_INTERVAL; a process whose
    event loop may stall for seconds under load (thousands of fake nodes) can ask for longer.
    """

    async def reconnected() -> None:
        _give_up_silent_paths(nc)
        BUS_RECONNECTS.labels(name).inc()
        log.warning("%s: reconnected to NATS at %s", name, url)
        if on_reconnect is not None:
            try:
                await on_reconnect()
            except Exception:
                log.exception("%s: on_reconnect hook failed", name)

    async def disconnected() -> None:
        BUS_DISCONNECTS.labels(name).inc()
        log.warning("%s: disconnected from NATS at %s", name, url)

    errors: list[Exception] = []

    async def error(exc: Exception) -> None:
        errors[:] = [exc]  # the newest, for the message when connecting gives up
        if "ermissions" in str(exc):
            log.warning("%s: NATS refused: %s", name, exc)  # a subject this identity may not use
        else:
            log.debug("%s: NATS error: %r", name, exc)

    nc = nats.aio.client.Client()
    try:
        # With max_reconnect_attempts=-1 nats-py retries the first connect
        # forever too; the deadline here turns that into a clear error.
        async with asyncio.timeout(wait_seconds):
            await nc.connect(
                servers=servers_of(url),
                name=name,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                connect_timeout=2,
                ping_interval=ping_interval,  # type: ignore[arg-type]  # nats-py annotates int; it sleeps a float
                max_outstanding_pings=MAX_OUTSTANDING_PINGS,
                reconnected_cb=reconnected,
                disconnected_cb=disconnected,
                error_cb=error,
                **_credential_options(credentials),
            )
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        await nc.close()
        raise ConnectionError(f"NATS at {url} not reachable after {wait_seconds:g}s{_why(errors or [exc])}") from exc
    _give_up_silent_paths(nc)
    return nc


def servers_of(url: str) -> list[str]:
    """Every server of a NATS cluster, comma-separated in one flag (`nats://a:4222,nats://b:4222`):
    the client connects to one and, when it goes, to another (and learns the rest from them)."""
    servers = [u.strip() for u in url.split(",") if u.strip()]
    if not servers:
        raise ValueError("no NATS URL given")
    return servers


def _credential_options(credentials: BusCredentials | None) -> dict[str, object]:
    if credentials is None:
        return {}
    return {"tls": credentials.tls, "inbox_prefix": credentials.identity.inbox_prefix}


def _why(errors: list[BaseException]) -> str:
    text = str(errors[-1])
    return f" ({text})" if "uthorization" in text or "certificate" in text.lower() else ""
