"""The scheduler's VolumeBinding plugin, as a pure plan per pod.

For each claim a pod mounts: a missing or deleting claim makes the pod unschedulable; a bound
claim's volume node affinity becomes a condition on the node (a local volume pins the pod to
its node); an unbound claim of an Immediate class waits for the binder; an unbound claim of a
WaitForFirstConsumer class is the scheduler's to place: the pod's node is written on the
claim (`volume.kubernetes.io/selected-node`), the provisioner makes a volume there, and the
pod binds once the claim is bound.

Example: pod web-0 mounts www-web-0 (class local-path, WaitForFirstConsumer, unbound). The
first attempt picks n2 and annotates the claim; the volume made on n2 binds; the second
attempt finds the claim bound to a volume pinned to n2, so only n2 passes, and the pod binds
there. Deleted and recreated later, web-0 goes back to n2, where its data is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubelite.api.core_v1 import NodeSelectorRequirement, NodeSelectorTerm, Pod
from kubelite.api.podrefs import referenced_claims
from kubelite.api.storage_v1 import SELECTED_NODE, WAIT_FOR_FIRST_CONSUMER

UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"


@dataclass
class VolumePlan:
    error: str = ""  # the pod cannot be scheduled now (the FailedScheduling message)
    waiting: bool = False  # a claim was given a node and is not bound yet: try again when it is
    terms: list[tuple[Any, ...]] = field(default_factory=list)  # each: NodeSelectorTerms ORed; all must hold
    to_select: list[Any] = field(default_factory=list)  # unbound WaitForFirstConsumer claims to place


def _pin(node: str) -> tuple[Any, ...]:
    return (NodeSelectorTerm(matchFields=[NodeSelectorRequirement(key="metadata.name", operator="In",
                                                                  values=[node])]),)


def plan_volumes(pod: Pod, get_claim: Callable[[str, str], Any], get_volume: Callable[[str], Any],
                 get_class: Callable[[str], Any]) -> VolumePlan:
    plan = VolumePlan()
    namespace = pod.metadata.namespace or "default"
    for name in sorted(referenced_claims(pod)):
        claim = get_claim(namespace, name)
        if claim is None:
            return VolumePlan(error=f'persistentvolumeclaim "{name}" not found')
        if claim.metadata.deletionTimestamp is not None:
            return VolumePlan(error=f'persistentvolumeclaim "{name}" is being deleted')
        volume_name = claim.spec.volumeName if claim.spec else None
        if volume_name:
            pv = get_volume(volume_name)
            if pv is None:
                return VolumePlan(error=f'persistentvolume "{volume_name}" not found')
            affinity = pv.spec.nodeAffinity if pv.spec else None
            terms = affinity.required.nodeSelectorTerms if affinity and affinity.required else None
            if terms:
                plan.terms.append(tuple(terms))
            continue
        sc = get_class(claim.spec.storageClassName or "") if claim.spec and claim.spec.storageClassName else None
        if sc is None or sc.volumeBindingMode != WAIT_FOR_FIRST_CONSUMER:
            return VolumePlan(error=UNBOUND_IMMEDIATE)
        selected = (claim.metadata.annotations or {}).get(SELECTED_NODE)
        if selected:
            plan.terms.append(_pin(selected))
            plan.waiting = True
        else:
            plan.to_select.append(claim)
    return plan
