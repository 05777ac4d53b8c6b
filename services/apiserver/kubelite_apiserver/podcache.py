"""The apiserver's cache of pods: one etcd watch, LISTs at `resourceVersion=0` from memory.

Why: every node agent's pod informer lists `pods?fieldSelector=spec.nodeName=<node>` when it
starts and at every resync (it is also fed by bus events, which may be lost). From etcd, each
such LIST reads and decodes every pod of the cluster to keep one node's: at 5,000 nodes and
150,000 pods, a minute's resyncs would decode 750 million pods. Kubernetes' answer is the
apiserver's watch cache (staging/src/k8s.io/apiserver/pkg/storage/cacher); this is that cache
for the one resource where it matters, indexed by node.

Semantics are Kubernetes': a LIST with `resourceVersion=0` ("any version is fine") is served
from the cache; `resourceVersion` unset (the most recent), `Exact`, or a `continue` token still
read etcd. Like Kubernetes' cacher, `limit` is ignored at rv 0 (the whole list comes back, no
continue token). Though rv 0 allows any version, the cache first catches up with etcd's
current revision (Informer.wait_fresh: a watch progress request, as Kubernetes' consistent
reads from cache do), so a component that subscribes to change events and then lists misses
nothing in between. If that takes over FRESH_TIMEOUT (an overloaded apiserver), the LIST is
served as the cache has it, as Kubernetes serves rv 0 (its resync heals a gap) — falling back
to etcd there turned overload into collapse: each node's relist became a scan of every pod.
Until the cache has synced, LISTs read etcd. The same copy starts pod updates
(Registry.read_for_update): a compare-and-swap on its revision saves reading the pod from etcd
first, and a stale copy costs one failed swap and a fresh read.

Example: node n7's agent relists at rv 0 with fieldSelector spec.nodeName=n7: the answer is the
30 pods of the node index for n7, encoded from memory, with the cache's revision — not a scan
of 150,000 pods.
"""

from __future__ import annotations

from typing import Any

import msgspec

from kubelite import codec
from kubelite.api.core_v1 import PODS
from kubelite.reconcile.cache import INDEX_NODE
from kubelite.reconcile.informer import Informer
from kubelite.storage import KV
from kubelite_apiserver.metrics import CACHE_LISTS, CACHE_STALE_LISTS
from kubelite_apiserver.params import ListOptions
from kubelite_apiserver.registry import ListResult, matches

NODE_FIELD = "spec.nodeName"
FRESH_TIMEOUT = 0.5  # seconds a LIST waits for the cache to catch up (then it is served as it is)


def served_from_cache(opts: ListOptions) -> bool:
    """Whether Kubernetes' cacher answers this LIST from memory (rv 0, not Exact, no continue)."""
    return (opts.resource_version == "0" and opts.resource_version_match in ("", "NotOlderThan")
            and not opts.continue_token)


class PodCache:
    def __init__(self, store: Any) -> None:
        self.informer = Informer(store, PODS)  # keeps a node index (spec.nodeName)

    def start(self) -> None:
        self.informer.start()

    async def stop(self) -> None:
        await self.informer.stop()

    def current(self, key: str, namespace: str, name: str) -> KV | None:
        """The pod as the cache has it, as etcd would return it (value without resourceVersion,
        the revision beside it), for the read of an update (Registry.read_for_update); None if
        the cache has not synced or does not have it (then etcd is read)."""
        if not self.informer.has_synced:
            return None
        pod = self.informer.get(namespace, name)
        if pod is None or not pod.metadata.resourceVersion:
            return None
        stored = msgspec.structs.replace(pod, metadata=msgspec.structs.replace(pod.metadata, resourceVersion=None))
        return KV(key, codec.encode(stored), int(pod.metadata.resourceVersion), 0)

    async def list(self, namespace: str, opts: ListOptions, label_sel: Any, field_sel: Any) -> ListResult | None:
        """The pods of `namespace` ("" all) the selectors match, encoded; None: read etcd."""
        if not served_from_cache(opts) or not self.informer.has_synced:
            return None
        if not await self.informer.wait_fresh(FRESH_TIMEOUT):
            CACHE_STALE_LISTS.inc()  # rv 0 allows it; etcd would be slower still (a scan per node)
        node = field_sel.requires_exact_match(NODE_FIELD) if field_sel is not None else None
        revision = self.informer.revision  # no await below: the items are exactly at this revision
        candidates = self.informer.by_index(INDEX_NODE, node) if node else self.informer.list(namespace or None)
        items = [codec.encode(obj) for obj in candidates
                 if (not namespace or obj.metadata.namespace == namespace) and matches(obj, label_sel, field_sel)]
        CACHE_LISTS.labels("/pods", NODE_FIELD if node else "").inc()
        return ListResult(items, revision, "")
