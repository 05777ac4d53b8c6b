"""etcd compaction, as kube-apiserver does it (storage/etcd3/compact.go, --etcd-compaction-interval).

etcd keeps every revision of every key until told to forget: without compaction a cluster of
100 nodes renewing their Leases every 10 s adds 860,000 revisions a day, and etcd refuses every
write once its database reaches its quota (2 GiB by default). Every interval the apiserver
compacts etcd up to the revision it saw one interval earlier, so watchers and LISTs keep at least
one interval of history (a watcher further behind gets 410 Gone and re-lists).

Several apiservers (or HTTP workers) share the work through one etcd key, Kubernetes'
`compact_rev_key`: each round, a compactor writes the revision it will compact to next only if the
key's version is the one it saw last round; the one that wins compacts, the others learn the
key's version and try again next round. So one compaction per interval, whoever runs.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from kubelite.storage import StorageError

log = logging.getLogger(__name__)

COMPACT_REV_KEY = "compact_rev_key"  # Kubernetes' own key: etcd tooling knows it


class Store(Protocol):  # kubelite.storage.etcd.EtcdStore
    async def claim_compaction(self, key: str, seen_version: int, revision: int) -> tuple[bool, int, int]: ...

    async def compact(self, revision: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Round:
    """What a compactor remembers between rounds: the version of COMPACT_REV_KEY it saw last,
    and the etcd revision of that moment (the next compaction point)."""

    version: int = 0
    revision: int = 0


async def compact_once(store: Store, last: Round) -> tuple[Round, int]:
    """One round: (what to remember for the next, the revision compacted to or 0).

    Worked example, interval 5 min: at 10:00 the key's version is 0 and etcd is at revision 700,
    so the compactor records 700 and compacts nothing (it has no earlier point); at 10:05 (etcd at
    900) it records 900 and compacts to 700, leaving 10:00–10:05 and after. A second apiserver
    that tries at 10:05:30 finds version 2, not the 1 it saw, and only learns (2, 930)."""
    won, version, revision = await store.claim_compaction(COMPACT_REV_KEY, last.version, last.revision)
    if not won:
        return Round(version, revision), 0
    if last.revision:
        await store.compact(last.revision)
    return Round(last.version + 1, revision), last.revision


async def run(store: Store, interval: float) -> None:
    """Compact every `interval` seconds until cancelled; an etcd failure skips a round."""
    last = Round()
    while True:
        await asyncio.sleep(interval)
        try:
            last, compacted = await compact_once(store, last)
        except StorageError as exc:
            log.warning("etcd compaction skipped this round: %s", exc)
            continue
        if compacted:
            log.info("etcd compacted to revision %d", compacted)
