"""Scheduler rules, one Kubernetes behaviour per test, on hand-built nodes and pods."""

from __future__ import annotations

import random
from typing import Any

import msgspec
import pytest

from kubelite.api.core_v1 import Node, Pod
from kubelite_scheduler import plugins
from kubelite_scheduler.algorithm import (
    NO_NODES_MESSAGE,
    Algorithm,
    feasible_nodes_to_find,
    unschedulable_message,
)
from kubelite_scheduler.cache import SchedulerCache
from kubelite_scheduler.podinfo import pod_info


def make_node(name: str, *, cpu: str = "4", memory: str = "8Gi", pods: str = "110", ready: str = "True",
              labels: dict[str, str] | None = None, taints: list[dict[str, Any]] | None = None,
              unschedulable: bool = False) -> Node:
    return msgspec.convert({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {"taints": taints, "unschedulable": unschedulable or None},
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
                   "conditions": [{"type": "Ready", "status": ready}]},
    }, Node)


def make_pod(name: str, *, cpu: str | None = None, memory: str | None = None, node: str = "",
             labels: dict[str, str] | None = None, owner: str = "", **spec: Any) -> Pod:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": "uid-" + name, "labels": labels}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
                                    "uid": owner, "controller": True}]
    return msgspec.convert({
        "metadata": meta,
        "spec": {"containers": [{"name": "c", "image": "x", "resources": {"requests": requests}}],
                 "nodeName": node or None, **spec},
    }, Pod)


def cache_with(*nodes: Node, pods: tuple[Pod, ...] = ()) -> SchedulerCache:
    cache = SchedulerCache()
    for n in nodes:
        cache.set_node(n)
    for p in pods:
        cache.set_bound_pod(pod_info(p))
    return cache


def reasons(cache: SchedulerCache, pod: Pod) -> dict[str, tuple[str, ...]]:
    return Algorithm(cache, rng=random.Random(1)).schedule(pod_info(pod)).rejected


# -- filters ----------------------------------------------------------------------

def test_not_ready_node_is_rejected_with_the_not_ready_taint_text() -> None:
    cache = cache_with(make_node("a", ready="False"), make_node("b", ready="Unknown"))
    assert reasons(cache, make_pod("p")) == {
        "a": ("node(s) had untolerated taint {node.kubernetes.io/not-ready: }",),
        "b": ("node(s) had untolerated taint {node.kubernetes.io/unreachable: }",),
    }


def test_unschedulable_node_unless_tolerated() -> None:
    cache = cache_with(make_node("a", unschedulable=True))
    assert reasons(cache, make_pod("p")) == {"a": ("node(s) were unschedulable",)}
    tol = [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]
    assert reasons(cache, make_pod("p", tolerations=tol)) == {}


@pytest.mark.parametrize("effect", ["NoSchedule", "NoExecute"])
def test_taints_need_tolerations(effect: str) -> None:
    cache = cache_with(make_node("a", taints=[{"key": "gpu", "value": "yes", "effect": effect}]))
    assert reasons(cache, make_pod("p")) == {"a": ("node(s) had untolerated taint {gpu: yes}",)}
    ok = [{"key": "gpu", "operator": "Equal", "value": "yes"}]
    assert reasons(cache, make_pod("p", tolerations=ok)) == {}
    wrong_value = [{"key": "gpu", "operator": "Equal", "value": "no"}]
    assert "a" in reasons(cache, make_pod("p", tolerations=wrong_value))
    exists_all = [{"operator": "Exists"}]
    assert reasons(cache, make_pod("p", tolerations=exists_all)) == {}


def test_prefer_no_schedule_taint_does_not_filter() -> None:
    cache = cache_with(make_node("a", taints=[{"key": "k", "effect": "PreferNoSchedule"}]))
    assert reasons(cache, make_pod("p")) == {}


def test_resources_fit_counts_bound_pods_and_reports_every_shortfall() -> None:
    cache = cache_with(make_node("a", cpu="1", memory="1Gi", pods="2"),
                       pods=(make_pod("old", cpu="600m", memory="512Mi", node="a"),))
    assert reasons(cache, make_pod("p", cpu="500m", memory="256Mi")) == {"a": ("Insufficient cpu",)}
    assert reasons(cache, make_pod("p", cpu="500m", memory="1Gi")) == {
        "a": ("Insufficient cpu", "Insufficient memory")}
    assert reasons(cache, make_pod("p", cpu="400m")) == {}
    cache.set_bound_pod(pod_info(make_pod("old2", node="a")))
    assert reasons(cache, make_pod("p")) == {"a": ("Too many pods",)}


def test_terminal_pods_hold_no_resources() -> None:
    done = make_pod("done", cpu="1", node="a")
    done.status = msgspec.convert({"status": {"phase": "Succeeded"}}, Pod).status
    cache = cache_with(make_node("a", cpu="1"), pods=(done,))
    assert reasons(cache, make_pod("p", cpu="1")) == {}


def test_node_selector_and_required_node_affinity() -> None:
    cache = cache_with(make_node("a", labels={"disk": "ssd", "gen": "5"}), make_node("b"))
    assert reasons(cache, make_pod("p", nodeSelector={"disk": "ssd"})) == {
        "b": ("node(s) didn't match Pod's node affinity/selector",)}
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["4"]}]}]}}}
    assert set(reasons(cache, make_pod("p", affinity=affinity))) == {"b"}
    by_name = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["b"]}]}]}}}
    assert set(reasons(cache, make_pod("p", affinity=by_name))) == {"a"}


def test_host_ports() -> None:
    ports = [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080}]}]
    cache = cache_with(make_node("a"), make_node("b"), pods=(make_pod("old", node="a", containers=ports),))
    want = make_pod("p", containers=[{"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080}]}])
    assert reasons(cache, want) == {"a": ("node(s) didn't have free ports for the requested pod ports",)}
    udp = make_pod("p", containers=[{"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080,
                                                              "protocol": "UDP"}]}])
    assert reasons(cache, udp) == {}


def _anti(app: str, key: str = "kubernetes.io/hostname") -> dict[str, Any]:
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}]}}


def test_required_pod_anti_affinity_both_ways() -> None:
    cache = cache_with(make_node("a"), make_node("b"),
                       pods=(make_pod("web-1", node="a", labels={"app": "web"}),))
    assert reasons(cache, make_pod("web-2", labels={"app": "web"}, affinity=_anti("web"))) == {
        "a": ("node(s) didn't match pod anti-affinity rules",)}
    # symmetry: an existing pod's anti-affinity keeps newcomers it matches away
    cache.set_bound_pod(pod_info(make_pod("lonely", node="b", labels={"app": "db"}, affinity=_anti("web"))))
    assert reasons(cache, make_pod("web-3", labels={"app": "web"})) == {
        "b": ("node(s) didn't satisfy existing pods anti-affinity rules",)}


def test_anti_affinity_by_zone_label() -> None:
    cache = cache_with(make_node("a", labels={"zone": "z1"}), make_node("b", labels={"zone": "z1"}),
                       make_node("c", labels={"zone": "z2"}),
                       pods=(make_pod("web-1", node="a", labels={"app": "web"}),))
    got = reasons(cache, make_pod("web-2", labels={"app": "web"}, affinity=_anti("web", "zone")))
    assert set(got) == {"a", "b"}


def test_required_pod_affinity() -> None:
    affinity = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    cache = cache_with(make_node("a"), make_node("b"), pods=(make_pod("c1", node="b", labels={"app": "cache"}),))
    assert reasons(cache, make_pod("p", affinity=affinity)) == {"a": ("node(s) didn't match pod affinity rules",)}
    # no matching pod anywhere: only a pod matching its own term may start the group
    empty = cache_with(make_node("a"))
    assert reasons(empty, make_pod("p", affinity=affinity)) == {"a": ("node(s) didn't match pod affinity rules",)}
    assert reasons(empty, make_pod("p", labels={"app": "cache"}, affinity=affinity)) == {}


# -- the unschedulable message ---------------------------------------------------------

def test_unschedulable_message_is_kubernetes_fit_error() -> None:
    msg = unschedulable_message(3, {
        "a": ("Insufficient cpu",), "b": ("Insufficient cpu",),
        "c": ("node(s) had untolerated taint {key: value}",)})
    assert msg == "0/3 nodes are available: 1 node(s) had untolerated taint {key: value}, 2 Insufficient cpu."
    assert unschedulable_message(0, {}) == NO_NODES_MESSAGE


def test_schedule_reports_every_node_when_nothing_fits() -> None:
    cache = cache_with(make_node("a", cpu="1"), make_node("b", cpu="1"),
                       make_node("c", taints=[{"key": "key", "value": "value", "effect": "NoSchedule"}]))
    result = Algorithm(cache).schedule(pod_info(make_pod("p", cpu="2")))
    assert result.node is None
    assert result.message == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {key: value}, 2 Insufficient cpu.")


# -- scores -----------------------------------------------------------------------

def test_least_allocated_prefers_the_emptier_node() -> None:
    cache = cache_with(make_node("a"), make_node("b"), pods=(make_pod("x", cpu="2", memory="4Gi", node="a"),))
    assert Algorithm(cache).schedule(pod_info(make_pod("p", cpu="100m", memory="100Mi"))).node == "b"


def test_least_allocated_and_balanced_allocation_values() -> None:
    node = cache_with(make_node("a", cpu="1000m", memory="1000")).nodes["a"]
    pod = pod_info(make_pod("p", cpu="500m", memory="250"))
    state = plugins.prepare(pod, SchedulerCache())
    assert plugins.least_allocated(pod, [node], state) == [(50 + 75) // 2]
    assert plugins.balanced_allocation(pod, [node], state) == [int((1 - abs(0.5 - 0.25) / 2) * 100)]


def test_spread_same_owner() -> None:
    cache = cache_with(make_node("a"), make_node("b"),
                       pods=(make_pod("r1", node="a", owner="rs1"), make_pod("r2", node="a", owner="rs1"),
                             make_pod("other", node="b", owner="rs2"), make_pod("other2", node="b", owner="rs2")))
    assert Algorithm(cache).schedule(pod_info(make_pod("p", owner="rs1"))).node == "b"
    assert Algorithm(cache).schedule(pod_info(make_pod("p", owner="rs2"))).node == "a"


def test_preferred_node_affinity_wins() -> None:
    cache = cache_with(make_node("a"), make_node("b", labels={"fast": "yes"}))
    affinity = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 50, "preference": {"matchExpressions": [{"key": "fast", "operator": "Exists"}]}}]}}
    result = Algorithm(cache).schedule(pod_info(make_pod("p", affinity=affinity)))
    assert result.node == "b"
    by_node = dict(zip(result.scored, result.scores["preferred_node_affinity"], strict=True))
    assert by_node == {"a": 0, "b": 200}


def test_preferred_pod_anti_affinity() -> None:
    cache = cache_with(make_node("a"), make_node("b"), pods=(make_pod("w", node="a", labels={"app": "web"}),))
    affinity = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "web"}},
                                            "topologyKey": "kubernetes.io/hostname"}}]}}
    for _ in range(5):
        assert Algorithm(cache).schedule(pod_info(make_pod("p", affinity=affinity))).node == "b"


def test_prefer_no_schedule_taint_scores_lower() -> None:
    cache = cache_with(make_node("a", taints=[{"key": "k", "effect": "PreferNoSchedule"}]), make_node("b"))
    for _ in range(5):
        assert Algorithm(cache).schedule(pod_info(make_pod("p"))).node == "b"


def test_ties_are_broken_at_random() -> None:
    cache = cache_with(*(make_node(n) for n in "abcd"))
    algo = Algorithm(cache, rng=random.Random(7))
    chosen = {algo.schedule(pod_info(make_pod("p"))).node for _ in range(60)}
    assert chosen == {"a", "b", "c", "d"}


# -- cache: assume / forget / confirm ------------------------------------------------

def test_assume_makes_the_next_decision_see_the_capacity() -> None:
    cache = cache_with(make_node("a", cpu="1"), make_node("b", cpu="1"))
    algo = Algorithm(cache)
    first = pod_info(make_pod("p1", cpu="800m"))
    node = algo.schedule(first).node
    cache.assume(first, node)
    second = algo.schedule(pod_info(make_pod("p2", cpu="800m"))).node
    assert second != node
    cache.forget(first.key)
    assert cache.nodes[node].requested_cpu == 0
    # confirm: the bound pod seen by the watch replaces the assumption, counted once
    cache.assume(first, node)
    cache.set_bound_pod(pod_info(make_pod("p1", cpu="800m", node=node)))
    assert cache.nodes[node].requested_cpu == 800 and first.key not in cache.assumed
    assert cache.confirm(first.key, first.uid, node) is False  # already confirmed
    cache.forget(first.key)  # a confirmed pod is not forgotten
    assert cache.nodes[node].requested_cpu == 800
    cache.remove_pod(first.key)
    assert cache.nodes[node].requested_cpu == 0
    # confirm without recomputing: same pod (uid), same node
    cache.assume(first, node)
    assert cache.confirm(first.key, "other-uid", node) is False
    assert cache.confirm(first.key, first.uid, node) is True
    assert first.key not in cache.assumed and cache.nodes[node].requested_cpu == 800


# -- sampling -----------------------------------------------------------------------

def test_feasible_nodes_to_find_follows_kubernetes() -> None:
    assert feasible_nodes_to_find(50, 0) == 50
    assert feasible_nodes_to_find(1000, 0) == 420  # 50% - 1000/125
    assert feasible_nodes_to_find(5000, 0) == 500  # 10%
    assert feasible_nodes_to_find(100_000, 0) == 5000  # floor of 5%
    assert feasible_nodes_to_find(1000, 5) == 100  # never fewer than 100
    assert feasible_nodes_to_find(1000, 100) == 1000


def test_sampling_rotates_over_the_cluster() -> None:
    cache = cache_with(*(make_node(f"n{i:03}") for i in range(300)))
    algo = Algorithm(cache, percentage=10)
    r1 = algo.schedule(pod_info(make_pod("p")))
    r2 = algo.schedule(pod_info(make_pod("q")))
    assert r1.evaluated == r2.evaluated == 100
    assert len(r1.scored) == 100 and set(r1.scored).isdisjoint(r2.scored)


def test_remembered_scores_follow_node_changes() -> None:
    """Scores are remembered per node between decisions; a placement must invalidate them,
    else the node just chosen would keep its old (better) score and take every pod."""
    cache = cache_with(make_node("a"), make_node("b"))
    algo = Algorithm(cache, rng=random.Random(3))
    for i in range(6):
        info = pod_info(make_pod(f"p{i}", cpu="500m", memory="512Mi"))
        cache.assume(info, algo.schedule(info).node)
    assert cache.nodes["a"].requested_cpu == cache.nodes["b"].requested_cpu == 1500
    cache.set_node(make_node("a", cpu="64"))  # a node update also invalidates
    assert algo.schedule(pod_info(make_pod("next", cpu="500m", memory="512Mi"))).node == "a"


def test_decision_lists_rejections_and_aligned_score_columns() -> None:
    from kubelite import codec
    from kubelite_scheduler.decision import decision_of

    cache = cache_with(make_node("a"), make_node("b"), make_node("c", ready="False"))
    result = Algorithm(cache, rng=random.Random(2)).schedule(pod_info(make_pod("p", owner="rs")))
    d = msgspec.json.decode(codec.encode(decision_of("ns", "p", "uid-p", "default-scheduler", "t", result)))
    assert d["result"] == "Scheduled" and d["node"] in ("a", "b")
    assert d["rejected"] == {"c": ["node(s) had untolerated taint {node.kubernetes.io/not-ready: }"]}
    assert sorted(d["scored"]) == ["a", "b"] and d["nodes"] == 3 and d["feasible"] == 2
    assert set(d["scores"]) == {"least_allocated", "balanced_allocation", "spread_same_owner"}
    for column in (*d["scores"].values(), d["totals"]):
        assert len(column) == 2
    assert d["totals"] == [sum(col[i] for col in d["scores"].values()) for i in range(2)]


def test_huge_decisions_leave_out_per_node_detail() -> None:
    from kubelite.bus.decisions import MAX_DECISION_BYTES
    from kubelite.bus.decisions import SchedulingDecision as Decision
    from kubelite.bus.decisions import encode_scheduling as encode_decision

    rejected = {f"node-{i:06d}": ["node(s) didn't match Pod's node affinity/selector"] for i in range(10_000)}
    d = Decision(namespace="ns", pod="p", result="Unschedulable", message="0/10000 nodes are available: ...",
                 nodes=10_000, evaluated=10_000, rejected=rejected)
    data = encode_decision(d)
    assert len(data) <= MAX_DECISION_BYTES
    decoded = msgspec.json.decode(data)
    assert decoded["detailOmitted"] is True and "rejected" not in decoded
    assert decoded["message"] == d.message and decoded["nodes"] == 10_000


def test_docstring_examples_of_normalize_and_feasible_nodes() -> None:
    """The worked examples in plugins.normalize and algorithm.feasible_nodes_to_find."""
    from kubelite_scheduler.algorithm import feasible_nodes_to_find
    from kubelite_scheduler.plugins import BY_MAX, BY_MAX_REVERSED, MIN_MAX, normalize

    assert normalize(BY_MAX, [2, 0, 1]) == [100, 0, 50]
    assert normalize(BY_MAX_REVERSED, [2, 0, 1]) == [0, 100, 50]
    assert normalize(MIN_MAX, [2, 0, 1]) == [100, 0, 50]
    assert normalize(MIN_MAX, [-20, 0, 60]) == [0, 25, 100]
    assert normalize(BY_MAX_REVERSED, [1, 0]) == [0, 100]
    assert normalize(BY_MAX, [80, 20]) == [100, 25]
    assert [feasible_nodes_to_find(n, 0) for n in (50, 1000, 5000, 10000)] == [50, 420, 500, 500]
