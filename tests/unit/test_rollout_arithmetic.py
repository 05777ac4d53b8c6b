"""The Deployment controller's rollout arithmetic, table-driven after Kubernetes' own tests
(deployment_util_test.go, rolling_test.go, sync_test.go TestScale)."""

from __future__ import annotations

import pytest

from kubelite.api.apps_v1 import (
    Deployment,
    DeploymentSpec,
    DeploymentStatus,
    DeploymentStrategy,
    ReplicaSet,
    ReplicaSetSpec,
    ReplicaSetStatus,
    RollingUpdateDeployment,
)
from kubelite.api.meta import ObjectMeta
from kubelite_controller_manager.deployment import rollout
from kubelite_controller_manager.deployment.rollout import (
    MAX_REPLICAS_ANNOTATION,
    cleanup_unhealthy_replicas,
    find_active_or_latest,
    max_surge,
    max_unavailable,
    new_rs_new_replicas,
    proportional_scale,
    reconcile_new_replica_set,
    reconcile_old_replica_sets,
    replica_set_fraction,
    resolve_fenceposts,
    round_half_away,
    scale_down_old_for_rolling_update,
    scaled_value,
)


def deploy(replicas: int, surge: int | str = 0, unavailable: int | str = 0, *, strategy: str = "RollingUpdate",
           status_replicas: int = 0) -> Deployment:
    ru = RollingUpdateDeployment(maxSurge=surge, maxUnavailable=unavailable) if strategy == "RollingUpdate" else None
    return Deployment(
        metadata=ObjectMeta(name="foo", namespace="ns", generation=1),
        spec=DeploymentSpec(replicas=replicas, strategy=DeploymentStrategy(type=strategy, rollingUpdate=ru)),
        status=DeploymentStatus(replicas=status_replicas),
    )


def rs(name: str, replicas: int, available: int | None = None, *, created: str = "",
       max_replicas: int | None = None) -> ReplicaSet:
    annotations = {MAX_REPLICAS_ANNOTATION: str(max_replicas)} if max_replicas is not None else None
    return ReplicaSet(
        metadata=ObjectMeta(name=name, namespace="ns", uid=name, annotations=annotations,
                            creationTimestamp=created or f"2026-01-01T00:00:{int(name[-1]) if name[-1].isdigit() else 0:02d}Z"),
        spec=ReplicaSetSpec(replicas=replicas),
        status=ReplicaSetStatus(replicas=replicas, availableReplicas=replicas if available is None else available),
    )


# -- fenceposts --------------------------------------------------------------------


@pytest.mark.parametrize(("value", "total", "up", "expected"), [
    (3, 10, True, 3),
    ("25%", 10, True, 3),  # 2.5 up
    ("25%", 10, False, 2),  # 2.5 down
    ("0%", 10, True, 0),
    ("100%", 7, False, 7),
    ("1%", 1, True, 1),  # any non-zero percentage of surge allows at least one pod
    ("1%", 1, False, 0),
    ("5", 10, True, 5),
])
def test_scaled_value(value: int | str, total: int, up: bool, expected: int) -> None:
    assert scaled_value(value, total, round_up=up) == expected


@pytest.mark.parametrize(("surge", "unavailable", "desired", "expected"), [
    ("0%", "0%", 0, (0, 1)),  # both zero: unavailable 1 so the rollout can move
    ("39%", "39%", 10, (4, 3)),
    ("55%", "55%", 10, (6, 5)),
    (1, "0%", 10, (1, 0)),
    (0, "10%", 3, (0, 1)),  # 0.3 rounds to 0, 0 surge: forced to 1
    ("25%", "25%", 4, (1, 1)),
    (2, 0, 5, (2, 0)),
])
def test_resolve_fenceposts(surge: int | str, unavailable: int | str, desired: int, expected: tuple[int, int]) -> None:
    assert resolve_fenceposts(surge, unavailable, desired) == expected


def test_resolve_fenceposts_rejects_malformed_percentage() -> None:
    with pytest.raises(ValueError):
        resolve_fenceposts("oops", "25%", 10)


def test_max_unavailable_is_capped_at_replicas_and_zero_for_recreate() -> None:
    assert max_unavailable(deploy(2, 0, 5)) == 2
    assert max_unavailable(deploy(0, 1, 1)) == 0
    assert max_unavailable(deploy(10, strategy="Recreate")) == 0
    assert max_surge(deploy(10, strategy="Recreate")) == 0
    assert max_surge(deploy(10, "25%", "25%")) == 3
    assert max_unavailable(deploy(10, "25%", "25%")) == 2


# -- new replica set ----------------------------------------------------------------


@pytest.mark.parametrize(("strategy", "replicas", "new_size", "surge", "old_size", "expected"), [
    ("RollingUpdate", 1, 5, 1, 5, 5),  # over the surge budget: cannot scale up
    ("RollingUpdate", 6, 2, 10, 5, 6),  # budget allows more, but never beyond replicas
    ("RollingUpdate", 10, 0, 2, 10, 2),
    ("RollingUpdate", 10, 0, 2, 5, 7),
    ("RollingUpdate", 10, 2, 2, 10, 2),
    ("RollingUpdate", 4, 0, "25%", 4, 1),
    ("Recreate", 3, 1, 1, 1, 3),
])
def test_new_rs_new_replicas(strategy: str, replicas: int, new_size: int, surge: int | str, old_size: int,
                             expected: int) -> None:
    d = deploy(replicas, surge, 0, strategy=strategy)
    new, old = rs("new-2", new_size), rs("old-1", old_size)
    assert new_rs_new_replicas(d, [old, new], new) == expected


@pytest.mark.parametrize(("replicas", "surge", "old_size", "new_size", "expected"), [
    (10, 0, 10, 0, None),  # no surge: the old must shrink first
    (10, 2, 10, 0, 2),
    (10, 2, 5, 0, 7),
    (10, 2, 10, 2, None),
    (10, 2, 2, 11, 10),  # oversized new replica set shrinks to replicas at once
])
def test_reconcile_new_replica_set(replicas: int, surge: int, old_size: int, new_size: int, expected: int | None) -> None:
    d = deploy(replicas, surge, 0 if surge else 1)
    new, old = rs("new-2", new_size), rs("old-1", old_size)
    assert reconcile_new_replica_set(d, [old, new], new) == expected


# -- old replica sets ----------------------------------------------------------------


@pytest.mark.parametrize(("replicas", "unavailable", "old_size", "new_size", "old_ready", "new_ready", "expected"), [
    (10, 0, 10, 0, 10, 0, {}),
    (10, 2, 10, 0, 10, 0, {"old-1": 8}),
    (10, 2, 10, 0, 8, 0, {"old-1": 8}),  # the two unhealthy old pods go, nothing else
    (10, 2, 10, 0, 9, 0, {"old-1": 8}),  # one unhealthy, one healthy
    (10, 2, 8, 2, 8, 0, {}),  # new pods not available yet count as missing: wait
    (10, 2, 8, 2, 8, 2, {"old-1": 6}),
])
def test_reconcile_old_replica_sets(replicas: int, unavailable: int, old_size: int, new_size: int,
                                    old_ready: int, new_ready: int, expected: dict[str, int]) -> None:
    d = deploy(replicas, 1 if unavailable == 0 else 0, unavailable)
    old, new = rs("old-1", old_size, old_ready), rs("new-2", new_size, new_ready)
    assert reconcile_old_replica_sets(d, [old, new], [old], new) == expected


def test_cleanup_unhealthy_goes_oldest_first_within_budget() -> None:
    older = rs("a-1", 3, 1)  # 2 unhealthy
    newer = rs("b-2", 4, 2)  # 2 unhealthy
    assert cleanup_unhealthy_replicas([newer, older], 3) == {"a-1": 1, "b-2": 3}
    assert cleanup_unhealthy_replicas([newer, older], 0) == {}


def test_scale_down_old_keeps_min_available() -> None:
    d = deploy(10, 0, 3)  # min available 7
    a, b, new = rs("a-1", 4), rs("b-2", 4), rs("new-3", 2, 2)
    # available 10 -> may drop 3: oldest first
    assert scale_down_old_for_rolling_update(d, [a, b, new], [a, b]) == {"a-1": 1}
    a2 = rs("a-1", 2)
    # available 8 -> may drop 1
    assert scale_down_old_for_rolling_update(d, [a2, b, new], [a2, b]) == {"a-1": 1}
    assert scale_down_old_for_rolling_update(d, [rs("a-1", 5, 0), new], [rs("a-1", 5, 0)]) == {}


# -- a whole rollout, step by step ---------------------------------------------------


def simulate_rollout(replicas: int, surge: int | str, unavailable: int | str, *, lag: int) -> list[tuple[int, int, int]]:
    """Drive a rollout with the pure rules: each step applies reconcileNewReplicaSet, else
    reconcileOldReplicaSets; new pods become available `lag` steps after they were asked for.
    Returns (total pods, available, new replica set size) after every step."""
    d = deploy(replicas, surge, unavailable)
    old = rs("old-1", replicas)
    new = rs("new-2", 0)
    asked: list[tuple[int, int]] = []  # (step, new size asked)
    history = []
    for step in range(200):
        ready_new = max((size for at, size in asked if step - at >= lag), default=0)
        new = rs("new-2", rollout.spec_replicas(new), min(ready_new, rollout.spec_replicas(new)))
        all_rss = [old, new]
        target = reconcile_new_replica_set(d, all_rss, new)
        if target is not None:
            new = rs("new-2", target, rollout.available_replicas(new))
            asked.append((step, target))
        else:
            plan = reconcile_old_replica_sets(d, all_rss, [old], new)
            if "old-1" in plan:
                size = plan["old-1"]
                old = rs("old-1", size, min(size, rollout.available_replicas(old)))
        total = rollout.spec_replicas(old) + rollout.spec_replicas(new)
        available = rollout.available_replicas(old) + rollout.available_replicas(new)
        history.append((total, available, rollout.spec_replicas(new)))
        if rollout.spec_replicas(new) == replicas and rollout.available_replicas(new) == replicas \
                and rollout.spec_replicas(old) == 0:
            return history
    raise AssertionError(f"rollout never finished: {history[-5:]}")


@pytest.mark.parametrize(("replicas", "surge", "unavailable"), [
    (3, 1, 0),
    (3, 0, 1),
    (3, "25%", "25%"),
    (10, "25%", "25%"),
    (10, "30%", "0%"),
    (10, 0, "10%"),
    (5, 2, 2),
    (1, 0, 1),
    (1, "25%", "25%"),
    (4, "50%", "50%"),
])
@pytest.mark.parametrize("lag", [0, 1, 3])
def test_rollout_never_breaks_surge_or_availability(replicas: int, surge: int | str, unavailable: int | str,
                                                     lag: int) -> None:
    d = deploy(replicas, surge, unavailable)
    ms, mu = max_surge(d), max_unavailable(d)
    for total, available, _ in simulate_rollout(replicas, surge, unavailable, lag=lag):
        assert total <= replicas + ms, (total, replicas, ms)
        assert available >= replicas - mu, (available, replicas, mu)


def test_zero_surge_rollout_replaces_one_at_a_time() -> None:
    sizes = [new for _, _, new in simulate_rollout(3, 0, 1, lag=1)]
    assert sorted(set(sizes)) == [0, 1, 2, 3]


# -- proportional scaling (sync_test.go TestScale) ------------------------------------


def annotate(rss: list[ReplicaSet], max_replicas: int) -> list[ReplicaSet]:
    return [rs(r.metadata.name or "", rollout.spec_replicas(r), max_replicas=max_replicas) for r in rss]


@pytest.mark.parametrize(("name", "replicas", "surge", "old_max", "new", "olds", "expected"), [
    ("5 -> 10", 10, 0, 5, ("foo-2", 2), [("foo-1", 3)], {"foo-2": 4, "foo-1": 6}),
    ("5 -> 3", 3, 0, 5, ("foo-2", 2), [("foo-1", 3)], {"foo-2": 1, "foo-1": 2}),
    ("9 -> 4", 4, 0, 9, ("foo-2", 8), [("foo-1", 1)], {"foo-2": 4, "foo-1": 0}),
    ("7 -> 10", 10, 0, 7, ("foo-3", 2), [("foo-2", 3), ("foo-1", 2)], {"foo-3": 3, "foo-2": 4, "foo-1": 3}),
    ("13 -> 8", 8, 0, 13, ("foo-3", 2), [("foo-2", 8), ("foo-1", 3)], {"foo-3": 1, "foo-2": 5, "foo-1": 2}),
    ("leftover up 3 -> 4: newest", 4, 0, 3, ("foo-3", 1), [("foo-2", 1), ("foo-1", 1)],
     {"foo-3": 2, "foo-2": 1, "foo-1": 1}),
    ("leftover down 3 -> 2: oldest", 2, 0, 3, ("foo-3", 1), [("foo-2", 1), ("foo-1", 1)],
     {"foo-3": 1, "foo-2": 1, "foo-1": 0}),
    ("no new rs 4 -> 5", 5, 0, 4, None, [("foo-2", 2), ("foo-1", 2)], {"foo-2": 3, "foo-1": 2}),
    ("6 -> 0", 0, 0, 6, ("foo-3", 3), [("foo-2", 2), ("foo-1", 1)], {"foo-3": 0, "foo-2": 0, "foo-1": 0}),
    ("with surge 10+2 -> 20+2", 20, 2, 12, ("foo-2", 6), [("foo-1", 6)], {"foo-2": 11, "foo-1": 11}),
    ("surge and size 10+3 -> 50+6", 50, 6, 13, ("foo-2", 5), [("foo-1", 8)], {"foo-2": 22, "foo-1": 34}),
])
def test_proportional_scale(name: str, replicas: int, surge: int, old_max: int, new: tuple[str, int] | None,
                            olds: list[tuple[str, int]], expected: dict[str, int]) -> None:
    d = deploy(replicas, surge, 0 if surge else 1)
    new_rs = rs(new[0], new[1], max_replicas=old_max) if new else None
    old_rss = [rs(n, size, max_replicas=old_max) for n, size in olds]
    sizes, operation = proportional_scale(d, new_rs, old_rss)
    assert sizes == expected, name
    assert operation == ("up" if replicas + surge > old_max else "down")


def test_replica_set_fraction_falls_back_to_status_replicas_without_annotation() -> None:
    d = deploy(10, 0, 1, status_replicas=5)
    assert replica_set_fraction(rs("foo-1", 3), d, 5) == 3  # 3 * 10 / 5 - 3
    assert replica_set_fraction(rs("foo-1", 3), d, 0) == 0  # nothing to scale from
    assert replica_set_fraction(rs("foo-1", 3), deploy(0, 0, 1), 5) == -3


def test_find_active_or_latest() -> None:
    a, b = rs("a-1", 0), rs("b-2", 0)
    assert find_active_or_latest(None, [a, b]) is b  # nothing active: the newest
    assert find_active_or_latest(rs("n-3", 0), [a, b]).metadata.name == "n-3"
    assert find_active_or_latest(None, [a, rs("b-2", 2)]).metadata.name == "b-2"
    assert find_active_or_latest(rs("n-3", 1), [rs("a-1", 1)]) is None
    assert find_active_or_latest(None, []) is None


def test_round_half_away_from_zero() -> None:
    assert [round_half_away(x) for x in (0.5, 1.5, 2.5, -0.5, -2.5, 2.49)] == [1, 2, 3, -1, -3, 2]


# -- the worked examples in rollout.py's docstrings, so they cannot drift ------------------


def test_docstring_examples_fenceposts_and_budgets() -> None:
    assert (scaled_value("25%", 10, round_up=True), scaled_value("25%", 10, round_up=False)) == (3, 2)
    assert resolve_fenceposts("25%", "25%", 10) == (3, 2)
    assert resolve_fenceposts(0, "10%", 3) == (0, 1)
    assert max_unavailable(deploy(1, 0, 5)) == 1
    assert max_surge(deploy(10, "25%", "25%")) == 3


def test_docstring_examples_new_replica_set_growth() -> None:
    d = deploy(10, 3, 2)
    assert new_rs_new_replicas(d, [rs("old1", 10), rs("new2", 0)], rs("new2", 0)) == 3
    assert new_rs_new_replicas(d, [rs("old1", 8), rs("new2", 3)], rs("new2", 3)) == 5
    assert reconcile_new_replica_set(d, [rs("new2", 12)], rs("new2", 12)) == 10
    assert reconcile_new_replica_set(d, [rs("new2", 10)], rs("new2", 10)) is None


def test_docstring_examples_old_replica_sets() -> None:
    d = deploy(10, 3, 2)
    new = rs("new3", 3, available=1)
    assert rollout.max_scaled_down(d, [rs("old1", 10), new], new) == 3
    assert cleanup_unhealthy_replicas([rs("old1", 5, available=3), rs("old2", 4)], 3) == {"old1": 3}
    a, b, c = rs("old1", 2), rs("old2", 6), rs("new3", 3)
    assert scale_down_old_for_rolling_update(d, [a, b, c], [a, b]) == {"old1": 0, "old2": 5}
    new0 = rs("new3", 3, available=0)
    assert reconcile_old_replica_sets(d, [rs("old1", 10), new0], [rs("old1", 10)], new0) == {"old1": 8}


def test_docstring_examples_proportional_scaling() -> None:
    d = deploy(15, 3, 2, status_replicas=13)
    old, new = rs("old1", 8, max_replicas=13), rs("new2", 5, max_replicas=13)
    assert replica_set_fraction(old, d, 13) == 3
    assert proportional_scale(d, new, [old]) == ({"old1": 11, "new2": 7}, "up")
