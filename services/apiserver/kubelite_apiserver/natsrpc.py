"""Serves the API over NATS request-reply (the contract: kubelite.bus.api).

A request's subject names its caller (kubelite.bus.identity), which nats-server has
already checked against the caller's certificate; from there on it is served exactly as
an HTTPS request is: authorized for that user (403 when not), audited, dispatched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from kubelite import errors
from kubelite.auth.user import UserInfo
from kubelite.bus import api as wire
from kubelite.bus.identity import UnknownIdentity, parse_api_subject
from kubelite.errors import APIError
from kubelite_apiserver import metrics
from kubelite_apiserver.audit import AuditLog
from kubelite_apiserver.dispatch import dispatch, status_body
from kubelite_apiserver.registry import Registry
from kubelite_apiserver.requestinfo import RequestInfo
from kubelite_apiserver.satokens import is_token_request, serve_token_request

log = logging.getLogger("kubelite.apiserver.nats")

MAX_IN_FLIGHT = 256


def request_info(req: wire.APIRequest, subject: str) -> RequestInfo:
    """What RBAC sees of an API request that arrived over NATS (its path is the subject)."""
    return RequestInfo(True, subject, req.verb, req.group, req.version, req.namespace, req.resource, req.name,
                       req.subresource)


def caller_of(subject: str, req: wire.APIRequest) -> UserInfo:
    """The user a request's subject names; 400 when the subject and the request disagree."""
    try:
        caller, verb, plural = parse_api_subject(subject)
    except UnknownIdentity as exc:
        raise errors.bad_request(str(exc)) from None
    if (verb, plural) != (req.verb, req.resource):
        raise errors.bad_request(f"subject {subject} does not match the request ({req.verb} {req.resource})")
    return caller.user()


class NatsAPI:
    def __init__(self, nc: Any, reg: Registry, *, admit: Callable[[UserInfo, RequestInfo], Awaitable[None]],
                 audit: AuditLog | None = None, sa_tokens: Any = None) -> None:
        self.nc = nc
        self.reg = reg
        self.admit = admit  # the apiserver's access gate, the one HTTPS requests pass
        self.sa_tokens = sa_tokens  # satokens.ServiceAccountTokens: TokenRequest (node agents' token volumes)
        self.audit = audit
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
        started = time.time()
        user: UserInfo | None = None
        info: RequestInfo | None = None
        try:
            req = wire.request_decoder.decode(msg.data)
            info = request_info(req, msg.subject)
            user = caller_of(msg.subject, req)
            await self.admit(user, info)
            if req.verb == "watch":
                raise errors.method_not_allowed("watch is served over HTTP; on NATS subscribe to kubelite.changes.>")
            code, body = await self._answer(req)
        except msgspec.MsgspecError as exc:
            code, body = 400, status_body(errors.bad_request(f"malformed APIRequest: {exc}"))
        except APIError as exc:
            code, body = exc.code, status_body(exc)
        metrics.observe(metrics.labels(info, "bus"), code, time.time() - started)
        if self.audit is not None:
            self.audit.record({"path": msg.subject}, info, user, code, started)
        if msg.reply:
            try:
                await msg.respond(wire.encode_response(code, body))
            except Exception as exc:
                log.warning("reply failed: %s", exc)

    async def _answer(self, req: wire.APIRequest) -> tuple[int, bytes]:
        if is_token_request(req.resource, req.subresource, req.verb):
            return await serve_token_request(self.sa_tokens, req.namespace, req.name, wire.body_bytes(req),
                                             req.contentType)
        return await dispatch(self.reg, req)

    async def drain(self, grace_seconds: float) -> None:
        if self.sub is not None:
            try:
                await self.sub.unsubscribe()
            except Exception:
                pass
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=grace_seconds)
