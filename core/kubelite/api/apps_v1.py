"""apps/v1 kinds: ReplicaSet, Deployment; plus autoscaling/v1 Scale for their scale subresource.

Field names follow k8s.io/api/apps/v1/types.go. As in core_v1, every field is
optional so validation, not decoding, reports missing required values.
"""

from kubelite.api.base import IntOrString, Model
from kubelite.api.core_v1 import (
    LABEL_SELECTOR,
    LabelSelector,
    LabelSelectorRequirement,
    PodTemplateSpec,
)
from kubelite.api.meta import Object
from kubelite.api.scheme import ResourceInfo, register

__all__ = [
    "LABEL_SELECTOR",
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
    "RollingUpdateDeployment",
    "Scale",
    "ScaleSpec",
    "ScaleStatus",
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
