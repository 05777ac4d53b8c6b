"""Serves the API over NATS request-reply (the contract: kubelite.bus.api)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec

from kubelite import errors
from kubelite.bus import api as wire
from kubelite_apiserver.dispatch import dispatch, status_body
from kubelite_apiserver.registry import Registry

log = logging.getLogger("kubelite.apiserver.nats")

MAX_IN_FLIGHT = 256


class NatsAPI:
    def __init__(self, nc: Any, reg: Registry) -> None:
        self.nc = nc
        self.reg = reg
        self.sub = None
        self.tasks: set[asyncio.Task] = set()
        self.slots = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def start(self) -> None:
        self.sub = await self.nc.subscribe(
            wire.ALL, queue=wire.QUEUE, cb=self._on_message
        )

    async def _on_message(self, msg: Any) -> None:
        # nats-py runs one callback at a time per subscription: hand off at once.
        await self.slots.acquire()
        task = asyncio.create_task(self._serve(msg))
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        self.slots.release()

    async def _serve(self, msg: Any) -> None:
        try:
            req = wire.request_decoder.decode(msg.data)
        except msgspec.MsgspecError as exc:
            code, body = 400, status_body(errors.bad_request(f"malformed APIRequest: {exc}"))
        else:
            if req.verb == "watch":
                code, body = 405, status_body(
                    errors.method_not_allowed("watch is served over HTTP; on NATS subscribe to kubelite.changes.>")
                )
            else:
                code, body = await dispatch(self.reg, req)
        if msg.reply:
            try:
                await msg.respond(wire.encode_response(code, body))
            except Exception as exc:
                log.warning("reply failed: %s", exc)

    async def drain(self, grace_seconds: float) -> None:
        if self.sub is not None:
            try:
                await self.sub.unsubscribe()
            except Exception:
                pass
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=grace_seconds)
