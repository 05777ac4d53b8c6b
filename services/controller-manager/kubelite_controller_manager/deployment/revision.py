"""Pod-template hashes, revisions and the annotations a deployment keeps on its replica sets.

Pure functions after Kubernetes' controller.ComputeHash, deployment_util.go
(Revision, MaxRevision, SetNewReplicaSetAnnotations, EqualIgnoreHash) and
sync.go's getNewReplicaSet (the shape of a new replica set).
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from kubelite.api.apps_v1 import Deployment, LabelSelector, ReplicaSet, ReplicaSetSpec
from kubelite.api.core_v1 import PodTemplateSpec
from kubelite.api.meta import ObjectMeta, OwnerReference
from kubelite.reconcile.controller_ref import controller_ref as ref_to
from kubelite.reconcile.hashing import compute_hash

POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"  # set in the template by `rollout restart`
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"

# Deployment annotations that describe the deployment itself, never copied to its replica sets.
ANNOTATIONS_NOT_COPIED = frozenset({
    LAST_APPLIED_ANNOTATION,
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    "deprecated.deployment.rollback.to",
})

def pod_template_hash(template: PodTemplateSpec | None, collision_count: int | None = None) -> str:
    """ComputeHash of the template, salted with the collision count (kubelite.reconcile.hashing)."""
    return compute_hash(template, collision_count)


def template_without_hash(template: PodTemplateSpec | None) -> PodTemplateSpec | None:
    if template is None or template.metadata is None or not template.metadata.labels:
        return template
    if POD_TEMPLATE_HASH_LABEL not in template.metadata.labels:
        return template
    labels = {k: v for k, v in template.metadata.labels.items() if k != POD_TEMPLATE_HASH_LABEL}
    meta = msgspec.structs.replace(template.metadata, labels=labels or None)
    return msgspec.structs.replace(template, metadata=meta)


def _normalised(template: PodTemplateSpec | None) -> object:
    out = msgspec.to_builtins(template_without_hash(template)) if template is not None else None
    if isinstance(out, dict) and out.get("metadata") == {}:
        out.pop("metadata")
    return out


def equal_ignore_hash(a: PodTemplateSpec | None, b: PodTemplateSpec | None) -> bool:
    """EqualIgnoreHash: templates equal apart from the pod-template-hash label."""
    return _normalised(a) == _normalised(b)


def find_new_replica_set(d: Deployment, rss: Iterable[ReplicaSet]) -> ReplicaSet | None:
    """FindNewReplicaSet: the oldest replica set whose template equals the deployment's
    (oldest, so a duplicate made by a racing controller never becomes the new one)."""
    template = d.spec.template if d.spec else None
    ordered = sorted(rss, key=lambda rs: (rs.metadata.creationTimestamp or "", rs.metadata.name or ""))
    for rs in ordered:
        if equal_ignore_hash(rs.spec.template if rs.spec else None, template):
            return rs
    return None


def revision_of(obj: ReplicaSet | Deployment) -> int:
    """Revision: the revision annotation as a number (0 when absent or malformed)."""
    value = (obj.metadata.annotations or {}).get(REVISION_ANNOTATION)
    try:
        return int(value) if value else 0
    except ValueError:
        return 0


def max_revision(rss: Iterable[ReplicaSet]) -> int:
    return max((revision_of(rs) for rs in rss), default=0)


def copyable_annotations(d: Deployment) -> dict[str, str]:
    return {k: v for k, v in (d.metadata.annotations or {}).items() if k not in ANNOTATIONS_NOT_COPIED}


def new_replica_set_annotations(
    d: Deployment, rs_annotations: dict[str, str] | None, new_revision: int, *, set_replicas: bool,
    desired: int, max_replicas: int,
) -> dict[str, str]:
    """SetNewReplicaSetAnnotations: the deployment's own annotations copied over, the revision
    raised to `new_revision` (never lowered), and for a replica set being created the
    desired-/max-replicas annotations that proportional scaling reads later."""
    out = dict(rs_annotations or {})
    out.update(copyable_annotations(d))
    try:
        old_revision = int(out.get(REVISION_ANNOTATION, "0") or 0)
    except ValueError:
        old_revision = 0
    if old_revision < new_revision:
        out[REVISION_ANNOTATION] = str(new_revision)
    if set_replicas:
        out[DESIRED_REPLICAS_ANNOTATION] = str(desired)
        out[MAX_REPLICAS_ANNOTATION] = str(max_replicas)
    return out


def controller_ref(d: Deployment) -> OwnerReference:
    return ref_to(d, "apps/v1", "Deployment")


def selector_with_hash(selector: LabelSelector | None, hash_: str) -> LabelSelector:
    """CloneSelectorAndAddLabel: the deployment's selector plus pod-template-hash, so replica
    sets of different templates never select each other's pods."""
    base = selector or LabelSelector()
    labels = dict(base.matchLabels or {})
    labels[POD_TEMPLATE_HASH_LABEL] = hash_
    return msgspec.structs.replace(base, matchLabels=labels)


def template_with_hash(template: PodTemplateSpec | None, hash_: str) -> PodTemplateSpec:
    template = template or PodTemplateSpec()
    meta = template.metadata or ObjectMeta()
    labels = dict(meta.labels or {})
    labels[POD_TEMPLATE_HASH_LABEL] = hash_
    return msgspec.structs.replace(template, metadata=msgspec.structs.replace(meta, labels=labels))


def build_new_replica_set(d: Deployment, hash_: str, replicas: int, annotations: dict[str, str]) -> ReplicaSet:
    """The replica set getNewReplicaSet creates: named <deployment>-<hash>, owned by the
    deployment, its template and selector carrying pod-template-hash."""
    template = template_with_hash(d.spec.template if d.spec else None, hash_)
    labels = dict(template.metadata.labels or {}) if template.metadata else {}
    return ReplicaSet(
        apiVersion="apps/v1",
        kind="ReplicaSet",
        metadata=ObjectMeta(
            name=f"{d.metadata.name}-{hash_}",
            namespace=d.metadata.namespace,
            labels=labels,
            annotations=annotations or None,
            ownerReferences=[controller_ref(d)],
        ),
        spec=ReplicaSetSpec(
            replicas=replicas,
            minReadySeconds=d.spec.minReadySeconds if d.spec else None,
            selector=selector_with_hash(d.spec.selector if d.spec else None, hash_),
            template=template,
        ),
    )
