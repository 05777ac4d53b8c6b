"""Connecting to NATS: wait for the server at startup, then reconnect forever.

Components re-list after every reconnect (design rule 4), so the hook
`on_reconnect` is part of connecting rather than an afterthought.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import nats
import nats.aio.client

log = logging.getLogger(__name__)


async def connect_nats(
    url: str,
    *,
    name: str,
    wait_seconds: float = 30,
    on_reconnect: Callable[[], Awaitable[None]] | None = None,
) -> nats.aio.client.Client:
    """Connect to NATS at `url`, retrying for up to `wait_seconds`.

    Raises ConnectionError("NATS at URL not reachable after Ns") when the
    server never answers. Once connected the client reconnects forever and
    awaits `on_reconnect` after each reconnect (failures there are logged,
    never raised into the NATS client).
    """

    async def reconnected() -> None:
        log.warning("%s: reconnected to NATS at %s", name, url)
        if on_reconnect is not None:
            try:
                await on_reconnect()
            except Exception:
                log.exception("%s: on_reconnect hook failed", name)

    async def disconnected() -> None:
        log.warning("%s: disconnected from NATS at %s", name, url)

    async def error(exc: Exception) -> None:
        log.debug("%s: NATS error: %r", name, exc)

    nc = nats.aio.client.Client()
    try:
        # With max_reconnect_attempts=-1 nats-py retries the first connect
        # forever too; the deadline here turns that into a clear error.
        await asyncio.wait_for(
            nc.connect(
                servers=[url],
                name=name,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                connect_timeout=2,
                reconnected_cb=reconnected,
                disconnected_cb=disconnected,
                error_cb=error,
            ),
            timeout=wait_seconds,
        )
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        await nc.close()
        raise ConnectionError(f"NATS at {url} not reachable after {wait_seconds:g}s") from exc
    return nc
