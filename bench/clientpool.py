"""`size` httpx clients with one keep-alive connection each (imported as `clientpool`: the
scripts run from bench/).

Why not one AsyncClient with `size` connections: httpx's shared pool slows down sharply as
connections grow (encode/httpx#3215; in apiserver_bench 64 connections gave a quarter of the
throughput of 4, and in a 50-pod burst the pool's bookkeeping was 40 % of the client's CPU),
which measures the client and takes CPU from the cluster on the same machine.

`raw=True`: rawhttp.Connection instead of httpx clients (the same get/post/aclose), for a bench
whose client must take as little of the machine as it can (rawhttp.py says why).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx
import rawhttp


class ClientPool:
    def __init__(self, url: str, size: int, *, verify: ssl.SSLContext | bool, timeout: float,
                 raw: bool = False) -> None:  # fmt: skip
        self.verify = verify
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self.clients: list[Any] = [
            rawhttp.Connection(url, verify=verify, timeout=timeout) if raw
            else httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout, verify=verify)
            for _ in range(size)
        ]
        self._idle: asyncio.Queue[Any] = asyncio.Queue()
        for client in self.clients:
            self._idle.put_nowait(client)

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        client = await self._idle.get()
        try:
            yield client
        finally:
            self._idle.put_nowait(client)

    async def __aenter__(self) -> ClientPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(*(c.aclose() for c in self.clients))
