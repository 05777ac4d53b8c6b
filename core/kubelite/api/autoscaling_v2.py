"""autoscaling/v2 HorizontalPodAutoscaler. Field names follow k8s.io/api/autoscaling/v2/types.go;
every field is optional so validation, not decoding, reports what is missing."""

from kubelite.api.base import Model, QuantityValue
from kubelite.api.core_v1 import LabelSelector
from kubelite.api.meta import Object
from kubelite.api.scheme import ResourceInfo, register


class CrossVersionObjectReference(Model):
    kind: str | None = None
    name: str | None = None
    apiVersion: str | None = None


class MetricTarget(Model):
    type: str | None = None  # Utilization | Value | AverageValue
    value: QuantityValue | None = None
    averageValue: QuantityValue | None = None
    averageUtilization: int | None = None


class ResourceMetricSource(Model):
    name: str | None = None  # cpu | memory
    target: MetricTarget | None = None


class MetricIdentifier(Model):
    name: str | None = None
    selector: LabelSelector | None = None


class MetricSpec(Model):
    type: str | None = None  # Resource (kubelite); Pods | Object | External | ContainerResource are refused
    resource: ResourceMetricSource | None = None
    containerResource: dict | None = None
    pods: dict | None = None
    object: dict | None = None
    external: dict | None = None


class HPAScalingPolicy(Model):
    type: str | None = None  # Pods | Percent
    value: int | None = None
    periodSeconds: int | None = None


class HPAScalingRules(Model):
    stabilizationWindowSeconds: int | None = None
    selectPolicy: str | None = None  # Max | Min | Disabled
    policies: list[HPAScalingPolicy] | None = None
    tolerance: QuantityValue | None = None  # alpha in Kubernetes: refused


class HorizontalPodAutoscalerBehavior(Model):
    scaleUp: HPAScalingRules | None = None
    scaleDown: HPAScalingRules | None = None


class HorizontalPodAutoscalerSpec(Model):
    scaleTargetRef: CrossVersionObjectReference | None = None
    minReplicas: int | None = None
    maxReplicas: int | None = None
    metrics: list[MetricSpec] | None = None
    behavior: HorizontalPodAutoscalerBehavior | None = None


class MetricValueStatus(Model):
    value: QuantityValue | None = None
    averageValue: QuantityValue | None = None
    averageUtilization: int | None = None


class ResourceMetricStatus(Model):
    name: str | None = None
    current: MetricValueStatus | None = None


class MetricStatus(Model):
    type: str | None = None
    resource: ResourceMetricStatus | None = None


class HorizontalPodAutoscalerCondition(Model):
    type: str | None = None  # AbleToScale | ScalingActive | ScalingLimited
    status: str | None = None
    lastTransitionTime: str | None = None
    reason: str | None = None
    message: str | None = None


class HorizontalPodAutoscalerStatus(Model):
    observedGeneration: int | None = None
    lastScaleTime: str | None = None
    currentReplicas: int | None = None
    desiredReplicas: int | None = None
    currentMetrics: list[MetricStatus] | None = None
    conditions: list[HorizontalPodAutoscalerCondition] | None = None


class HorizontalPodAutoscaler(Object):
    spec: HorizontalPodAutoscalerSpec | None = None
    status: HorizontalPodAutoscalerStatus | None = None


HORIZONTALPODAUTOSCALERS = register(ResourceInfo(
    group="autoscaling", version="v2", kind="HorizontalPodAutoscaler", plural="horizontalpodautoscalers",
    singular="horizontalpodautoscaler", namespaced=True, type=HorizontalPodAutoscaler, short_names=("hpa",),
    subresources=("status",), categories=("all",),
))
