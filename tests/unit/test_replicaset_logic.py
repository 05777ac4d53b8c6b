"""ReplicaSet controller logic: scale-down order (Kubernetes' ActivePods), availability with
minReadySeconds, status counts and ReplicaFailure, claiming, slow start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kubelite.api.apps_v1 import ReplicaSet, ReplicaSetSpec, ReplicaSetStatus
from kubelite.api.core_v1 import (
    ContainerStatus,
    LabelSelector,
    Pod,
    PodCondition,
    PodSpec,
    PodStatus,
    PodTemplateSpec,
)
from kubelite.api.labels import selector_from_label_selector
from kubelite.api.meta import ObjectMeta, OwnerReference
from kubelite.reconcile.controller_ref import owners_selecting, plan_claim
from kubelite_controller_manager.replicaset.controller import pod_from_template, slow_start_batches
from kubelite_controller_manager.replicaset.pods import is_available, pods_to_delete
from kubelite_controller_manager.replicaset.status import calculate_status

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def ts(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str, *, node: str = "n1", phase: str = "Running", ready: bool | None = True,
        ready_for: float = 100, restarts: int = 0, age: float = 1000, labels: dict[str, str] | None = None,
        owner: str | None = None, deleting: bool = False) -> Pod:
    conditions = None
    if ready is not None:
        conditions = [PodCondition(type="Ready", status="True" if ready else "False",
                                   lastTransitionTime=ts(ready_for))]
    refs = [OwnerReference(apiVersion="apps/v1", kind="ReplicaSet", name=owner, uid=owner, controller=True)] \
        if owner else None
    return Pod(
        metadata=ObjectMeta(name=name, namespace="ns", creationTimestamp=ts(age),
                            labels=labels if labels is not None else {"app": "web"}, ownerReferences=refs,
                            deletionTimestamp=ts(0) if deleting else None),
        spec=PodSpec(nodeName=node or None),
        status=PodStatus(phase=phase, conditions=conditions,
                         containerStatuses=[ContainerStatus(name="c", restartCount=restarts)]),
    )


def owner(uid: str, *, deleting: bool = False) -> ReplicaSet:
    return ReplicaSet(metadata=ObjectMeta(name="web", namespace="ns", uid=uid,
                                          deletionTimestamp=ts(0) if deleting else None))


@pytest.mark.parametrize(("first", "second", "why"), [
    (pod("a", node=""), pod("b"), "unassigned before assigned"),
    (pod("a", phase="Pending", ready=False), pod("b", phase="Unknown", ready=False), "pending before unknown"),
    (pod("a", phase="Unknown", ready=False), pod("b", phase="Running", ready=False), "unknown before running"),
    (pod("a", ready=False), pod("b"), "not ready before ready"),
    (pod("a", ready_for=10), pod("b", ready_for=500), "ready for less time first"),
    (pod("a", restarts=5), pod("b", restarts=1), "more restarts first (fewer kept)"),
    (pod("a", age=10), pod("b", age=500), "newer first"),
])
def test_scale_down_order(first: Pod, second: Pod, why: str) -> None:
    assert [p.metadata.name for p in pods_to_delete([second, first], 1)] == ["a"], why
    assert [p.metadata.name for p in pods_to_delete([first, second], 1)] == ["a"], why


def test_scale_down_takes_count_in_order() -> None:
    pods = [pod("old-ready"), pod("new-ready", age=5, ready_for=5), pod("pending", phase="Pending", ready=False),
            pod("unassigned", node="", phase="Pending", ready=None)]
    assert [p.metadata.name for p in pods_to_delete(pods, 3)] == ["unassigned", "pending", "new-ready"]
    assert pods_to_delete(pods, 0) == []


def test_deletion_cost_then_spread_over_nodes() -> None:
    cheap = pod("cheap", node="n1")
    cheap.metadata.annotations = {"controller.kubernetes.io/pod-deletion-cost": "-5"}
    pods = [pod("a", node="n1"), pod("b", node="n2", age=1), cheap]
    assert [p.metadata.name for p in pods_to_delete(pods, 1)] == ["cheap"]
    # n1 holds two related pods, n2 one: the doubled-up node loses a pod first, even an older one
    crowded = [pod("old-on-n1", node="n1", age=900), pod("x-on-n1", node="n1", age=900),
               pod("new-on-n2", node="n2", age=1)]
    assert pods_to_delete(crowded, 1)[0].spec.nodeName == "n1"
    # related pods (another replica set of the same deployment) count toward the rank
    mine = [pod("m1", node="n1"), pod("m2", node="n2")]
    related = [*mine, pod("sibling", node="n2")]
    assert pods_to_delete(mine, 1, related)[0].metadata.name == "m2"


def test_available_needs_min_ready_seconds_of_readiness() -> None:
    assert is_available(pod("a", ready_for=5), 0, NOW)
    assert not is_available(pod("a", ready_for=5), 10, NOW)
    assert is_available(pod("a", ready_for=15), 10, NOW)
    assert not is_available(pod("a", ready=False), 0, NOW)


def rs(replicas: int = 3, min_ready: int = 0, conditions: list | None = None) -> ReplicaSet:
    return ReplicaSet(
        metadata=ObjectMeta(name="web", namespace="ns", uid="rs-uid", generation=2),
        spec=ReplicaSetSpec(replicas=replicas, minReadySeconds=min_ready,
                            selector=LabelSelector(matchLabels={"app": "web"}),
                            template=PodTemplateSpec(metadata=ObjectMeta(labels={"app": "web", "tier": "fe"}),
                                                     spec=PodSpec())),
        status=ReplicaSetStatus(conditions=conditions),
    )


def test_status_counts() -> None:
    pods = [
        pod("a", labels={"app": "web", "tier": "fe"}),
        pod("b", labels={"app": "web", "tier": "fe"}, ready_for=2),
        pod("c", ready=False),
    ]
    st = calculate_status(rs(min_ready=5), pods, None, NOW)
    assert (st.replicas, st.fullyLabeledReplicas, st.readyReplicas, st.availableReplicas) == (3, 2, 2, 1)
    assert st.conditions is None


def test_replica_failure_set_on_error_and_cleared_after() -> None:
    st = calculate_status(rs(3), [pod("a")], "pods \"x\" is forbidden", NOW)
    assert st.conditions is not None and st.conditions[0].type == "ReplicaFailure"
    assert st.conditions[0].reason == "FailedCreate"
    assert st.conditions[0].message == 'pods "x" is forbidden'
    cleared = calculate_status(rs(3, conditions=st.conditions), [pod("a")], None, NOW)
    assert cleared.conditions is None
    over = calculate_status(rs(0), [pod("a")], "boom", NOW)
    assert over.conditions[0].reason == "FailedDelete"


def test_claim_adopts_orphans_releases_mismatches_ignores_others() -> None:
    sel = selector_from_label_selector(LabelSelector(matchLabels={"app": "web"}), none_selects_nothing=True)
    candidates = [
        pod("mine", owner="rs-uid"),
        pod("orphan"),
        pod("orphan-other-labels", labels={"app": "db"}),
        pod("orphan-deleting", deleting=True),
        pod("mine-relabelled", owner="rs-uid", labels={"app": "db"}),
        pod("someone-elses", owner="other-uid"),
    ]
    result = plan_claim(owner("rs-uid"), sel, candidates)
    assert [p.metadata.name for p in result.owned] == ["mine"]
    assert [p.metadata.name for p in result.adopt] == ["orphan"]
    assert [p.metadata.name for p in result.release] == ["mine-relabelled"]
    deleting = plan_claim(owner("rs-uid", deleting=True), sel, candidates)
    assert deleting.adopt == [] and deleting.release == []


def test_claim_never_adopts_across_namespaces() -> None:
    sel = selector_from_label_selector(LabelSelector(matchLabels={"app": "web"}))
    stranger = pod("orphan")
    stranger.metadata.namespace = "elsewhere"
    assert plan_claim(owner("rs-uid"), sel, [stranger]).adopt == []


def test_owners_selecting_skips_empty_and_nil_selectors() -> None:
    """Both controllers find adopters through this one function; an empty selector (which would
    select everything) and a nil one adopt nothing (the ReplicaSet copy used to miss this)."""
    def rs_with(name: str, selector: LabelSelector | None) -> ReplicaSet:
        return ReplicaSet(metadata=ObjectMeta(name=name, namespace="ns", uid=name),
                          spec=ReplicaSetSpec(selector=selector))
    owners = [rs_with("web", LabelSelector(matchLabels={"app": "web"})), rs_with("empty", LabelSelector()),
              rs_with("nil", None), rs_with("db", LabelSelector(matchLabels={"app": "db"}))]
    assert owners_selecting(pod("orphan"), owners) == ["ns/web"]


def test_nil_selector_selects_nothing() -> None:
    sel = selector_from_label_selector(None, none_selects_nothing=True)
    assert plan_claim(owner("rs-uid"), sel, [pod("orphan")]).adopt == []


def test_pod_from_template() -> None:
    p = pod_from_template(rs())
    assert p.metadata.generateName == "web-"
    assert p.metadata.labels == {"app": "web", "tier": "fe"}
    ref = p.metadata.ownerReferences[0]
    assert (ref.kind, ref.name, ref.uid, ref.controller, ref.blockOwnerDeletion) == \
        ("ReplicaSet", "web", "rs-uid", True, True)


def test_slow_start_batches() -> None:
    assert slow_start_batches(10) == [1, 2, 4, 3]
    assert slow_start_batches(1) == [1]
    assert slow_start_batches(0) == []
