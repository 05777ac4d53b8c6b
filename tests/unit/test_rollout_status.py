"""Deployment status, Progressing/Available conditions and the pod-template hash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
from kubelite.api.core_v1 import Container, LabelSelector, PodSpec, PodTemplateSpec
from kubelite.api.meta import ObjectMeta
from kubelite_controller_manager.deployment import progress
from kubelite_controller_manager.deployment.revision import (
    POD_TEMPLATE_HASH_LABEL,
    REVISION_ANNOTATION,
    build_new_replica_set,
    equal_ignore_hash,
    find_new_replica_set,
    new_replica_set_annotations,
    pod_template_hash,
    template_with_hash,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def template(image: str = "nginx:1", labels: dict[str, str] | None = None) -> PodTemplateSpec:
    return PodTemplateSpec(metadata=ObjectMeta(labels=labels or {"app": "web", "tier": "fe"}),
                           spec=PodSpec(containers=[Container(name="c", image=image)]))


def deploy(replicas: int = 3, *, deadline: int | None = 600, status: DeploymentStatus | None = None,
           generation: int = 1, annotations: dict[str, str] | None = None) -> Deployment:
    return Deployment(
        metadata=ObjectMeta(name="web", namespace="ns", uid="d-uid", generation=generation, annotations=annotations),
        spec=DeploymentSpec(replicas=replicas, selector=LabelSelector(matchLabels={"app": "web"}), template=template(),
                            strategy=DeploymentStrategy(type="RollingUpdate", rollingUpdate=RollingUpdateDeployment(
                                maxSurge=1, maxUnavailable=0)),
                            progressDeadlineSeconds=deadline),
        status=status,
    )


def rs(name: str, spec: int, actual: int, available: int, ready: int | None = None) -> ReplicaSet:
    return ReplicaSet(metadata=ObjectMeta(name=name, uid=name), spec=ReplicaSetSpec(replicas=spec),
                      status=ReplicaSetStatus(replicas=actual, availableReplicas=available,
                                              readyReplicas=available if ready is None else ready))


def test_hash_is_stable_ignores_label_order_and_changes_with_template_or_collisions() -> None:
    a = pod_template_hash(template(labels={"app": "web", "tier": "fe"}))
    b = pod_template_hash(template(labels={"tier": "fe", "app": "web"}))
    assert a == b
    assert a != pod_template_hash(template("nginx:2"))
    assert a != pod_template_hash(template(), 1)
    assert set(a) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_new_replica_set_shape_and_lookup() -> None:
    d = deploy()
    h = pod_template_hash(d.spec.template)
    new = build_new_replica_set(d, h, 1, {REVISION_ANNOTATION: "1"})
    assert new.metadata.name == f"web-{h}"
    assert new.spec.selector.matchLabels == {"app": "web", POD_TEMPLATE_HASH_LABEL: h}
    assert new.spec.template.metadata.labels[POD_TEMPLATE_HASH_LABEL] == h
    assert new.metadata.ownerReferences[0].controller is True
    assert equal_ignore_hash(new.spec.template, d.spec.template)
    other = ReplicaSet(metadata=ObjectMeta(name="web-old", creationTimestamp="2025-01-01T00:00:00Z"),
                       spec=ReplicaSetSpec(template=template_with_hash(template("nginx:0"), "x")))
    assert find_new_replica_set(d, [other, new]) is new
    assert find_new_replica_set(d, [other]) is None


def test_revision_is_raised_never_lowered_and_deployment_annotations_copied() -> None:
    d = deploy(annotations={"team": "a", REVISION_ANNOTATION: "9",
                            "kubectl.kubernetes.io/last-applied-configuration": "{}"})
    out = new_replica_set_annotations(d, {REVISION_ANNOTATION: "2"}, 5, set_replicas=False, desired=0, max_replicas=0)
    assert out == {REVISION_ANNOTATION: "5", "team": "a"}
    out = new_replica_set_annotations(d, {REVISION_ANNOTATION: "7"}, 5, set_replicas=True, desired=3, max_replicas=4)
    assert out[REVISION_ANNOTATION] == "7"
    assert out["deployment.kubernetes.io/desired-replicas"] == "3"
    assert out["deployment.kubernetes.io/max-replicas"] == "4"


def test_available_condition_follows_min_availability() -> None:
    st = progress.calculate_status([rs("old", 3, 3, 3)], None, deploy(3), NOW)
    cond = progress.get_condition(st, progress.AVAILABLE)
    assert (cond.status, cond.reason) == ("True", progress.MIN_AVAILABLE)
    st = progress.calculate_status([rs("old", 3, 3, 2)], None, deploy(3), NOW)  # maxUnavailable 0
    cond = progress.get_condition(st, progress.AVAILABLE)
    assert (cond.status, cond.reason) == ("False", progress.MIN_UNAVAILABLE)
    assert (st.replicas, st.availableReplicas, st.unavailableReplicas) == (3, 2, 1)


def test_progressing_reasons_through_a_rollout() -> None:
    created = progress.new_condition(progress.PROGRESSING, "True", progress.NEW_RS_CREATED, "x", NOW)
    d = deploy(3, status=DeploymentStatus(replicas=3, updatedReplicas=0, availableReplicas=3, conditions=[created]))
    new, old = rs("new", 1, 1, 0), rs("old", 3, 3, 3)
    st = progress.rollout_status([old, new], new, d, NOW + timedelta(seconds=1))
    cond = progress.get_condition(st, progress.PROGRESSING)
    assert (cond.status, cond.reason) == ("True", progress.RS_UPDATED)  # one more updated pod: progress

    d2 = deploy(3, status=st)
    later = NOW + timedelta(seconds=700)
    stuck = progress.rollout_status([old, new], new, d2, later)
    cond = progress.get_condition(stuck, progress.PROGRESSING)
    assert (cond.status, cond.reason) == ("False", progress.TIMED_OUT)
    assert cond.message == 'ReplicaSet "new" has timed out progressing.'

    done = progress.rollout_status([rs("old", 0, 0, 0), rs("new", 3, 3, 3)], rs("new", 3, 3, 3), d2, later)
    cond = progress.get_condition(done, progress.PROGRESSING)
    assert (cond.status, cond.reason) == ("True", progress.NEW_RS_AVAILABLE)


def test_no_deadline_no_progressing_condition_and_requeue_time() -> None:
    d = deploy(3, deadline=None, status=DeploymentStatus(conditions=[
        progress.new_condition(progress.PROGRESSING, "True", progress.RS_UPDATED, "x", NOW)]))
    st = progress.rollout_status([rs("new", 3, 3, 1)], rs("new", 3, 3, 1), d, NOW)
    assert progress.get_condition(st, progress.PROGRESSING) is None
    d = deploy(3, deadline=60, status=DeploymentStatus(conditions=[
        progress.new_condition(progress.PROGRESSING, "True", progress.RS_UPDATED, "x", NOW)]))
    wait = progress.seconds_until_deadline(d, DeploymentStatus(), NOW + timedelta(seconds=20))
    assert wait is not None and 40 <= wait <= 42


def test_paused_and_resumed_conditions() -> None:
    d = deploy(3)
    d.spec.paused = True
    st = progress.paused_condition_update(d, NOW)
    assert progress.get_condition(st, progress.PROGRESSING).reason == progress.PAUSED
    d = deploy(3, status=st)
    assert progress.paused_condition_update(d, NOW).conditions[-1].reason == progress.RESUMED
