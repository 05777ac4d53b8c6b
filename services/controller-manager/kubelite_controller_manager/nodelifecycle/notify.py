"""Telling the world what a controller did: an Event on the object and a decision on NATS.

Shared by the node lifecycle, garbage collector, namespace and endpoints
controllers. Works with either event recorder (the core one whose `event` is
synchronous, or one whose `event` is a coroutine) and with no recorder or
publisher at all; both are best effort and never raise.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

import msgspec

log = logging.getLogger(__name__)


def typed(obj: Any, api_version: str, kind: str) -> Any:
    """`obj` with apiVersion/kind set (cached objects may lack them); a copy when changed."""
    if obj.apiVersion == api_version and obj.kind == kind:
        return obj
    return msgspec.structs.replace(obj, apiVersion=api_version, kind=kind)


class Notifier:
    def __init__(self, recorder: Any | None, decisions: Any | None) -> None:
        self.recorder = recorder
        self.decisions = decisions

    async def event(self, obj: Any, api_version: str, kind: str, type_: str, reason: str,
                    message: str) -> None:
        if self.recorder is None:
            return
        try:
            result = self.recorder.event(typed(obj, api_version, kind), type_, reason, message)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # events never fail the work they describe
            log.debug("cannot record %s: %s", reason, exc)

    async def decision(self, controller: str, obj: Any, api_version: str, kind: str, reason: str,
                       message: str, **details: Any) -> None:
        if self.decisions is None:
            return
        try:
            await self.decisions.publish(controller, typed(obj, api_version, kind), reason, message, **details)
        except Exception as exc:
            log.debug("cannot publish %s: %s", reason, exc)
