"""What the apiserver's pod cache keeps of a pod: its JSON as a LIST returns it, and the few
fields that selectors, the node index and the node authorizer read.

Why not the decoded pod: a decoded, interned pod is about 5 KB of Python objects and every
LIST from the cache encoded it again; its JSON is about 2.5 KB, and kept as bytes a LIST is a
join. The JSON is kept deflated as etcd keeps it (`kubelite.storage.compression`, ≈ 300 bytes
for a running pod): a LIST of 150,000 pods inflates each (4 µs, ≈ 0.6 s in all) and the cache
holds ≈ 330 MB less. The record is made once per change the cache receives (one encode and one
pack, ≈ 25 µs) and answers everything the cache is asked:

- `raw()`: the pod's JSON with its resourceVersion (LIST items), from `packed`;
- `stored()`: the same without it, byte for byte what etcd holds (an update's starting point);
- `metadata`/`spec`/`status`: names, uid, labels and the pod fields Kubernetes lets a field
  selector name (`kubelite.api.fields.fields_of` reads them as it reads a Pod), and what the
  informer itself reads (its relist tells changed and re-created pods apart by
  resourceVersion and uid, `reconcile.cache.diff`);
- `refs`: what a node running the pod may read (`noderestriction.pod_refs`).

Example: pod shop/web-1 at revision 812, bound to n3, Running, labels {app: web}, mounting
ConfigMap cfg: raw() = b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1",
"namespace":"shop",...,"resourceVersion":"812",...}...}'; metadata = (web-1, shop, "812",
{app: web}); spec.nodeName = "n3"; status.phase = "Running"; refs = {(shop, configmaps, cfg),
...}; stored() is raw() without `,"resourceVersion":"812"`.
"""

from __future__ import annotations

import sys

import msgspec

from kubelite import codec
from kubelite.api.core_v1 import Pod, PodSpec, PodStatus
from kubelite.storage.compression import pack, unpack
from kubelite_apiserver.noderestriction import Ref, pod_refs
from kubelite_apiserver.ownwrites import stored_form

INTERN_MAX = 64  # label keys and values are mostly shared between pods; longer ones rarely


class RecordMeta(msgspec.Struct, gc=False):
    name: str
    namespace: str
    resourceVersion: str
    uid: str | None = None  # a relist tells a pod re-created under the same name by it (cache.diff)
    labels: dict[str, str] | None = None


class RecordSpec(msgspec.Struct, gc=False):
    nodeName: str | None = None
    restartPolicy: str | None = None
    schedulerName: str | None = None
    serviceAccountName: str | None = None
    hostNetwork: bool | None = None


class RecordStatus(msgspec.Struct, gc=False):
    phase: str | None = None
    podIP: str | None = None  # status.podIPs[0], else status.podIP, as fields_of reads a Pod
    nominatedNodeName: str | None = None


class PodRecord(msgspec.Struct, gc=False):
    metadata: RecordMeta
    spec: RecordSpec
    status: RecordStatus
    packed: bytes  # compression.pack of the pod's JSON with its resourceVersion
    refs: frozenset[Ref]
    kind: str = "Pod"

    def raw(self) -> bytes:
        """The pod's JSON, with its resourceVersion (a LIST item)."""
        return unpack(self.packed)

    def stored(self) -> bytes | None:
        """The pod as etcd stores it (no resourceVersion), or None if `raw()` does not hold the
        resourceVersion where the encoder puts it (then the caller reads etcd)."""
        return stored_form(self.raw(), self.metadata.resourceVersion)


class WrittenPod(msgspec.Struct, gc=False):
    """A pod this apiserver has just written, as the pod cache answers for it until its watch
    brings it (ownwrites.py): what an update and a token request read of a record, without
    the record's deflate (the JSON is the one already encoded to publish the write)."""

    metadata: RecordMeta
    spec: RecordSpec
    encoded: bytes  # the pod's JSON with its resourceVersion

    def raw(self) -> bytes:
        return self.encoded

    def stored(self) -> bytes | None:
        return stored_form(self.encoded, self.metadata.resourceVersion)


def written_pod(pod: Pod, encoded: bytes) -> WrittenPod:
    """`pod` (its resourceVersion set) as just written, `encoded` its JSON."""
    meta = pod.metadata
    return WrittenPod(metadata=RecordMeta(name=meta.name or "", namespace=meta.namespace or "",
                                          resourceVersion=meta.resourceVersion or "", uid=meta.uid),
                      spec=_spec(pod.spec), encoded=encoded)


def _intern(value: str | None) -> str | None:
    return sys.intern(value) if value is not None and len(value) <= INTERN_MAX else value


def record_of(pod: Pod) -> PodRecord:
    """The record of a decoded pod that has its resourceVersion set (the informer sets it)."""
    meta = pod.metadata
    labels = {_intern(k): _intern(v) for k, v in meta.labels.items()} if meta.labels else None
    return PodRecord(
        metadata=RecordMeta(name=meta.name or "", namespace=_intern(meta.namespace) or "",
                            resourceVersion=meta.resourceVersion or "", uid=meta.uid, labels=labels),
        spec=_spec(pod.spec), status=_status(pod.status), packed=pack(codec.encode_to_keep(pod)), refs=pod_refs(pod))


def _spec(spec: PodSpec | None) -> RecordSpec:
    if spec is None:
        return RecordSpec()
    return RecordSpec(nodeName=_intern(spec.nodeName), restartPolicy=_intern(spec.restartPolicy),
                      schedulerName=_intern(spec.schedulerName),
                      serviceAccountName=_intern(spec.serviceAccountName), hostNetwork=spec.hostNetwork)


def _status(status: PodStatus | None) -> RecordStatus:
    if status is None:
        return RecordStatus()
    return RecordStatus(phase=_intern(status.phase), nominatedNodeName=_intern(status.nominatedNodeName),
                        podIP=status.podIPs[0].ip if status.podIPs else status.podIP)


def cached_refs(record: PodRecord) -> frozenset[Ref]:
    """A record's refs, computed when it was made (NodeReferences' `refs_of` for the pod cache)."""
    return record.refs
