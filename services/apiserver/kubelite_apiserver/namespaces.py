"""Which namespaces exist and which are terminating, kept from an etcd watch.

Every namespaced create must refuse a missing or terminating namespace. Asking
etcd each time doubles the cost of a create, so the apiserver keeps this small
cache (list, then watch; re-list on any error) and asks etcd only on a miss —
a namespace created a moment ago through another replica is still found.
"""

from __future__ import annotations

import asyncio
import logging

from kubelite.api.scheme import by_kind
from kubelite.storage import KV

log = logging.getLogger("kubelite.apiserver.namespaces")

ACTIVE, TERMINATING = "Active", "Terminating"


def _phase(kv: KV) -> str:
    return TERMINATING if b'"deletionTimestamp"' in kv.value else ACTIVE


class NamespaceCache:
    def __init__(self, store) -> None:
        self.store = store
        self.info = by_kind("v1", "Namespace")
        self.phases: dict[str, str] = {}
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="namespace-cache")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def note(self, name: str, phase: str | None) -> None:
        """This apiserver just wrote the namespace: reflect it now (read-your-writes here;
        other replicas converge through the watch within moments)."""
        if phase is None:
            self.phases.pop(name, None)
        else:
            self.phases[name] = phase

    async def phase(self, name: str) -> str | None:
        """Active, Terminating, or None when the namespace does not exist."""
        cached = self.phases.get(name)
        if cached is not None:
            return cached
        kv = await self.store.get(self.info.key(None, name))
        return None if kv is None else _phase(kv)

    async def _run(self) -> None:
        prefix = self.info.key_prefix()
        while True:
            try:
                kvs, rev, _ = await self.store.list(prefix)
                self.phases = {kv.key[len(prefix):]: _phase(kv) for kv in kvs}
                async for ev in self.store.watch(prefix, start_revision=rev + 1):
                    name = ev.kv.key[len(prefix):]
                    if ev.type == "DELETE":
                        self.phases.pop(name, None)
                    elif ev.type == "PUT":
                        self.phases[name] = _phase(ev.kv)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("namespace watch restarting: %s", exc)
                self.phases = {}
                await asyncio.sleep(1)
