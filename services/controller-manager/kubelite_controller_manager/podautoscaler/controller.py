"""The HorizontalPodAutoscaler controller (Kubernetes' pkg/controller/podautoscaler).

Keyed by HPA; every HPA is looked at each sync period (15 s, --horizontal-pod-autoscaler-sync-
period). One sync: read the target's scale (Deployment, ReplicaSet or StatefulSet: spec and
status replicas, selector), its pods and their metrics.k8s.io PodMetrics; each Resource metric
proposes a replica count (`replicas.desired_replicas`), the largest wins; `behavior`
stabilizes and rate-limits it and the min/max bound it; the target's replicas are patched
when they change (event SuccessfulRescale), and status and the AbleToScale / ScalingActive /
ScalingLimited conditions written. Recommendations and scale events live in memory, as in
Kubernetes (a restarted controller starts a fresh stabilization window).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from kubelite.api.autoscaling_v2 import (
    HORIZONTALPODAUTOSCALERS,
    HorizontalPodAutoscaler,
    HorizontalPodAutoscalerCondition,
    HorizontalPodAutoscalerStatus,
    MetricStatus,
    MetricValueStatus,
    ResourceMetricStatus,
)
from kubelite.api.core_v1 import PODS
from kubelite.api.labels import Selector, parse_selector, selector_from_label_selector
from kubelite.api.metrics_v1beta1 import POD_METRICS
from kubelite.api.scheme import by_kind
from kubelite.errors import APIError
from kubelite.reconcile.cache import INDEX_NAMESPACE, split_key
from kubelite.reconcile.controller import Controller
from kubelite.reconcile.writes import typed, write_status
from kubelite.timefmt import rfc3339
from kubelite_controller_manager.podautoscaler import behavior
from kubelite_controller_manager.podautoscaler.replicas import Proposal, desired_replicas
from kubelite_controller_manager.podautoscaler.samples import amount, now_utc, sample

if TYPE_CHECKING:
    from kubelite_controller_manager.app import ControllerContext

log = logging.getLogger(__name__)

CONTROLLER_NAME = "horizontal-pod-autoscaler"
SCALABLE = ("Deployment", "ReplicaSet", "StatefulSet")


class HorizontalController(Controller):
    name = "horizontal-pod-autoscaler"

    def __init__(self, ctx: ControllerContext, *, sync_period: float = 15.0) -> None:
        super().__init__(workers=2, name="horizontal-pod-autoscaler")
        self.ctx = ctx
        self.api = ctx.api
        self.sync_period = sync_period
        self.hpas = ctx.informers.get(HORIZONTALPODAUTOSCALERS)
        self.pods = ctx.informers.get(PODS)
        self.targets = {kind: ctx.informers.get(by_kind("apps/v1", kind)) for kind in SCALABLE}
        self.recommendations: dict[str, list[tuple[datetime, int]]] = {}
        self.events: dict[str, list[behavior.ScaleEvent]] = {}
        self.watch(self.hpas)
        self.informers += [self.pods, *self.targets.values()]

    async def reconcile(self, key: Any) -> None:
        ns, name = split_key(key)
        hpa: HorizontalPodAutoscaler | None = self.hpas.get(ns, name)
        if hpa is None or hpa.spec is None:
            self.recommendations.pop(key, None)
            self.events.pop(key, None)
            return
        try:
            await self._sync(key, hpa)
        finally:
            self.queue.add_after(key, self.sync_period)

    async def _sync(self, key: str, hpa: HorizontalPodAutoscaler) -> None:
        spec = hpa.spec
        assert spec is not None
        ref = spec.scaleTargetRef
        target = await self._target(hpa)
        st = msgspec.structs.replace(hpa.status or HorizontalPodAutoscalerStatus(),
                                     observedGeneration=hpa.metadata.generation)
        now = now_utc()
        if target is None:
            _condition(st, "AbleToScale", "False", "FailedGetScale",
                       f"the HPA controller was unable to get the target's current scale: "
                       f"{(ref.kind if ref else '')}/{(ref.name if ref else '')} not found")
            await self._write(hpa, st)
            return
        current = target.replicas
        st.currentReplicas = target.status_replicas
        if current == 0:
            _condition(st, "ScalingActive", "False", "ScalingDisabled",
                       "scaling is disabled since the replica count of the target is zero")
            st.desiredReplicas = 0
            await self._write(hpa, st)
            return
        proposal, metric_status, problem = await self._propose(hpa, target, current, now)
        st.currentMetrics = metric_status or None
        if problem:
            _condition(st, "ScalingActive", "False", problem[0], problem[1])
            self.ctx.recorder.event(typed(hpa), "Warning", problem[0], problem[1])
        else:
            _condition(st, "ScalingActive", "True", "ValidMetricFound",
                       f"the HPA was able to successfully calculate a replica count from {_metric_words(hpa)}")
        desired, reason, message = self._normalize(key, hpa, proposal.replicas if not problem else current,
                                                   current, now)
        _condition(st, "ScalingLimited", "False" if reason == "DesiredWithinRange" else "True", reason, message)
        st.desiredReplicas = desired
        if desired != current:
            await self._rescale(key, hpa, target, current, desired, now, proposal)
            st.lastScaleTime = rfc3339()
            _condition(st, "AbleToScale", "True", "SucceededRescale",
                       "the HPA controller was able to update the target scale to " + str(desired))
        else:
            _condition(st, "AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size")
        await self._write(hpa, st)

    async def _target(self, hpa: HorizontalPodAutoscaler) -> ScaleTarget | None:
        """The target's scale: a Deployment, ReplicaSet or StatefulSet from the cache; any other kind
        with a scale subresource (a custom resource's) through it, as Kubernetes' scale client does."""
        ref = hpa.spec.scaleTargetRef if hpa.spec else None
        if ref is None:
            return None
        ns = hpa.metadata.namespace or ""
        informer = self.targets.get(ref.kind or "") if (ref.apiVersion or "apps/v1") == "apps/v1" else None
        if informer is not None:
            obj = informer.get(ns, ref.name or "")
            if obj is None:
                return None
            spec = obj.spec
            return ScaleTarget(
                info=by_kind("apps/v1", ref.kind or ""), replicas=spec.replicas if spec.replicas is not None else 1,
                status_replicas=(obj.status.replicas if obj.status else None) or 0,
                selector=selector_from_label_selector(spec.selector) if spec.selector else None)
        return await self._scale_subresource(ref, ns)

    async def _scale_subresource(self, ref: Any, ns: str) -> ScaleTarget | None:
        info = by_kind(ref.apiVersion or "", ref.kind or "")
        if info is None or "scale" not in info.subresources:
            return None
        try:
            _code, body = await self.api.call("get", info, namespace=ns, name=ref.name or "", subresource="scale")
        except APIError:
            return None
        scale = msgspec.json.decode(body)
        selector = (scale.get("status") or {}).get("selector") or ""
        return ScaleTarget(info=info, replicas=int((scale.get("spec") or {}).get("replicas") or 0),
                           status_replicas=int((scale.get("status") or {}).get("replicas") or 0),
                           selector=parse_selector(selector) if selector else None)

    async def _propose(self, hpa: HorizontalPodAutoscaler, target: ScaleTarget, current: int,
                       now: datetime) -> tuple[Proposal, list[MetricStatus], tuple[str, str] | None]:
        """The largest proposal of the HPA's metrics, their current values, and the first problem."""
        ns = hpa.metadata.namespace or ""
        selector = target.selector
        if selector is None:
            return Proposal(current), [], ("InvalidSelector", "the target has no selector")
        pods = [p for p in self.pods.by_index(INDEX_NAMESPACE, ns) if selector.matches(p.metadata.labels or {})]
        try:
            listed, _ = await self.api.list(POD_METRICS, ns, label_selector=str(selector))
        except APIError as exc:
            return Proposal(current), [], ("FailedGetResourceMetric", f"unable to get metrics: {exc.message}")
        by_name = {m.metadata.name: m for m in listed}
        best: Proposal | None = None
        statuses: list[MetricStatus] = []
        for metric in (hpa.spec.metrics if hpa.spec else None) or []:
            res = metric.resource
            if res is None or res.target is None:
                continue
            utilization = res.target.type == "Utilization"
            goal = float(res.target.averageUtilization or 0) if utilization else \
                float(amount(res.name or "cpu", res.target.averageValue))
            samples = [sample(p, by_name.get(p.metadata.name), res.name or "cpu") for p in pods]
            p = desired_replicas(samples, current, target=goal, utilization=utilization, cpu=res.name == "cpu",
                                 now=now)
            if p.error:
                return Proposal(current), statuses, (p.reason, f"failed to get {res.name} utilization: {p.error}")
            statuses.append(MetricStatus(type="Resource", resource=ResourceMetricStatus(
                name=res.name, current=MetricValueStatus(averageUtilization=p.utilization,
                                                         averageValue=_quantity(res.name or "cpu", p.usage)))))
            if best is None or p.replicas > best.replicas:
                best = p
        return best or Proposal(current), statuses, None

    def _normalize(self, key: str, hpa: HorizontalPodAutoscaler, desired: int, current: int,
                   now: datetime) -> tuple[int, str, str]:
        spec = hpa.spec
        assert spec is not None
        low, high = spec.minReplicas or 1, spec.maxReplicas or 1
        if current > high:
            return high, "TooManyReplicas", "Current number of replicas above Spec.MaxReplicas"
        if current < low:
            return low, "TooFewReplicas", "Current number of replicas below Spec.MinReplicas"
        up, down = behavior.rules_of(spec.behavior)
        history = self.recommendations.setdefault(key, [])
        stable = behavior.stabilize(history, desired, current, now, up, down)
        keep = max(up.stabilizationWindowSeconds or 0, down.stabilizationWindowSeconds or 0)
        history[:] = [(at, r) for at, r in history if (now - at).total_seconds() <= keep] + [(now, desired)]
        events = self.events.get(key, [])
        ups = [e for e in events if e.change > 0]
        downs = [e for e in events if e.change < 0]
        return behavior.bounded(stable, current, low, high, ups, downs, up, down, now)

    async def _rescale(self, key: str, hpa: HorizontalPodAutoscaler, target: ScaleTarget, current: int,
                       desired: int, now: datetime, proposal: Proposal) -> None:
        ref = hpa.spec.scaleTargetRef if hpa.spec else None
        assert ref is not None
        # the scale subresource, whatever the kind; the answer is a Scale, not the target's type
        await self.api.call("patch", target.info, namespace=hpa.metadata.namespace or "", name=ref.name or "",
                            subresource="scale", body={"spec": {"replicas": desired}},
                            content_type="application/merge-patch+json")
        events = self.events.setdefault(key, [])
        events[:] = [e for e in events if (now - e.at).total_seconds() <= 1800] + [
            behavior.ScaleEvent(now, desired - current)]
        words = f"{_metric_words(hpa)} {'above' if desired > current else 'below'} target"
        self.ctx.recorder.event(typed(hpa), "Normal", "SuccessfulRescale", f"New size: {desired}; reason: {words}")
        await self.ctx.decisions.publish(CONTROLLER_NAME, typed(hpa), "SuccessfulRescale",
                                         f"{ref.kind}/{ref.name} {current} -> {desired}: {words}")

    async def _write(self, hpa: HorizontalPodAutoscaler, st: HorizontalPodAutoscalerStatus) -> None:
        if st != hpa.status:
            await write_status(self.api, hpa, st)


@dataclass(frozen=True)
class ScaleTarget:
    """What the autoscaler needs of its target: its Scale."""

    info: Any  # the target's ResourceInfo
    replicas: int  # spec.replicas
    status_replicas: int
    selector: Selector | None


def _metric_words(hpa: HorizontalPodAutoscaler) -> str:
    metric = ((hpa.spec.metrics if hpa.spec else None) or [None])[0]
    res = metric.resource if metric is not None else None
    if res is None or res.target is None:
        return "metrics"
    kind = "utilization (percentage of request)" if res.target.type == "Utilization" else "utilization"
    return f"{res.name} resource {kind}"


def _quantity(resource: str, value: int) -> str:
    return f"{value}m" if resource == "cpu" else str(value)


def _condition(st: HorizontalPodAutoscalerStatus, kind: str, status: str, reason: str, message: str) -> None:
    old = next((c for c in st.conditions or [] if c.type == kind), None)
    since = old.lastTransitionTime if old is not None and old.status == status else rfc3339()
    fresh = HorizontalPodAutoscalerCondition(type=kind, status=status, reason=reason, message=message,
                                             lastTransitionTime=since)
    order = ["AbleToScale", "ScalingActive", "ScalingLimited"]
    rest = [c for c in st.conditions or [] if c.type != kind]
    st.conditions = sorted([*rest, fresh], key=lambda c: order.index(c.type) if c.type in order else 9)


def new_controller(ctx: ControllerContext) -> HorizontalController:
    return HorizontalController(ctx, sync_period=ctx.options.horizontal_pod_autoscaler_sync_period)
