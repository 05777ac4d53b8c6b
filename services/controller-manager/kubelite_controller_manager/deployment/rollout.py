"""The rolling-update arithmetic, as Kubernetes' deployment_util.go and rolling.go keep it.

Every rule is a small pure function over ReplicaSet/Deployment structs (read
only) that returns numbers or a plan `{replica set name: new spec.replicas}`;
the controller applies plans through the API. Each comment names the
guarantee the rule keeps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

from kubelite.api.apps_v1 import Deployment, ReplicaSet

ROLLING_UPDATE = "RollingUpdate"
RECREATE = "Recreate"

DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"

Plan = dict[str, int]


# --------------------------------------------------------------------------
# reading replica counts (a missing replicas field is defaulted to 1 by the apiserver)
# --------------------------------------------------------------------------


def spec_replicas(obj: ReplicaSet | Deployment | None) -> int:
    if obj is None or obj.spec is None:
        return 0
    return 1 if obj.spec.replicas is None else obj.spec.replicas


def available_replicas(rs: ReplicaSet | None) -> int:
    return (rs.status.availableReplicas or 0) if rs is not None and rs.status else 0


def actual_replicas(rs: ReplicaSet | None) -> int:
    return (rs.status.replicas or 0) if rs is not None and rs.status else 0


def ready_replicas(rs: ReplicaSet | None) -> int:
    return (rs.status.readyReplicas or 0) if rs is not None and rs.status else 0


def total_spec_replicas(rss: Iterable[ReplicaSet | None]) -> int:
    """GetReplicaCountForReplicaSets: pods the replica sets want (the rollout's budget)."""
    return sum(spec_replicas(rs) for rs in rss if rs is not None)


def total_available(rss: Iterable[ReplicaSet | None]) -> int:
    """GetAvailableReplicaCountForReplicaSets."""
    return sum(available_replicas(rs) for rs in rss if rs is not None)


def total_actual(rss: Iterable[ReplicaSet | None]) -> int:
    """GetActualReplicaCountForReplicaSets: pods that exist (status.replicas)."""
    return sum(actual_replicas(rs) for rs in rss if rs is not None)


def total_ready(rss: Iterable[ReplicaSet | None]) -> int:
    return sum(ready_replicas(rs) for rs in rss if rs is not None)


def active(rss: Iterable[ReplicaSet | None]) -> list[ReplicaSet]:
    """FilterActiveReplicaSets: replica sets that want at least one pod."""
    return [rs for rs in rss if rs is not None and spec_replicas(rs) > 0]


def by_creation(rss: Iterable[ReplicaSet]) -> list[ReplicaSet]:
    """ReplicaSetsByCreationTimestamp: oldest first, ties by name (stable across resyncs)."""
    return sorted(rss, key=lambda rs: (rs.metadata.creationTimestamp or "", rs.metadata.name or ""))


# --------------------------------------------------------------------------
# fenceposts
# --------------------------------------------------------------------------


def scaled_value(value: int | str | None, total: int, *, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int as is, "N%" of `total` rounded up or down.

    "25%" of 10 replicas is 2.5: 3 rounded up (maxSurge), 2 rounded down (maxUnavailable);
    5 stays 5 whatever the total. Raises ValueError for a malformed percentage (validation rejects those earlier)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = value.strip()
    if not text.endswith("%"):
        # Kubernetes accepts a string holding a plain integer here
        return int(text)
    pct = int(text[:-1])
    exact = pct * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None, desired: int) -> tuple[int, int]:
    """ResolveFenceposts: (surge, unavailable) for `desired` replicas.

    maxSurge rounds up (a rollout may always create at least one extra pod when
    surge is a non-zero percentage); maxUnavailable rounds down (never lose more
    availability than asked). If both resolve to 0 unavailable becomes 1 so the
    rollout can still progress.

    10 replicas, maxSurge "25%", maxUnavailable "25%": (3, 2).
    3 replicas, maxSurge 0, maxUnavailable "10%": 10% of 3 is 0.3, down to 0, so (0, 1)."""
    surge = scaled_value(max_surge if max_surge is not None else 0, desired, round_up=True)
    unavailable = scaled_value(max_unavailable if max_unavailable is not None else 0, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def is_rolling_update(d: Deployment) -> bool:
    st = d.spec.strategy if d.spec else None
    return st is None or (st.type or ROLLING_UPDATE) == ROLLING_UPDATE


def _rolling_params(d: Deployment) -> tuple[int | str | None, int | str | None]:
    st = d.spec.strategy if d.spec else None
    ru = st.rollingUpdate if st else None
    if ru is None:
        return "25%", "25%"
    return ru.maxSurge, ru.maxUnavailable


def max_unavailable(d: Deployment) -> int:
    """MaxUnavailable: pods that may be unavailable during a rolling update, never more
    than the deployment's replicas (0 for Recreate or 0 replicas).

    10 replicas, maxUnavailable "25%": 2. 1 replica, maxUnavailable 5: 1 (capped)."""
    replicas = spec_replicas(d)
    if not is_rolling_update(d) or replicas == 0:
        return 0
    surge, unavailable = _rolling_params(d)
    _, mu = resolve_fenceposts(surge, unavailable, replicas)
    return min(mu, replicas)


def max_surge(d: Deployment) -> int:
    """MaxSurge: pods that may exist above replicas during a rolling update (0 for Recreate).

    10 replicas, maxSurge "25%": 3 (rounded up)."""
    if not is_rolling_update(d):
        return 0
    surge, unavailable = _rolling_params(d)
    ms, _ = resolve_fenceposts(surge, unavailable, spec_replicas(d))
    return ms


# --------------------------------------------------------------------------
# rolling update: scale up the new replica set, scale down old ones
# --------------------------------------------------------------------------


def new_rs_new_replicas(d: Deployment, all_rss: Sequence[ReplicaSet | None], new_rs: ReplicaSet) -> int:
    """NewRSNewReplicas: the new replica set's next size.

    Rolling: grow it only while all replica sets together stay within
    replicas + maxSurge, and never past replicas. Recreate: replicas at once
    (old pods are already gone).

    10 replicas, maxSurge 3: all replica sets together may want 13 pods. Old at 10,
    new at 0: new grows by min(13 - 10, 10 - 0) = 3. Later, old scaled down to 8 and
    new at 3 (11 in all): new grows by min(13 - 11, 10 - 3) = 2, to 5."""
    replicas = spec_replicas(d)
    if not is_rolling_update(d):
        return replicas
    max_total = replicas + max_surge(d)
    current = total_spec_replicas(all_rss)
    new_size = spec_replicas(new_rs)
    if current >= max_total:
        return new_size
    scale_up = min(max_total - current, replicas - new_size)
    return new_size + scale_up


def reconcile_new_replica_set(d: Deployment, all_rss: Sequence[ReplicaSet | None], new_rs: ReplicaSet) -> int | None:
    """reconcileNewReplicaSet: the new replica set's target size, or None when it is right.

    An oversized new replica set shrinks to replicas straight away (a scale-down
    of the deployment never waits for the surge budget).

    10 replicas: a new replica set at 12 (the deployment was just scaled down from
    12) goes to 10 at once; at 10 it is right (None); at 3 it grows as
    `new_rs_new_replicas` allows."""
    replicas, new_size = spec_replicas(d), spec_replicas(new_rs)
    if new_size == replicas:
        return None
    if new_size > replicas:
        return replicas
    target = new_rs_new_replicas(d, all_rss, new_rs)
    return None if target == new_size else target


def max_scaled_down(d: Deployment, all_rss: Sequence[ReplicaSet | None], new_rs: ReplicaSet | None) -> int:
    """The first half of reconcileOldReplicaSets: how many old pods may go right now.

    Total pods may drop to minAvailable = replicas - maxUnavailable, counting the
    new replica set's not-yet-available pods as already missing, so unhealthy new
    pods can never push availability below minAvailable.

    10 replicas, maxUnavailable 2 (minAvailable 8); old wants 10 and new wants 3, one
    of them available (13 in all): 13 - 8 - (3 - 1) = 3 old pods may go."""
    min_available = spec_replicas(d) - max_unavailable(d)
    new_unavailable = spec_replicas(new_rs) - available_replicas(new_rs) if new_rs is not None else 0
    return total_spec_replicas(all_rss) - min_available - new_unavailable


def cleanup_unhealthy_replicas(old_rss: Sequence[ReplicaSet], max_cleanup: int) -> Plan:
    """cleanupUnhealthyReplicas: first remove old replica sets' *unavailable* pods, oldest
    replica set first, at most `max_cleanup`. Removing them costs no availability and
    unblocks a rollout that old broken pods would otherwise hold up.

    Old A (oldest; wants 5, 3 available) and B (wants 4, all available), max_cleanup 3:
    A drops its 2 unavailable pods, B has none: {A: 3}."""
    return _take_oldest_first(old_rss, max_cleanup, lambda rs: spec_replicas(rs) - available_replicas(rs))


def scale_down_old_for_rolling_update(d: Deployment, all_rss: Sequence[ReplicaSet | None], old_rss: Sequence[ReplicaSet]) -> Plan:
    """scaleDownOldReplicaSetsForRollingUpdate: remove available old pods, oldest replica
    set first, only as far as available pods stay >= replicas - maxUnavailable.

    10 replicas, maxUnavailable 2 (minAvailable 8); old A (oldest, 2 pods) and B (6),
    new C with 3 available: 11 available, so 11 - 8 = 3 may go: {A: 0, B: 5}."""
    min_available = spec_replicas(d) - max_unavailable(d)
    available = total_available(all_rss)
    if available <= min_available:
        return {}
    return _take_oldest_first(old_rss, available - min_available, spec_replicas)


def _take_oldest_first(rss: Sequence[ReplicaSet], budget: int, removable: Callable[[ReplicaSet], int]) -> Plan:
    """Shrink replica sets oldest first by what `removable` allows of each, `budget` pods in all."""
    plan: Plan = {}
    removed = 0
    for rs in by_creation(rss):
        if removed >= budget:
            break
        size = spec_replicas(rs)
        count = min(removable(rs), budget - removed)
        if size == 0 or count <= 0:
            continue
        plan[rs.metadata.name or ""] = size - count
        removed += count
    return plan


def _with_plan(rss: Sequence[ReplicaSet], plan: Plan) -> list[ReplicaSet]:
    """Replica sets as they will be once `plan` is applied (copies; the inputs stay untouched)."""
    import msgspec

    out = []
    for rs in rss:
        name = rs.metadata.name or ""
        if name in plan and rs.spec is not None:
            rs = msgspec.structs.replace(rs, spec=msgspec.structs.replace(rs.spec, replicas=plan[name]))
        out.append(rs)
    return out


def reconcile_old_replica_sets(d: Deployment, all_rss: Sequence[ReplicaSet | None], old_rss: Sequence[ReplicaSet], new_rs: ReplicaSet | None) -> Plan:
    """reconcileOldReplicaSets: the old replica sets' new sizes (unhealthy pods first, then
    available ones within the maxUnavailable budget); empty when nothing may go yet.

    10 replicas, maxSurge 3, maxUnavailable 2; old wants 10 (all available), new wants 3
    (none available yet): budget 13 - 8 - 3 = 2, no unhealthy old pods, and 10 - 8 = 2
    available ones may go: old goes to 8."""
    old_active = active(old_rss)
    if total_spec_replicas(old_active) == 0:
        return {}
    budget = max_scaled_down(d, all_rss, new_rs)
    if budget <= 0:
        return {}
    plan = cleanup_unhealthy_replicas(old_active, budget)
    old_after = _with_plan(old_active, plan)
    all_after = [*old_after, *([new_rs] if new_rs is not None else [])]
    plan.update(scale_down_old_for_rolling_update(d, all_after, old_after))
    return plan


# --------------------------------------------------------------------------
# completion and saturation
# --------------------------------------------------------------------------


def desired_replicas_annotation(rs: ReplicaSet) -> int | None:
    return _int_annotation(rs, DESIRED_REPLICAS_ANNOTATION)


def max_replicas_annotation(rs: ReplicaSet) -> int | None:
    return _int_annotation(rs, MAX_REPLICAS_ANNOTATION)


def _int_annotation(rs: ReplicaSet, key: str) -> int | None:
    value = (rs.metadata.annotations or {}).get(key)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def replicas_annotations_need_update(rs: ReplicaSet, desired: int, max_replicas: int) -> bool:
    return desired_replicas_annotation(rs) != desired or max_replicas_annotation(rs) != max_replicas


def is_saturated(d: Deployment, rs: ReplicaSet | None) -> bool:
    """IsSaturated: the replica set runs the deployment's full size, all available."""
    if rs is None:
        return False
    replicas = spec_replicas(d)
    return (
        desired_replicas_annotation(rs) == replicas
        and spec_replicas(rs) == replicas
        and available_replicas(rs) == replicas
    )


# --------------------------------------------------------------------------
# proportional scaling (a deployment resized mid-rollout)
# --------------------------------------------------------------------------


def find_active_or_latest(new_rs: ReplicaSet | None, old_rss: Sequence[ReplicaSet]) -> ReplicaSet | None:
    """FindActiveOrLatest: the one replica set with pods, the newest if none has any,
    None if several have pods (then scaling must be proportional)."""
    if new_rs is None and not old_rss:
        return None
    newest_first = list(reversed(by_creation(old_rss)))
    candidates = active([*newest_first, new_rs])
    if not candidates:
        return new_rs if new_rs is not None else newest_first[0]
    if len(candidates) == 1:
        return candidates[0]
    return None


def round_half_away(x: float) -> int:
    """Go's math.Round (Python's round() is banker's rounding)."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def replica_set_fraction(rs: ReplicaSet, d: Deployment, deployment_status_replicas: int) -> int:
    """getReplicaSetFraction: how many pods this replica set gains (or loses) when the
    deployment's max size moves from the max-replicas annotation (its size when this
    replica set was last scaled) to replicas + maxSurge, keeping its share of pods.

    A replica set of 8 last scaled at max 13 (10 replicas + 3 surge), deployment scaled
    to 15 (max 18): round(8 x 18 / 13) - 8 = round(11.08) - 8 = 3."""
    replicas = spec_replicas(d)
    size = spec_replicas(rs)
    if replicas == 0:
        return -size
    new_max = replicas + max_surge(d)
    old_max = max_replicas_annotation(rs)
    if not old_max:
        # annotation missing or edited: fall back to the deployment's current size
        old_max = deployment_status_replicas
        if old_max == 0:
            return 0
    return round_half_away(size * new_max / old_max) - size


def proportion(rs: ReplicaSet, d: Deployment, to_add: int, added: int, deployment_status_replicas: int) -> int:
    """GetProportion: the replica set's share of `to_add`, never overshooting what is left
    (min when scaling up, max when scaling down).

    to_add 5 with 3 already given to larger replica sets: a fraction of 3 gets min(3, 2) = 2."""
    if spec_replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = replica_set_fraction(rs, d, deployment_status_replicas)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def proportional_scale(d: Deployment, new_rs: ReplicaSet | None, old_rss: Sequence[ReplicaSet]) -> tuple[Plan, str]:
    """The rolling-update branch of the deployment controller's scale(): spread the change
    of replicas + maxSurge over the active replica sets in proportion to their sizes;
    the rounding leftover goes to the largest one (newest when scaling up, oldest when
    scaling down), and none goes below 0. Returns (new size of every active replica
    set, "up" | "down"), or ({}, "") when the total is already right.

    Kubernetes' documented case: 10 replicas, maxSurge 3, mid-rollout with old at 8 and
    new at 5 (13 = the max), scaled to 15 replicas (max 18, so 5 to add): old gets
    round(8 x 18 / 13) - 8 = 3 and new round(5 x 18 / 13) - 5 = 2: old 11, new 7."""
    all_rss = active([*old_rss, new_rs])
    current = total_spec_replicas(all_rss)
    replicas = spec_replicas(d)
    allowed = replicas + max_surge(d) if replicas > 0 else 0
    to_add = allowed - current
    status_replicas = (d.status.replicas or 0) if d.status else 0
    if to_add > 0:
        ordered = _stable_size_sort(all_rss, newer_first=True)
        operation = "up"
    elif to_add < 0:
        ordered = _stable_size_sort(all_rss, newer_first=False)
        operation = "down"
    else:
        return {}, ""
    sizes: Plan = {}
    added = 0
    for rs in ordered:
        share = proportion(rs, d, to_add, added, status_replicas)
        sizes[rs.metadata.name or ""] = spec_replicas(rs) + share
        added += share
    first = ordered[0].metadata.name or ""
    sizes[first] = max(0, sizes[first] + to_add - added)
    return sizes, operation


def _stable_size_sort(rss: Sequence[ReplicaSet], *, newer_first: bool) -> list[ReplicaSet]:
    """ReplicaSetsBySizeNewer / BySizeOlder: larger first; among equals newer (or older) first."""
    oldest_first = by_creation(rss)
    tie_order = list(reversed(oldest_first)) if newer_first else oldest_first
    return sorted(tie_order, key=lambda rs: spec_replicas(rs), reverse=True)


# --------------------------------------------------------------------------
# recreate
# --------------------------------------------------------------------------


def scale_down_old_for_recreate(old_rss: Sequence[ReplicaSet]) -> Plan:
    """scaleDownOldReplicaSetsForRecreate: every old replica set to 0 at once."""
    return {rs.metadata.name or "": 0 for rs in old_rss if spec_replicas(rs) != 0}
