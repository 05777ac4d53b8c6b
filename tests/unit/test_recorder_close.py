"""EventRecorder.close is bounded: a component stopping while the bus is gone (a whole cluster
going down at once) gives up on its queued events instead of waiting on each request."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from kubelite.api.core_v1 import ConfigMap
from kubelite.api.meta import ObjectMeta
from kubelite.reconcile.recorder import EventRecorder


class UnansweredClient:
    """An API client whose requests never come back (the bus is down)."""

    async def create(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.Event().wait()

    patch = create


async def test_close_gives_up_on_unwritable_events_after_its_timeout(caplog: pytest.LogCaptureFixture) -> None:
    rec = EventRecorder(UnansweredClient(), "stopping")
    cm = ConfigMap(metadata=ObjectMeta(name="x", namespace="default"))
    for i in range(3):
        rec.event(cm, "Normal", "Stopping", f"event {i}")
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="kubelite.reconcile.recorder"):
        await asyncio.wait_for(rec.close(timeout=0.3), 5)
    assert time.monotonic() - started < 2
    assert rec.dropped == 3
    assert any("stopping with 3 event(s) unwritten" in r.getMessage() for r in caplog.records), caplog.text
