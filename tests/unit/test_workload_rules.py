"""The DaemonSet, StatefulSet, revision-history and volume-binding rules: each docstring's
worked example, checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from kubelite.api.apps_v1 import ControllerRevision, DaemonSet, StatefulSet
from kubelite.api.core_v1 import Node, PersistentVolume, PersistentVolumeClaim, Pod, PodSpec
from kubelite.api.defaults import apply_defaults
from kubelite_controller_manager.daemonset import rules as ds
from kubelite_controller_manager.history import revisions
from kubelite_controller_manager.statefulset import rules as sts
from kubelite_controller_manager.volume import rules as vol

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def pod(name: str, *, ready: bool = True, phase: str = "Running", labels: dict[str, str] | None = None,
        deleting: bool = False, created: int = 0) -> Pod:
    conditions = [{"type": "Ready", "status": "True" if ready else "False",
                   "lastTransitionTime": (NOW - timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")}]
    return msgspec.convert({
        "metadata": {"name": name, "uid": f"uid-{name}", "labels": labels or {},
                     "creationTimestamp": f"2026-01-01T00:00:{created:02d}Z",
                     **({"deletionTimestamp": "2026-01-01T11:00:00Z"} if deleting else {})},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
        "status": {"phase": phase, "conditions": conditions}}, Pod)


def node(name: str, labels: dict[str, str] | None = None, taints: list[dict[str, str]] | None = None) -> Node:
    return msgspec.convert({"metadata": {"name": name, "labels": labels or {}},
                            "spec": {"taints": taints or []}}, Node)


# -- DaemonSet ---------------------------------------------------------------------


def test_node_should_run_example_taint_without_toleration() -> None:
    template = msgspec.convert({"containers": [{"name": "c", "image": "x"}]}, PodSpec)
    tainted = node("n", taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])
    assert ds.node_should_run(tainted, template) == (False, True)
    assert ds.node_should_run(node("n"), template) == (True, True)
    evicting = node("n", taints=[{"key": "x", "effect": "NoExecute"}])
    assert ds.node_should_run(evicting, template) == (False, False)
    cordoned = node("n", taints=[{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}])
    assert ds.node_should_run(cordoned, template) == (True, True), "daemon pods tolerate cordoning"


def test_manage_example() -> None:
    should = {"a": (True, True), "b": (True, True), "c": (False, False)}
    b_old, b_young, c_pod = pod("b1", created=1), pod("b2", created=2), pod("c1")
    plan = ds.manage(should, {"b": [b_young, b_old], "c": [c_pod]}, surge=False)
    assert plan.create == ["a"]
    assert {p.metadata.name for p in plan.delete} == {"b2", "c1"}


def test_manage_waits_for_a_terminating_pod_and_replaces_a_failed_one() -> None:
    should = {"a": (True, True), "b": (True, True)}
    plan = ds.manage(should, {"a": [pod("a1", deleting=True)], "b": [pod("b1", phase="Failed")]}, surge=False)
    assert plan.create == [] and [p.metadata.name for p in plan.delete] == ["b1"]


def test_budgets_example() -> None:
    d = msgspec.convert({"spec": {"updateStrategy": {"type": "RollingUpdate",
                                                     "rollingUpdate": {"maxUnavailable": "10%"}}}}, DaemonSet)
    assert ds.budgets(d, 25) == (0, 3)
    zero = msgspec.convert({"spec": {"updateStrategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}}},
                           DaemonSet)
    assert ds.budgets(zero, 5) == (0, 1)


def _rollout(surge: int, unavailable: int) -> ds.Rollout:
    return ds.Rollout(hash="new", generation=None, max_surge=surge, max_unavailable=unavailable, min_ready=0, now=NOW)


def test_rolling_update_without_surge_example() -> None:
    old = {f"n{i}": [pod(f"p{i}", labels={"controller-revision-hash": "old"})] for i in range(5)}
    plan = ds.rolling_update(old, _rollout(0, 2))
    assert len(plan.delete) == 2 and not plan.create
    # next sync: two nodes have no pod (unavailable): nothing more
    old["n0"], old["n1"] = [], []
    assert ds.rolling_update(old, _rollout(0, 2)).delete == []


def test_rolling_update_replaces_an_unavailable_old_pod_whatever_the_budget() -> None:
    pods = {"n0": [pod("p0", labels={"controller-revision-hash": "old"}, ready=False)],
            "n1": [pod("p1", labels={"controller-revision-hash": "new"}, ready=False)]}
    assert [p.metadata.name for p in ds.rolling_update(pods, _rollout(0, 1)).delete] == ["p0"]


def test_rolling_update_with_surge_example() -> None:
    pods = {f"n{i}": [pod(f"p{i}", labels={"controller-revision-hash": "old"})] for i in range(3)}
    plan = ds.rolling_update(pods, _rollout(1, 0))
    assert plan.create == ["n0"] and plan.delete == []
    pods["n0"].append(pod("q0", labels={"controller-revision-hash": "new"}))
    plan = ds.rolling_update(pods, _rollout(1, 0))
    assert [p.metadata.name for p in plan.delete] == ["p0"] and plan.create == ["n1"]


# -- history -----------------------------------------------------------------------


def _set(image: str) -> DaemonSet:
    d = msgspec.convert({"metadata": {"name": "d", "namespace": "ns", "uid": "u"}, "spec": {
        "selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": image}]}}}},
        DaemonSet)
    apply_defaults(d)
    return d


def _rev(owner: DaemonSet, number: int) -> ControllerRevision:
    return revisions.snapshot(owner, "apps/v1", "DaemonSet", number)


def test_plan_history_undo_renumbers_the_matching_revision() -> None:
    v1, v2 = _set("v1"), _set("v2")
    a, b = _rev(v1, 1), _rev(v2, 2)
    plan = revisions.plan_history(v1, "apps/v1", "DaemonSet", [a, b])
    assert plan.current is a and plan.renumber == 3 and plan.old == [b] and plan.create is None
    plan = revisions.plan_history(_set("v3"), "apps/v1", "DaemonSet", [a, b])
    assert plan.create is not None and plan.create.revision == 3 and plan.current is None
    assert plan.create.data["spec"]["template"]["$patch"] == "replace"


def test_to_prune_example() -> None:
    revs = [_rev(_set(f"v{i}"), i) for i in (1, 2, 3)]
    live = {revisions.hash_of(revs[0])}
    assert [r.revision for r in revisions.to_prune(revs, live, 1)] == [2]


# -- StatefulSet -------------------------------------------------------------------


def test_ordinal_of() -> None:
    assert sts.ordinal_of("web-2", "web") == 2
    assert sts.ordinal_of("web-x", "web") is None and sts.ordinal_of("webby-1", "web") is None
    assert sts.ordinal_of("web-01", "web") is None and sts.ordinal_of("web-0", "web") == 0


def _inputs(replicas: int, *, ordered: bool = True, partition: int = 0, update: str = "new") -> sts.Inputs:
    return sts.Inputs(start=0, replicas=replicas, ordered=ordered, rolling=True, partition=partition,
                      update_revision=update, min_ready=0, now=NOW)


def _web(i: int, *, rev: str = "new", **kw: object) -> Pod:
    return pod(f"web-{i}", labels={"controller-revision-hash": rev}, **kw)  # type: ignore[arg-type]


def test_decide_ordered_ready_example() -> None:
    pods = {0: _web(0), 1: _web(1, ready=False)}
    plan = sts.decide(pods, _inputs(3))
    assert plan.create == [] and plan.delete == [] and "pod 1" in plan.waiting
    pods[1] = _web(1)
    assert sts.decide(pods, _inputs(3)).create == [2]
    pods[2] = _web(2)
    plan = sts.decide(pods, _inputs(1))
    assert [p.metadata.name for p in plan.delete] == ["web-2"]
    pods[2] = _web(2, deleting=True)
    assert sts.decide(pods, _inputs(1)).delete == [], "web-1 waits for web-2 to go"
    assert sts.decide({}, _inputs(3, ordered=False)).create == [0, 1, 2]


def test_rolling_update_partition_example() -> None:
    pods = {i: _web(i, rev="old") for i in range(4)}
    plan = sts.decide(pods, _inputs(4, partition=2))
    assert [p.metadata.name for p in plan.delete] == ["web-3"]
    pods[3] = _web(3, ready=False)
    assert sts.decide(pods, _inputs(4, partition=2)).delete == [], "web-2 waits for web-3 to be healthy"
    pods[3] = _web(3)
    assert [p.metadata.name for p in sts.decide(pods, _inputs(4, partition=2)).delete] == ["web-2"]
    pods[2] = _web(2)
    assert sts.decide(pods, _inputs(4, partition=2)).delete == [], "web-1 and web-0 stay below the partition"


def test_rollout_complete() -> None:
    c = sts.Counts(replicas=3, ready=3, available=3, current=0, updated=3)
    assert sts.rollout_complete(c, 3, True) and not sts.rollout_complete(c, 3, False)
    assert not sts.rollout_complete(sts.Counts(replicas=3, ready=2, updated=3), 3, True)


def test_inputs_of_defaults() -> None:
    s = msgspec.convert({"metadata": {"name": "web"}, "spec": {"replicas": 2, "serviceName": "x"}}, StatefulSet)
    apply_defaults(s)
    i = sts.inputs_of(s, "web-abc", NOW)
    assert (i.start, i.replicas, i.ordered, i.rolling, i.partition) == (0, 2, True, True, 0)


# -- volume binding ----------------------------------------------------------------


def _pv(name: str, size: str, modes: list[str], sc: str) -> PersistentVolume:
    return msgspec.convert({"metadata": {"name": name}, "spec": {
        "capacity": {"storage": size}, "accessModes": modes, "storageClassName": sc,
        "hostPath": {"path": f"/v/{name}"}}}, PersistentVolume)


def _claim(size: str = "1Gi", sc: str = "fast") -> PersistentVolumeClaim:
    return msgspec.convert({"metadata": {"name": "c", "namespace": "ns", "uid": "cu"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}},
        "storageClassName": sc}}, PersistentVolumeClaim)


def test_best_match_example() -> None:
    pvs = [_pv("a", "5Gi", ["ReadWriteOnce"], "fast"), _pv("b", "2Gi", ["ReadWriteOnce"], "fast"),
           _pv("c", "2Gi", ["ReadOnlyMany"], "fast"), _pv("d", "1Gi", ["ReadWriteOnce"], "slow")]
    best = vol.best_match(pvs, _claim(), None)
    assert best is not None and best.metadata.name == "b"
    assert vol.best_match(pvs, _claim("10Gi"), None) is None


def test_volume_phase_example() -> None:
    pv = _pv("a", "1Gi", ["ReadWriteOnce"], "fast")
    assert vol.volume_phase(pv, None) == "Available"
    claim = _claim()
    bound = msgspec.structs.replace(pv, spec=msgspec.structs.replace(pv.spec, claimRef=vol.claim_ref(claim)))
    assert vol.volume_phase(bound, None) == "Released"
    again = msgspec.structs.replace(claim, metadata=msgspec.structs.replace(claim.metadata, uid="other"))
    assert vol.volume_phase(bound, again) == "Released", "a new claim of the same name does not inherit the data"
    assert vol.volume_phase(bound, claim) == "Pending"
    done = msgspec.structs.replace(claim, spec=msgspec.structs.replace(claim.spec, volumeName="a"))
    assert vol.volume_phase(bound, done) == "Bound"


def test_local_volume_pins_its_node() -> None:
    from kubelite.api.storage_v1 import StorageClass

    sc = msgspec.convert({"metadata": {"name": "local-path"}, "provisioner": "kubelite.io/local-path",
                          "reclaimPolicy": "Delete"}, StorageClass)
    pv = vol.local_volume(_claim(), node("n2", {"kubernetes.io/hostname": "n2"}), "/data/volumes", sc)
    assert pv.metadata.name == "pvc-cu" and pv.spec.local.path == "/data/volumes/pvc-cu_ns_c"
    assert vol.volume_node(pv) == "n2" and vol.admits_node(pv, node("n2", {"kubernetes.io/hostname": "n2"}))
    assert not vol.admits_node(pv, node("n1", {"kubernetes.io/hostname": "n1"}))
    assert pv.spec.claimRef.uid == "cu" and pv.metadata.finalizers == ["kubelite.io/local-path-cleanup"]


# -- disruption budgets ------------------------------------------------------------


def _budget(**spec: object) -> Any:
    from kubelite.api.policy_v1 import PodDisruptionBudget

    return msgspec.convert({"metadata": {"name": "b", "generation": 1},
                            "spec": {"selector": {"matchLabels": {"a": "b"}}, **spec}}, PodDisruptionBudget)


def test_disruption_budget_worked_example() -> None:
    from kubelite_controller_manager.disruption import rules as pdb

    pods = [pod(f"p{i}") for i in range(10)]
    b = pdb.budget(_budget(maxUnavailable="25%"), pods, 10, NOW)
    assert (b.expected, b.desired, b.healthy, b.allowed) == (10, 7, 10, 3)
    from kubelite.api.policy_v1 import PodDisruptionBudgetStatus

    evicted = msgspec.structs.replace(_budget(maxUnavailable="25%"), status=PodDisruptionBudgetStatus(
        disruptedPods={"p0": (NOW - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")}))
    b = pdb.budget(evicted, pods, 10, NOW)
    assert (b.healthy, b.allowed) == (9, 2) and list(b.disrupted) == ["p0"]
    b = pdb.budget(evicted, pods, 10, NOW + timedelta(minutes=3))
    assert b.healthy == 10 and not b.disrupted, "a disruption older than two minutes no longer counts"


def test_expected_and_desired_examples() -> None:
    from kubelite_controller_manager.disruption import rules as pdb

    assert pdb.expected_and_desired(_budget(minAvailable=2), 3, 0) == (3, 2)
    assert pdb.expected_and_desired(_budget(minAvailable="50%"), 0, 5) == (5, 3)
    assert pdb.expected_and_desired(_budget(maxUnavailable=1), 0, 4) == (4, 3)
    assert pdb.budget(_budget(minAvailable=0), [], 0, NOW).allowed == 0, "no expected pods: nothing to disrupt"


def test_eviction_budget_decision() -> None:
    from kubelite.api.policy_v1 import PodDisruptionBudgetStatus
    from kubelite_apiserver.eviction import budget_decision, needs_no_budget

    def with_status(**st: int) -> object:
        return msgspec.structs.replace(_budget(minAvailable=2), status=PodDisruptionBudgetStatus(
            observedGeneration=1, **st))

    assert budget_decision(with_status(disruptionsAllowed=1, currentHealthy=3, desiredHealthy=2), pod("x")) == (True, "")
    counts, cause = budget_decision(with_status(disruptionsAllowed=0, currentHealthy=2, desiredHealthy=2), pod("x"))
    assert counts and cause == "The disruption budget b needs 2 healthy pods and has 2 currently"
    unready = pod("x", ready=False)
    assert budget_decision(with_status(disruptionsAllowed=0, currentHealthy=2, desiredHealthy=2), unready) == \
        (False, ""), "an unready pod may go when the budget is met anyway (IfHealthyBudget)"
    stale = msgspec.structs.replace(_budget(minAvailable=2), status=None)
    assert "still being processed" in budget_decision(stale, pod("x"))[1]
    assert needs_no_budget(pod("x", phase="Succeeded")) and not needs_no_budget(pod("x"))
