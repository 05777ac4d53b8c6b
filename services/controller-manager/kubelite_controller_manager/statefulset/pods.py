"""A StatefulSet's pods and claims: stable names, DNS identity, per-ordinal claims (pure)."""

from __future__ import annotations

from typing import Any

import msgspec

from kubelite.api.apps_v1 import (
    CONTROLLER_REVISION_HASH_LABEL,
    POD_INDEX_LABEL,
    STATEFULSET_POD_NAME_LABEL,
    ControllerRevision,
    StatefulSet,
)
from kubelite.api.core_v1 import (
    PersistentVolumeClaim,
    PersistentVolumeClaimVolumeSource,
    Pod,
    PodTemplateSpec,
    Volume,
)
from kubelite.api.meta import ObjectMeta, OwnerReference
from kubelite.reconcile.controller_ref import controller_ref


def template_of(rev: ControllerRevision) -> PodTemplateSpec:
    """The pod template a revision restores (its patch without the `$patch` directive)."""
    data = msgspec.to_builtins(rev.data) or {}
    raw = {k: v for k, v in ((data.get("spec") or {}).get("template") or {}).items() if k != "$patch"}
    return msgspec.convert(raw, PodTemplateSpec)


def claim_name(template: str, set_name: str, ordinal: int) -> str:
    """`<claim template>-<set>-<ordinal>`: www-web-0."""
    return f"{template}-{set_name}-{ordinal}"


def pod_for(sts: StatefulSet, ordinal: int, template: PodTemplateSpec, revision: str) -> Pod:
    """newVersionedStatefulSetPod: `<set>-<ordinal>` with hostname and subdomain (the headless
    Service gives it `<pod>.<service>.<ns>.svc`), the pod-name and pod-index labels, the
    revision label, and each claim template mounted as its own claim."""
    spec = sts.spec
    assert spec is not None and template.spec is not None
    name = f"{sts.metadata.name}-{ordinal}"
    tmeta = template.metadata or ObjectMeta()
    labels = {**(tmeta.labels or {}), CONTROLLER_REVISION_HASH_LABEL: revision,
              STATEFULSET_POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal)}
    claims = {t.metadata.name or "": claim_name(t.metadata.name or "", sts.metadata.name or "", ordinal)
              for t in spec.volumeClaimTemplates or [] if t.metadata}
    volumes = [v for v in template.spec.volumes or [] if v.name not in claims]
    volumes += [Volume(name=t, persistentVolumeClaim=PersistentVolumeClaimVolumeSource(claimName=c))
                for t, c in claims.items()]
    pod_spec = msgspec.structs.replace(template.spec, hostname=name, subdomain=spec.serviceName,
                                       volumes=volumes or None)
    return Pod(apiVersion="v1", kind="Pod", spec=pod_spec, metadata=ObjectMeta(
        name=name, namespace=sts.metadata.namespace, labels=labels,
        annotations=dict(tmeta.annotations or {}) or None, finalizers=tmeta.finalizers,
        ownerReferences=[controller_ref(sts, "apps/v1", "StatefulSet")]))


def set_owner(sts: StatefulSet) -> OwnerReference:
    """A claim's reference to its set (whenDeleted: Delete): not a controller reference."""
    return msgspec.structs.replace(controller_ref(sts, "apps/v1", "StatefulSet"), controller=None,
                                   blockOwnerDeletion=None)


def claims_for(sts: StatefulSet, ordinal: int) -> list[PersistentVolumeClaim]:
    """getPersistentVolumeClaims: one claim per template, labelled with the template's labels and
    the set's matchLabels; owned by the set when whenDeleted is Delete."""
    spec = sts.spec
    assert spec is not None
    policy = spec.persistentVolumeClaimRetentionPolicy
    owners = [set_owner(sts)] if policy is not None and policy.whenDeleted == "Delete" else None
    match = (spec.selector.matchLabels if spec.selector else None) or {}
    out = []
    for t in spec.volumeClaimTemplates or []:
        meta = t.metadata or ObjectMeta()
        out.append(PersistentVolumeClaim(apiVersion="v1", kind="PersistentVolumeClaim", spec=t.spec, metadata=ObjectMeta(
            name=claim_name(meta.name or "", sts.metadata.name or "", ordinal), namespace=sts.metadata.namespace,
            labels={**(meta.labels or {}), **match} or None, annotations=meta.annotations,
            ownerReferences=owners)))
    return out


def pod_owner(pod: Pod) -> dict[str, Any]:
    """A claim's reference to its pod (whenScaled: Delete on a condemned ordinal)."""
    return {"apiVersion": "v1", "kind": "Pod", "name": pod.metadata.name, "uid": pod.metadata.uid}
