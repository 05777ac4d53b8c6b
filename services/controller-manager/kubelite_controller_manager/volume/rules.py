"""Binding claims to volumes (Kubernetes' pkg/controller/volume/persistentvolume), as pure rules.

A claim binds to the smallest Available volume of its class that offers every access mode it
asks for, at least the storage it requests, its selector's labels and (for a
WaitForFirstConsumer class) a node affinity that admits the node the scheduler chose.
Failing that, a class with kubelite's local-path provisioner makes a volume on that node.

Worked example: a claim for 1Gi RWO of class `fast` and volumes a (5Gi RWO fast), b (2Gi RWO
fast), c (2Gi ROX fast), d (1Gi RWO slow): b binds (a is bigger, c lacks RWO, d is slow).
"""

from __future__ import annotations

from typing import Any

from kubelite.api.core_v1 import (
    Node,
    NodeSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    ObjectReference,
    PersistentVolume,
    PersistentVolumeClaim,
    VolumeNodeAffinity,
)
from kubelite.api.labels import selector_from_label_selector
from kubelite.api.nodeaffinity import term_matches
from kubelite.api.quantity import Quantity, parse_quantity

HOSTNAME_LABEL = "kubernetes.io/hostname"


def _storage(amounts: dict[str, Any] | None) -> Quantity:
    raw = (amounts or {}).get("storage")
    return parse_quantity(raw) if raw is not None else Quantity(0)


def requested(claim: PersistentVolumeClaim) -> Quantity:
    spec = claim.spec
    return _storage(spec.resources.requests if spec and spec.resources else None)


def capacity(pv: PersistentVolume) -> Quantity:
    return _storage(pv.spec.capacity if pv.spec else None)


def class_of(obj: Any) -> str:
    return (obj.spec.storageClassName if obj.spec else None) or ""


def admits_node(pv: PersistentVolume, node: Node | None) -> bool:
    """The volume's required node affinity (terms ORed) admits `node` (None: no node to check)."""
    affinity = pv.spec.nodeAffinity if pv.spec else None
    terms = affinity.required.nodeSelectorTerms if affinity and affinity.required else None
    if node is None or not terms:
        return True
    return any(term_matches(t, node.metadata.labels or {}, node.metadata.name or "") for t in terms)


def matches(pv: PersistentVolume, claim: PersistentVolumeClaim, node: Node | None) -> bool:
    """Could `claim` bind to the Available volume `pv` (on `node`, for delayed binding)?"""
    spec, cspec = pv.spec, claim.spec
    if spec is None or cspec is None or spec.claimRef is not None or pv.metadata.deletionTimestamp is not None:
        return False
    if class_of(pv) != class_of(claim) or (spec.volumeMode or "Filesystem") != (cspec.volumeMode or "Filesystem"):
        return False
    if not set(cspec.accessModes or []) <= set(spec.accessModes or []):
        return False
    if capacity(pv) < requested(claim):
        return False
    if cspec.selector is not None and not selector_from_label_selector(cspec.selector).matches(
            pv.metadata.labels or {}):
        return False
    return admits_node(pv, node)


def best_match(pvs: list[PersistentVolume], claim: PersistentVolumeClaim, node: Node | None) -> PersistentVolume | None:
    """findBestMatchForClaim: the smallest matching volume (then by name, to be deterministic)."""
    fits = [pv for pv in pvs if matches(pv, claim, node)]
    return min(fits, key=lambda pv: (capacity(pv), pv.metadata.name or "")) if fits else None


def prebound_to(pvs: list[PersistentVolume], claim: PersistentVolumeClaim) -> PersistentVolume | None:
    """A volume whose claimRef already names this claim (pre-bound by a user or provisioner)."""
    for pv in pvs:
        ref = pv.spec.claimRef if pv.spec else None
        if ref is not None and (ref.namespace, ref.name) == (claim.metadata.namespace, claim.metadata.name) \
                and ref.uid in (None, "", claim.metadata.uid) and pv.metadata.deletionTimestamp is None:
            return pv
    return None


def claim_ref(claim: PersistentVolumeClaim) -> ObjectReference:
    return ObjectReference(kind="PersistentVolumeClaim", apiVersion="v1", namespace=claim.metadata.namespace,
                           name=claim.metadata.name, uid=claim.metadata.uid,
                           resourceVersion=claim.metadata.resourceVersion)


def volume_phase(pv: PersistentVolume, claim: PersistentVolumeClaim | None) -> str:
    """syncVolume: Available without a claim; Bound while its claim (same uid) exists; Released
    once that claim is gone. Example: claimRef uid u1 and a claim of that name with uid u2
    (deleted and made again): Released, the new claim does not inherit the data."""
    ref = pv.spec.claimRef if pv.spec else None
    if ref is None:
        return "Available"
    if claim is None or (ref.uid and ref.uid != claim.metadata.uid):
        return "Released"
    return "Bound" if (claim.spec and claim.spec.volumeName == pv.metadata.name) else "Pending"


def local_volume(claim: PersistentVolumeClaim, node: Node, root: str, sc: Any) -> PersistentVolume:
    """What the local-path provisioner makes for `claim` on `node`: `pvc-<claim uid>` under the
    node's local-path root, pinned to the node, pre-bound to the claim."""
    from kubelite.api.core_v1 import LocalVolumeSource, PersistentVolumeSpec
    from kubelite.api.meta import ObjectMeta
    from kubelite.api.storage_v1 import LOCAL_PATH_CLEANUP, LOCAL_PATH_PROVISIONER, PROVISIONED_BY

    name = f"pvc-{claim.metadata.uid}"
    hostname = (node.metadata.labels or {}).get(HOSTNAME_LABEL)
    term = NodeSelectorTerm(matchExpressions=[NodeSelectorRequirement(key=HOSTNAME_LABEL, operator="In",
                                                                      values=[hostname])]) if hostname else \
        NodeSelectorTerm(matchFields=[NodeSelectorRequirement(key="metadata.name", operator="In",
                                                              values=[node.metadata.name or ""])])
    policy = sc.reclaimPolicy or "Delete"
    spec = claim.spec
    assert spec is not None
    return PersistentVolume(
        apiVersion="v1", kind="PersistentVolume",
        metadata=ObjectMeta(name=name, annotations={PROVISIONED_BY: LOCAL_PATH_PROVISIONER},
                            finalizers=[LOCAL_PATH_CLEANUP] if policy == "Delete" else None),
        spec=PersistentVolumeSpec(
            capacity={"storage": str(requested(claim))}, accessModes=spec.accessModes,
            persistentVolumeReclaimPolicy=policy, storageClassName=sc.metadata.name, volumeMode="Filesystem",
            local=LocalVolumeSource(path=f"{root.rstrip('/')}/{name}_{claim.metadata.namespace}_{claim.metadata.name}"),
            nodeAffinity=VolumeNodeAffinity(required=NodeSelector(nodeSelectorTerms=[term])),
            claimRef=claim_ref(claim)))


def volume_node(pv: PersistentVolume) -> str | None:
    """The one node a local volume lives on (from its node affinity), if it names exactly one."""
    affinity = pv.spec.nodeAffinity if pv.spec else None
    terms = affinity.required.nodeSelectorTerms if affinity and affinity.required else []
    for term in terms or []:
        for req in [*(term.matchExpressions or []), *(term.matchFields or [])]:
            if req.key in (HOSTNAME_LABEL, "metadata.name") and req.operator == "In" and len(req.values or []) == 1:
                return (req.values or [""])[0]
    return None
