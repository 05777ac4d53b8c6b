"""Encryption at rest for this apiserver: the store Secrets go through, and the configuration
re-read when its file changes (Kubernetes' --encryption-provider-config-automatic-reload,
always on here), so `kubelite encryption rotate` needs no restart. A file that does not
parse is logged and ignored: the last good configuration stays in force."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from kubelite.storage.encryption import EncryptedStore, EncryptionConfigError, load_config
from kubelite.tasks import cancel_and_wait

log = logging.getLogger("kubelite.apiserver.encryption")

POLL_SECONDS = 1.0


def encrypted(store: Any, path: str) -> EncryptedStore:
    return EncryptedStore(store, load_config(path))


class ConfigWatcher:
    def __init__(self, store: EncryptedStore, path: str, *, poll: float = POLL_SECONDS) -> None:
        self.store = store
        self.path = path
        self.poll = poll
        self._seen = self._stamp()
        self._task: asyncio.Task[None] | None = None

    def _stamp(self) -> tuple[float, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime, st.st_ino

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.poll)
            self.check()

    def check(self) -> bool:
        """Reload when the file changed; True when a new configuration took effect."""
        stamp = self._stamp()
        if stamp is None or stamp == self._seen:
            return False
        self._seen = stamp
        try:
            rules = load_config(self.path)
        except (EncryptionConfigError, OSError) as exc:
            log.error("encryption config %s not reloaded (the previous one stays): %s", self.path, exc)
            return False
        self.store.configure(rules)
        writers = {res: (r.writer.name if r.writer else "identity") for r in rules for res in r.resources}
        log.info("encryption config reloaded: writing %s", ", ".join(f"{k} with {v}" for k, v in writers.items()))
        return True
