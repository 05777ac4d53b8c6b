"""From a recommendation to a new scale (Kubernetes' horizontal.go normalizeDesiredReplicas-
WithBehaviors), pure: stabilization windows, then the scaling policies' rate limits, then the
min/max bounds, with the ScalingLimited reason.

Stabilization: scaling up takes the lowest recommendation of the scale-up window (default
0 s: the newest), scaling down the highest of the scale-down window (default 300 s), so a
brief dip does not remove pods that a moment later are needed again.

Rate limits, over each policy's period, from the replicas at the period's start: Pods adds
or removes that many, Percent that share (up: rounded up; down: rounded down); selectPolicy
Max takes the policy allowing the most change, Min the least, Disabled forbids the direction.

Worked example (defaults): 4 replicas, recommendation 20: up by 100 % is 8, by 4 pods is 8,
Max is 8, so 8 now (ScaleUpLimit) and 16 fifteen seconds later. Recommendations 10, 6, 4 in
the last five minutes with 10 replicas: the scale-down recommendation stays 10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from kubelite.api.autoscaling_v2 import HPAScalingRules
from kubelite.api.defaults import default_scaling_rules

I32_MAX, I32_MIN = 2**31 - 1, -(2**31)


@dataclass(frozen=True)
class ScaleEvent:
    at: datetime
    change: int  # replicas added (>0) or removed (<0)


def stabilize(recommendations: list[tuple[datetime, int]], desired: int, current: int, now: datetime,
              up: HPAScalingRules, down: HPAScalingRules) -> int:
    """stabilizeRecommendationWithBehaviors (the caller records `desired` afterwards)."""
    up_cutoff = now - timedelta(seconds=up.stabilizationWindowSeconds or 0)
    down_cutoff = now - timedelta(seconds=down.stabilizationWindowSeconds or 0)
    up_rec = down_rec = desired
    for at, rec in recommendations:
        if at > up_cutoff:
            up_rec = min(up_rec, rec)
        if at > down_cutoff:
            down_rec = max(down_rec, rec)
    out = current
    out = max(out, up_rec)
    return min(out, down_rec)


def _changed_in(period: int, events: list[ScaleEvent], now: datetime) -> int:
    cutoff = now - timedelta(seconds=period)
    return sum(abs(e.change) for e in events if e.at > cutoff)


def scale_up_limit(current: int, ups: list[ScaleEvent], downs: list[ScaleEvent], rules: HPAScalingRules,
                   now: datetime) -> int:
    """calculateScaleUpLimitWithScalingRules."""
    if rules.selectPolicy == "Disabled":
        return current
    pick, result = (min, I32_MAX) if rules.selectPolicy == "Min" else (max, I32_MIN)
    for policy in rules.policies or []:
        period = policy.periodSeconds or 15
        start = current - _changed_in(period, ups, now) + _changed_in(period, downs, now)
        value = policy.value or 0
        proposed = start + value if policy.type == "Pods" else math.ceil(start * (1 + value / 100))
        result = pick(result, proposed)
    return result


def scale_down_limit(current: int, ups: list[ScaleEvent], downs: list[ScaleEvent], rules: HPAScalingRules,
                     now: datetime) -> int:
    """calculateScaleDownLimitWithBehaviors."""
    if rules.selectPolicy == "Disabled":
        return current
    pick, result = (max, I32_MIN) if rules.selectPolicy == "Min" else (min, I32_MAX)
    for policy in rules.policies or []:
        period = policy.periodSeconds or 15
        start = current + _changed_in(period, downs, now) - _changed_in(period, ups, now)
        value = policy.value or 0
        proposed = start - value if policy.type == "Pods" else int(start * (1 - value / 100))
        result = pick(result, proposed)
    return result


def rules_of(behavior: object | None) -> tuple[HPAScalingRules, HPAScalingRules]:
    up = getattr(behavior, "scaleUp", None)
    down = getattr(behavior, "scaleDown", None)
    return default_scaling_rules(up, up=True), default_scaling_rules(down, up=False)


def bounded(desired: int, current: int, min_replicas: int, max_replicas: int, ups: list[ScaleEvent],
            downs: list[ScaleEvent], up: HPAScalingRules, down: HPAScalingRules,
            now: datetime) -> tuple[int, str, str]:
    """convertDesiredReplicasWithBehaviorRate: (replicas, ScalingLimited reason, message);
    reason DesiredWithinRange when nothing limited the recommendation."""
    if desired > current:
        limit = max(current, scale_up_limit(current, ups, downs, up, now))
        if max_replicas <= limit:
            ceiling, reason, message = max_replicas, "TooManyReplicas", "the desired replica count is more than " \
                                                                       "the maximum replica count"
        else:
            ceiling, reason, message = limit, "ScaleUpLimit", "the desired replica count is increasing faster " \
                                                              "than the maximum scale rate"
        if desired > ceiling:
            return ceiling, reason, message
    elif desired < current:
        limit = min(current, scale_down_limit(current, ups, downs, down, now))
        if min_replicas >= limit:
            floor, reason, message = min_replicas, "TooFewReplicas", "the desired replica count is less than the " \
                                                                     "minimum replica count"
        else:
            floor, reason, message = limit, "ScaleDownLimit", "the desired replica count is decreasing faster " \
                                                              "than the maximum scale rate"
        if desired < floor:
            return floor, reason, message
    if desired > max_replicas:
        return max_replicas, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
    if desired < min_replicas:
        return min_replicas, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
    return desired, "DesiredWithinRange", "the desired count is within the acceptable range"
