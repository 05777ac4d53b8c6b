"""The disruption controller's arithmetic (Kubernetes' pkg/controller/disruption), pure.

expectedPods and desiredHealthy come from the budget:
- minAvailable as a number: expected = the pods the selector finds, desired = that number;
- minAvailable as a percentage: expected = the replicas the pods' controllers want,
  desired = that percentage of it, rounded up;
- maxUnavailable: expected = the controllers' replicas, desired = expected - maxUnavailable
  (a percentage rounded up).
currentHealthy counts ready pods that are not being deleted nor listed as just disrupted (an
eviction admitted in the last two minutes whose pod is not gone yet).
disruptionsAllowed = currentHealthy - desiredHealthy, never below 0 (0 with no expected pods).

Worked example: maxUnavailable "25%" over a Deployment of 10 replicas with 10 ready pods:
expected 10, maxUnavailable 3 (2.5 rounded up), desired 7, allowed 3. One pod evicted and
listed in disruptedPods: healthy 9, allowed 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from kubelite.api.core_v1 import Pod
from kubelite.api.policy_v1 import PodDisruptionBudget
from kubelite.printers import parse_time

DELETION_TIMEOUT = timedelta(minutes=2)  # how long an admitted eviction's pod is not counted healthy


@dataclass(frozen=True)
class Budget:
    expected: int
    desired: int
    healthy: int
    allowed: int
    disrupted: dict[str, str]


def _percent(value: int | str) -> int | None:
    if isinstance(value, str) and value.endswith("%"):
        return int(value[:-1])
    return None


def _number(value: int | str) -> int:
    return int(value) if not isinstance(value, int) else value


def needs_controller_scale(pdb: PodDisruptionBudget) -> bool:
    spec = pdb.spec
    return spec is not None and (spec.maxUnavailable is not None or
                                 (spec.minAvailable is not None and _percent(spec.minAvailable) is not None))


def expected_and_desired(pdb: PodDisruptionBudget, pods: int, controller_replicas: int) -> tuple[int, int]:
    """Example: minAvailable 2 over 3 pods: (3, 2); minAvailable "50%" of 5 replicas: (5, 3);
    maxUnavailable 1 of 4 replicas: (4, 3)."""
    spec = pdb.spec
    if spec is None:
        return pods, 0
    if spec.maxUnavailable is not None:
        pct = _percent(spec.maxUnavailable)
        unavailable = math.ceil(pct * controller_replicas / 100) if pct is not None else _number(spec.maxUnavailable)
        return controller_replicas, max(0, controller_replicas - unavailable)
    if spec.minAvailable is not None:
        pct = _percent(spec.minAvailable)
        if pct is not None:
            return controller_replicas, math.ceil(pct * controller_replicas / 100)
        return pods, _number(spec.minAvailable)
    return pods, 0


def _ready(pod: Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or [] if pod.status else []))


def still_disrupted(pdb: PodDisruptionBudget, pods: list[Pod], now: datetime) -> dict[str, str]:
    """disruptedPods entries that still hold: the pod exists, is not being deleted yet, and the
    eviction was admitted less than DELETION_TIMEOUT ago."""
    listed = (pdb.status.disruptedPods if pdb.status else None) or {}
    alive = {p.metadata.name: p for p in pods if p.metadata.deletionTimestamp is None}
    out = {}
    for name, when in listed.items():
        at = parse_time(when)
        if name in alive and at is not None and now - at < DELETION_TIMEOUT:
            out[name] = when
    return out


def budget(pdb: PodDisruptionBudget, pods: list[Pod], controller_replicas: int, now: datetime) -> Budget:
    disrupted = still_disrupted(pdb, pods, now)
    healthy = sum(1 for p in pods if _ready(p) and p.metadata.deletionTimestamp is None
                  and p.metadata.name not in disrupted)
    expected, desired = expected_and_desired(pdb, len(pods), controller_replicas)
    allowed = healthy - desired if expected > 0 else 0
    return Budget(expected=expected, desired=desired, healthy=healthy, allowed=max(0, allowed), disrupted=disrupted)
