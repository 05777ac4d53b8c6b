"""apps/v1 kinds: ReplicaSet, Deployment, DaemonSet, StatefulSet, ControllerRevision; plus
autoscaling/v1 Scale for the scale subresource.

Field names follow k8s.io/api/apps/v1/types.go. As in core_v1, every field is
optional so validation, not decoding, reports missing required values.
"""

from typing import Any

from kubelite.api.base import IntOrString, Model
from kubelite.api.core_v1 import (
    LABEL_SELECTOR,
    LabelSelector,
    LabelSelectorRequirement,
    PersistentVolumeClaim,
    PodTemplateSpec,
)
from kubelite.api.meta import Object
from kubelite.api.scheme import ResourceInfo, register

__all__ = [
    "LABEL_SELECTOR",
    "ControllerRevision",
    "DaemonSet",
    "DaemonSetSpec",
    "DaemonSetStatus",
    "DaemonSetUpdateStrategy",
    "Deployment",
    "DeploymentCondition",
    "DeploymentSpec",
    "DeploymentStatus",
    "DeploymentStrategy",
    "LabelSelector",
    "LabelSelectorRequirement",
    "ReplicaSet",
    "ReplicaSetCondition",
    "ReplicaSetSpec",
    "ReplicaSetStatus",
    "RollingUpdateDaemonSet",
    "RollingUpdateDeployment",
    "RollingUpdateStatefulSetStrategy",
    "Scale",
    "ScaleSpec",
    "ScaleStatus",
    "StatefulSet",
    "StatefulSetSpec",
    "StatefulSetStatus",
    "StatefulSetUpdateStrategy",
]

# --------------------------------------------------------------------------
# ReplicaSet
# --------------------------------------------------------------------------


class ReplicaSetSpec(Model):
    replicas: int | None = None  # defaulted to 1
    minReadySeconds: int | None = None
    selector: LabelSelector | None = None
    template: PodTemplateSpec | None = None


class ReplicaSetCondition(Model):
    type: str | None = None  # ReplicaFailure
    status: str | None = None
    lastTransitionTime: str | None = None
    reason: str | None = None
    message: str | None = None


class ReplicaSetStatus(Model):
    replicas: int | None = None
    fullyLabeledReplicas: int | None = None
    readyReplicas: int | None = None
    availableReplicas: int | None = None
    terminatingReplicas: int | None = None
    observedGeneration: int | None = None
    conditions: list[ReplicaSetCondition] | None = None


class ReplicaSet(Object):
    spec: ReplicaSetSpec | None = None
    status: ReplicaSetStatus | None = None


# --------------------------------------------------------------------------
# Deployment
# --------------------------------------------------------------------------


class RollingUpdateDeployment(Model):
    maxUnavailable: IntOrString | None = None  # defaulted to "25%"
    maxSurge: IntOrString | None = None  # defaulted to "25%"


class DeploymentStrategy(Model):
    type: str | None = None  # RollingUpdate | Recreate
    rollingUpdate: RollingUpdateDeployment | None = None


class DeploymentSpec(Model):
    replicas: int | None = None  # defaulted to 1
    selector: LabelSelector | None = None
    template: PodTemplateSpec | None = None
    strategy: DeploymentStrategy | None = None
    minReadySeconds: int | None = None
    revisionHistoryLimit: int | None = None  # defaulted to 10
    paused: bool | None = None
    progressDeadlineSeconds: int | None = None  # defaulted to 600


class DeploymentCondition(Model):
    type: str | None = None  # Available | Progressing | ReplicaFailure
    status: str | None = None
    lastUpdateTime: str | None = None
    lastTransitionTime: str | None = None
    reason: str | None = None
    message: str | None = None


class DeploymentStatus(Model):
    observedGeneration: int | None = None
    replicas: int | None = None
    updatedReplicas: int | None = None
    readyReplicas: int | None = None
    availableReplicas: int | None = None
    unavailableReplicas: int | None = None
    terminatingReplicas: int | None = None
    conditions: list[DeploymentCondition] | None = None
    collisionCount: int | None = None


class Deployment(Object):
    spec: DeploymentSpec | None = None
    status: DeploymentStatus | None = None


# --------------------------------------------------------------------------
# ControllerRevision: an immutable snapshot of a DaemonSet's or StatefulSet's template
# --------------------------------------------------------------------------

CONTROLLER_REVISION_HASH_LABEL = "controller-revision-hash"  # on pods and revisions


class ControllerRevision(Object):
    data: Any = None  # the patch that restores the template: {"spec": {"template": {..., "$patch": "replace"}}}
    revision: int | None = None


# --------------------------------------------------------------------------
# DaemonSet
# --------------------------------------------------------------------------

DAEMONSET_TEMPLATE_GENERATION_LABEL = "pod-template-generation"


class RollingUpdateDaemonSet(Model):
    maxUnavailable: IntOrString | None = None  # defaulted to 1
    maxSurge: IntOrString | None = None  # defaulted to 0


class DaemonSetUpdateStrategy(Model):
    type: str | None = None  # RollingUpdate | OnDelete
    rollingUpdate: RollingUpdateDaemonSet | None = None


class DaemonSetSpec(Model):
    selector: LabelSelector | None = None
    template: PodTemplateSpec | None = None
    updateStrategy: DaemonSetUpdateStrategy | None = None
    minReadySeconds: int | None = None
    revisionHistoryLimit: int | None = None  # defaulted to 10
    templateGeneration: int | None = None  # extensions/v1beta1 only; never set here


class DaemonSetCondition(Model):
    type: str | None = None
    status: str | None = None
    lastTransitionTime: str | None = None
    reason: str | None = None
    message: str | None = None


class DaemonSetStatus(Model):
    currentNumberScheduled: int | None = None
    numberMisscheduled: int | None = None
    desiredNumberScheduled: int | None = None
    numberReady: int | None = None
    observedGeneration: int | None = None
    updatedNumberScheduled: int | None = None
    numberAvailable: int | None = None
    numberUnavailable: int | None = None
    collisionCount: int | None = None
    conditions: list[DaemonSetCondition] | None = None


class DaemonSet(Object):
    spec: DaemonSetSpec | None = None
    status: DaemonSetStatus | None = None


# --------------------------------------------------------------------------
# StatefulSet
# --------------------------------------------------------------------------

STATEFULSET_POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


class RollingUpdateStatefulSetStrategy(Model):
    partition: int | None = None  # defaulted to 0
    maxUnavailable: IntOrString | None = None  # alpha in Kubernetes: refused by validation


class StatefulSetUpdateStrategy(Model):
    type: str | None = None  # RollingUpdate | OnDelete
    rollingUpdate: RollingUpdateStatefulSetStrategy | None = None


class StatefulSetPersistentVolumeClaimRetentionPolicy(Model):
    whenDeleted: str | None = None  # Retain | Delete
    whenScaled: str | None = None


class StatefulSetOrdinals(Model):
    start: int | None = None


class StatefulSetSpec(Model):
    replicas: int | None = None  # defaulted to 1
    selector: LabelSelector | None = None
    template: PodTemplateSpec | None = None
    volumeClaimTemplates: list[PersistentVolumeClaim] | None = None
    serviceName: str | None = None
    podManagementPolicy: str | None = None  # OrderedReady | Parallel
    updateStrategy: StatefulSetUpdateStrategy | None = None
    revisionHistoryLimit: int | None = None  # defaulted to 10
    minReadySeconds: int | None = None
    persistentVolumeClaimRetentionPolicy: StatefulSetPersistentVolumeClaimRetentionPolicy | None = None
    ordinals: StatefulSetOrdinals | None = None


class StatefulSetCondition(Model):
    type: str | None = None
    status: str | None = None
    lastTransitionTime: str | None = None
    reason: str | None = None
    message: str | None = None


class StatefulSetStatus(Model):
    observedGeneration: int | None = None
    replicas: int | None = None
    readyReplicas: int | None = None
    currentReplicas: int | None = None
    updatedReplicas: int | None = None
    currentRevision: str | None = None
    updateRevision: str | None = None
    collisionCount: int | None = None
    conditions: list[StatefulSetCondition] | None = None
    availableReplicas: int | None = None


class StatefulSet(Object):
    spec: StatefulSetSpec | None = None
    status: StatefulSetStatus | None = None


# --------------------------------------------------------------------------
# autoscaling/v1 Scale: the body of deployments/scale and replicasets/scale.
# Not a resource of its own, so it is not registered in the scheme.
# --------------------------------------------------------------------------

SCALE_API_VERSION = "autoscaling/v1"


class ScaleSpec(Model):
    replicas: int | None = None


class ScaleStatus(Model):
    replicas: int | None = None
    selector: str | None = None  # label selector in string form, e.g. "app=nginx"


class Scale(Object):
    spec: ScaleSpec | None = None
    status: ScaleStatus | None = None


# --------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------

DEPLOYMENTS = register(ResourceInfo(
    group="apps", version="v1", kind="Deployment", plural="deployments", singular="deployment",
    namespaced=True, type=Deployment, short_names=("deploy",),
    subresources=("status", "scale"), categories=("all",),
))
REPLICASETS = register(ResourceInfo(
    group="apps", version="v1", kind="ReplicaSet", plural="replicasets", singular="replicaset",
    namespaced=True, type=ReplicaSet, short_names=("rs",),
    subresources=("status", "scale"), categories=("all",),
))
DAEMONSETS = register(ResourceInfo(
    group="apps", version="v1", kind="DaemonSet", plural="daemonsets", singular="daemonset",
    namespaced=True, type=DaemonSet, short_names=("ds",), subresources=("status",), categories=("all",),
))
STATEFULSETS = register(ResourceInfo(
    group="apps", version="v1", kind="StatefulSet", plural="statefulsets", singular="statefulset",
    namespaced=True, type=StatefulSet, short_names=("sts",), subresources=("status", "scale"), categories=("all",),
))
CONTROLLERREVISIONS = register(ResourceInfo(
    group="apps", version="v1", kind="ControllerRevision", plural="controllerrevisions",
    singular="controllerrevision", namespaced=True, type=ControllerRevision,
))
