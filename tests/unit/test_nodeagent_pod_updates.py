"""Which informer updates make the node agent sync a pod, and readiness gates in its Ready condition."""

from __future__ import annotations

import msgspec

from kubelite.api.core_v1 import Pod, PodStatus
from kubelite.api.validation.core import validate_pod_spec
from kubelite_nodeagent.podspec import pods_differ_semantically, update_needs_sync
from kubelite_nodeagent.podstatus import ContainerView, compute_status, unmet_readiness_gates
from kubelite_nodeagent.runtime.base import ContainerInfo, ContainerState


def pod(rv: str = "5", *, status: dict | None = None, gates: list[str] | None = None, **meta: object) -> Pod:
    return msgspec.convert({
        "metadata": {"name": "p", "namespace": "ns", "uid": "u", "resourceVersion": rv, **meta},
        "spec": {"containers": [{"name": "c0", "image": "img"}],
                 "readinessGates": [{"conditionType": g} for g in gates] if gates else None},
        "status": status or {"phase": "Pending"},
    }, Pod)


RUNNING = {"phase": "Running", "podIP": "10.244.1.2"}


def test_a_status_the_agent_sent_coming_back_is_not_synced() -> None:
    sent = msgspec.convert(RUNNING, PodStatus)
    old, echo = pod("5"), pod("6", status=RUNNING)
    assert not update_needs_sync(old, echo, sent)
    # before the agent sent anything it cannot be its own write
    assert update_needs_sync(old, echo, None)


def test_a_status_someone_else_wrote_is_synced() -> None:
    sent = msgspec.convert(RUNNING, PodStatus)
    marked = pod("7", status={**RUNNING, "conditions": [{"type": "Ready", "status": "False"}]})
    assert update_needs_sync(pod("6", status=RUNNING), marked, sent)


def test_spec_metadata_and_deletion_changes_are_synced() -> None:
    sent = msgspec.convert(RUNNING, PodStatus)
    base = pod("6", status=RUNNING)
    for changed in (pod("7", status=RUNNING, labels={"a": "b"}),
                    pod("7", status=RUNNING, annotations={"a": "b"}),
                    pod("7", status=RUNNING, deletionTimestamp="2026-01-01T00:00:00Z"),
                    pod("7", status=RUNNING, deletionGracePeriodSeconds=0),
                    pod("7", status=RUNNING, gates=["example.com/lb"])):
        assert pods_differ_semantically(base, changed)
        assert update_needs_sync(base, changed, sent)
    assert not pods_differ_semantically(base, pod("8", status={"phase": "Failed"}))


def test_a_periodic_resync_is_always_synced() -> None:
    same = pod("6", status=RUNNING)
    assert update_needs_sync(same, same, msgspec.convert(RUNNING, PodStatus))


def running_view() -> list[ContainerView]:
    current = ContainerInfo(id="c", pod_uid="u", namespace="ns", pod_name="p", name="c0", attempt=0,
                            state=ContainerState.RUNNING,
                            started_at=1.0, image="img")
    return [ContainerView(name="c0", image="img", current=current, ready=True, started=True)]


def ready_condition(p: Pod) -> tuple[str, str | None, str | None]:
    status = compute_status(p, [], running_view(), pod_ip="10.244.1.2", host_ip="192.0.2.1", now=10.0)
    ready = next(c for c in status.conditions or [] if c.type == "Ready")
    containers = next(c for c in status.conditions or [] if c.type == "ContainersReady")
    assert containers.status == "True", "readiness gates hold back Ready, not ContainersReady"
    return ready.status, ready.reason, ready.message


def test_ready_waits_for_every_readiness_gate() -> None:
    gates = ["example.com/lb", "example.com/dns"]
    missing = pod(gates=gates)
    assert unmet_readiness_gates(missing) == [
        'corresponding condition of pod readiness gate "example.com/lb" does not exist.',
        'corresponding condition of pod readiness gate "example.com/dns" does not exist.',
    ]
    status, reason, message = ready_condition(missing)
    assert (status, reason) == ("False", "ReadinessGatesNotReady")
    assert message == ", ".join(unmet_readiness_gates(missing))

    half = pod(gates=gates, status={"phase": "Running", "conditions": [
        {"type": "example.com/lb", "status": "True"}, {"type": "example.com/dns", "status": "False"}]})
    assert ready_condition(half) == ("False", "ReadinessGatesNotReady",
                                     'the status of pod readiness gate "example.com/dns" is not "True", but False')

    met = pod(gates=gates, status={"phase": "Running", "conditions": [
        {"type": "example.com/lb", "status": "True"}, {"type": "example.com/dns", "status": "True"}]})
    assert ready_condition(met) == ("True", None, None)
    kept = compute_status(met, [], running_view(), pod_ip="10.244.1.2", host_ip="h", now=10.0).conditions or []
    assert {"example.com/lb", "example.com/dns"} <= {c.type for c in kept}, "gate conditions are others' to keep"


def test_readiness_gate_condition_types_are_qualified_names() -> None:
    spec = pod(gates=["example.com/lb", "not a name"]).spec
    errors = validate_pod_spec(spec)
    assert [e.field for e in errors] == ["spec.readinessGates[1].conditionType"]
