"""Node lifecycle decisions: grace arithmetic, conditions, taints, zones, toleration expiry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kubelite.api.coordination_v1 import Lease, LeaseSpec
from kubelite.api.core_v1 import Node, NodeCondition, NodeSpec, NodeStatus, Taint, Toleration
from kubelite.api.meta import ObjectMeta
from kubelite_controller_manager.nodelifecycle import health
from kubelite_controller_manager.nodelifecycle.tolerations import eviction_time, tolerates
from kubelite_controller_manager.nodelifecycle.zones import (
    EvictionPolicy,
    TokenBucket,
    ZoneState,
    all_fully_disrupted,
    zone_rate,
    zone_state,
)


def node(name: str = "n1", ready: str | None = "True", taints: list[Taint] | None = None,
         labels: dict[str, str] | None = None, heartbeat: str = "2026-01-01T00:00:00Z") -> Node:
    conds = [NodeCondition(type="Ready", status=ready, lastHeartbeatTime=heartbeat)] if ready else []
    conds.append(NodeCondition(type="MemoryPressure", status="False"))
    return Node(metadata=ObjectMeta(name=name, labels=labels), spec=NodeSpec(taints=taints),
                status=NodeStatus(conditions=conds))


def lease(renew: str) -> Lease:
    return Lease(spec=LeaseSpec(renewTime=renew))


# -- grace arithmetic ----------------------------------------------------------


def test_first_observation_starts_the_grace_period() -> None:
    probe = health.observe(None, health.heartbeat_of(node(), lease("t1")), now=100.0)
    assert probe.seen_at == 100.0
    assert not health.is_stale(probe, 150.0, grace=50.0)  # exactly at the grace period: still fine
    assert health.is_stale(probe, 150.1, grace=50.0)


def test_a_renewed_lease_restarts_the_grace_period() -> None:
    n = node()
    probe = health.observe(None, health.heartbeat_of(n, lease("t1")), now=100.0)
    same = health.observe(probe, health.heartbeat_of(n, lease("t1")), now=140.0)
    assert same.seen_at == 100.0  # nothing changed: the clock keeps running
    renewed = health.observe(same, health.heartbeat_of(n, lease("t2")), now=140.0)
    assert renewed.seen_at == 140.0
    assert not health.is_stale(renewed, 189.0, grace=50.0)


def test_a_status_heartbeat_counts_as_a_heartbeat_too() -> None:
    probe = health.observe(None, health.heartbeat_of(node(heartbeat="a"), None), now=0.0)
    later = health.observe(probe, health.heartbeat_of(node(heartbeat="b"), None), now=30.0)
    assert later.seen_at == 30.0


# -- conditions ----------------------------------------------------------------


def test_silent_node_gets_agent_conditions_unknown() -> None:
    conds = health.unknown_conditions(node(ready="True"), "2026-01-01T00:01:00Z")
    assert conds is not None
    by_type = {c.type: c for c in conds}
    assert by_type["Ready"].status == "Unknown"
    assert by_type["Ready"].reason == "NodeStatusUnknown"
    assert by_type["Ready"].message == "Kubelet stopped posting node status."
    assert by_type["Ready"].lastTransitionTime == "2026-01-01T00:01:00Z"
    assert by_type["Ready"].lastHeartbeatTime == "2026-01-01T00:00:00Z"  # kept: when it last spoke
    assert by_type["MemoryPressure"].status == "Unknown"


def test_already_unknown_means_nothing_to_write() -> None:
    conds = health.unknown_conditions(node(ready="True"), "t")
    assert conds is not None
    again = Node(metadata=ObjectMeta(name="n1"), status=NodeStatus(conditions=conds))
    assert health.unknown_conditions(again, "t2") is None


def test_node_that_never_posted_status() -> None:
    conds = health.unknown_conditions(node(ready=None), "t")
    assert conds is not None and conds[0].type == "Ready"
    assert conds[0].reason == "NodeStatusNeverUpdated"
    assert health.ready_status(node(ready=None)) == "Unknown"


# -- taints --------------------------------------------------------------------


@pytest.mark.parametrize(("ready", "taint"), [
    ("True", None), ("False", health.NOT_READY_TAINT), ("Unknown", health.UNREACHABLE_TAINT),
])
def test_taint_follows_ready(ready: str, taint: str | None) -> None:
    assert health.wanted_no_execute(ready) == taint


def test_adding_a_taint_keeps_others_and_stamps_time_added() -> None:
    user = Taint(key="dedicated", value="gpu", effect="NoSchedule")
    taints = health.with_taints(node(taints=[user]), "NoExecute", health.UNREACHABLE_TAINT, "T0")
    assert taints == [user, Taint(key=health.UNREACHABLE_TAINT, effect="NoExecute", timeAdded="T0")]


def test_no_schedule_taints_follow_conditions_and_unschedulable() -> None:
    n = node(ready="False")
    n.status.conditions[1].status = "True"  # MemoryPressure
    n.spec.unschedulable = True
    want = health.wanted_no_schedule(n)
    assert want == ["node.kubernetes.io/memory-pressure", health.NOT_READY_TAINT, health.UNSCHEDULABLE_TAINT]
    user = Taint(key="dedicated", value="gpu", effect="NoSchedule")
    n.spec.taints = [user, Taint(key=health.UNREACHABLE_TAINT, effect="NoSchedule")]
    taints = health.with_no_schedule(n, want)
    assert taints == [user, *(Taint(key=k, effect="NoSchedule") for k in sorted(want))]  # no timeAdded
    n.spec.taints = taints
    assert health.with_no_schedule(n, want) is None  # already right: nothing to write


def test_node_without_ready_condition_gets_no_no_schedule_taint() -> None:
    # as Kubernetes: only a posted condition maps to a taint (the agent registers with its own)
    assert health.wanted_no_schedule(node(ready=None)) == []
    assert health.wanted_no_schedule(node(ready="Unknown")) == [health.UNREACHABLE_TAINT]


def test_taint_already_there_is_left_alone() -> None:
    have = Taint(key=health.UNREACHABLE_TAINT, effect="NoExecute", timeAdded="T0")
    assert health.with_taints(node(taints=[have]), "NoExecute", health.UNREACHABLE_TAINT, "T1") is None


def test_swap_unreachable_for_not_ready() -> None:
    have = Taint(key=health.UNREACHABLE_TAINT, effect="NoExecute", timeAdded="T0")
    taints = health.with_taints(node(taints=[have]), "NoExecute", health.NOT_READY_TAINT, "T1")
    assert taints == [Taint(key=health.NOT_READY_TAINT, effect="NoExecute", timeAdded="T1")]


def test_recovery_removes_only_the_controllers_taints() -> None:
    user = Taint(key="node.kubernetes.io/unreachable", effect="NoSchedule")  # other effect: not touched
    mine = Taint(key=health.UNREACHABLE_TAINT, effect="NoExecute", timeAdded="T0")
    assert health.with_taints(node(taints=[user, mine]), "NoExecute", None, "T1") == [user]
    assert health.with_taints(node(taints=[user]), "NoExecute", None, "T1") is None


def test_zone_key() -> None:
    labels = {"topology.kubernetes.io/region": "r1", "topology.kubernetes.io/zone": "a"}
    assert health.zone_of(node(labels=labels)) == "r1:\x00:a"
    assert health.zone_of(node()) == ""


# -- zones ---------------------------------------------------------------------


def test_zone_states() -> None:
    t = 0.55
    assert zone_state(["True", "True", "False"], t) == (1, ZoneState.NORMAL)
    # two down of two: full disruption (no Ready node at all)
    assert zone_state(["Unknown", "Unknown"], t) == (2, ZoneState.FULL_DISRUPTION)
    # 2 of 3 down: above the threshold, but not more than 2 nodes: still normal
    assert zone_state(["True", "Unknown", "Unknown"], t) == (2, ZoneState.NORMAL)
    # 3 of 5 = 0.6 >= 0.55: partial disruption
    assert zone_state(["True", "True", "Unknown", "Unknown", "False"], t) == (3, ZoneState.PARTIAL_DISRUPTION)
    # 3 of 6 = 0.5 < 0.55: normal
    assert zone_state(["True"] * 3 + ["Unknown"] * 3, t) == (3, ZoneState.NORMAL)


def test_zone_rates() -> None:
    p = EvictionPolicy(eviction_rate=0.1, secondary_eviction_rate=0.01, large_cluster_size_threshold=50)
    assert zone_rate(ZoneState.NORMAL, 10, p) == 0.1
    assert zone_rate(ZoneState.FULL_DISRUPTION, 10, p) == 0.1  # one dead zone among healthy ones
    assert zone_rate(ZoneState.PARTIAL_DISRUPTION, 10, p) == 0.0  # small cluster: stop
    assert zone_rate(ZoneState.PARTIAL_DISRUPTION, 51, p) == 0.01  # large: secondary rate


def test_master_disruption_needs_every_zone_down() -> None:
    assert all_fully_disrupted({"a": ZoneState.FULL_DISRUPTION, "b": ZoneState.FULL_DISRUPTION})
    assert not all_fully_disrupted({"a": ZoneState.FULL_DISRUPTION, "b": ZoneState.NORMAL})
    assert not all_fully_disrupted({})


def test_token_bucket_admits_one_then_at_rate() -> None:
    b = TokenBucket(0.1, now=0.0)
    assert b.try_accept(0.0)  # starts full (burst 1)
    assert not b.try_accept(5.0)
    assert b.try_accept(10.0)
    assert not b.try_accept(10.0)


def test_token_bucket_zero_rate_never_admits() -> None:
    b = TokenBucket(0.0, now=0.0)
    assert not b.try_accept(0.0)
    assert not b.try_accept(1e9)


# -- toleration expiry ---------------------------------------------------------

T0 = "2026-01-01T00:00:00Z"
T0_UNIX = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
UNREACHABLE = Taint(key=health.UNREACHABLE_TAINT, effect="NoExecute", timeAdded=T0)


def test_untolerated_taint_evicts_now() -> None:
    assert eviction_time([UNREACHABLE], [], fallback_added=0.0) == float("-inf")


def test_toleration_seconds_count_from_time_added() -> None:
    tol = Toleration(key=health.UNREACHABLE_TAINT, operator="Exists", effect="NoExecute", tolerationSeconds=300)
    assert eviction_time([UNREACHABLE], [tol], fallback_added=0.0) == T0_UNIX + 300


def test_toleration_without_seconds_tolerates_forever() -> None:
    tol = Toleration(operator="Exists")
    assert eviction_time([UNREACHABLE], [tol], fallback_added=0.0) is None


def test_earliest_expiry_among_taints_wins() -> None:
    other = Taint(key="maintenance", effect="NoExecute", timeAdded=T0)
    tols = [Toleration(key=health.UNREACHABLE_TAINT, operator="Exists", tolerationSeconds=60),
            Toleration(key="maintenance", operator="Exists", tolerationSeconds=10)]
    assert eviction_time([UNREACHABLE, other], tols, fallback_added=0.0) == T0_UNIX + 10


def test_one_untolerated_taint_among_tolerated_evicts_now() -> None:
    other = Taint(key="maintenance", effect="NoExecute", timeAdded=T0)
    tols = [Toleration(key=health.UNREACHABLE_TAINT, operator="Exists", tolerationSeconds=60)]
    assert eviction_time([UNREACHABLE, other], tols, fallback_added=0.0) == float("-inf")


def test_no_schedule_taints_do_not_evict() -> None:
    ns = Taint(key="x", effect="NoSchedule")
    assert eviction_time([ns], [], fallback_added=0.0) is None


def test_taint_without_time_added_uses_fallback() -> None:
    t = Taint(key=health.UNREACHABLE_TAINT, effect="NoExecute")
    tol = Toleration(key=health.UNREACHABLE_TAINT, operator="Exists", tolerationSeconds=5)
    assert eviction_time([t], [tol], fallback_added=1000.0) == 1005.0


def test_negative_toleration_seconds_evict_at_once() -> None:
    tol = Toleration(key=health.UNREACHABLE_TAINT, operator="Exists", tolerationSeconds=-5)
    assert eviction_time([UNREACHABLE], [tol], fallback_added=0.0) == T0_UNIX


@pytest.mark.parametrize(("tol", "ok"), [
    (Toleration(key="k", operator="Equal", value="v", effect="NoExecute"), True),
    (Toleration(key="k", value="v"), True),  # empty effect matches every effect
    (Toleration(key="k", operator="Equal", value="w"), False),
    (Toleration(key="k", operator="Exists"), True),
    (Toleration(operator="Exists"), True),  # empty key with Exists matches everything
    (Toleration(key="k", operator="Exists", effect="NoSchedule"), False),
    (Toleration(key="other", operator="Exists"), False),
])
def test_tolerates(tol: Toleration, ok: bool) -> None:
    assert tolerates(tol, Taint(key="k", value="v", effect="NoExecute")) is ok
