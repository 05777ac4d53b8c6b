"""metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics: the resource metrics API that `kubectl top`
and the HorizontalPodAutoscaler read (k8s.io/metrics/pkg/apis/metrics/v1beta1). Served from
memory by the apiserver (never stored), fed by the node agents over the bus
(kubelite.bus.metrics)."""

from kubelite.api.base import Model
from kubelite.api.meta import Object
from kubelite.api.scheme import ResourceInfo, register

GROUP = "metrics.k8s.io"
VIRTUAL_METRICS = {"metrics": True}  # answered from memory (kubelite_apiserver.metricsapi), never stored


class NodeMetrics(Object):
    timestamp: str | None = None
    window: str | None = None  # a duration: "15s"
    usage: dict[str, str] | None = None  # cpu: "250000000n", memory: "1024Ki"


class ContainerMetrics(Model):
    name: str | None = None
    usage: dict[str, str] | None = None


class PodMetrics(Object):
    timestamp: str | None = None
    window: str | None = None
    containers: list[ContainerMetrics] | None = None


NODE_METRICS = register(ResourceInfo(
    group=GROUP, version="v1beta1", kind="NodeMetrics", plural="nodes", singular="",
    namespaced=False, type=NodeMetrics, verbs=("get", "list"), has_spec=False, extra=VIRTUAL_METRICS,
))
POD_METRICS = register(ResourceInfo(
    group=GROUP, version="v1beta1", kind="PodMetrics", plural="pods", singular="",
    namespaced=True, type=PodMetrics, verbs=("get", "list"), has_spec=False, extra=VIRTUAL_METRICS,
))
