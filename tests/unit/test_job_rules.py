"""The Job controller's rules: the module's worked example, podFailurePolicy judging and
backoffLimitPerIndex (each docstring example checked)."""

from __future__ import annotations

from typing import Any

import msgspec

from kubelite.api.batch_v1 import Job, JobStatus, UncountedTerminatedPods
from kubelite.api.core_v1 import ContainerStatus, Pod
from kubelite.api.defaults import apply_defaults
from kubelite.api.validation import validate
from kubelite_controller_manager.job import failures, rules


def job(**spec: Any) -> Job:
    j = msgspec.convert({"metadata": {"name": "j", "namespace": "ns", "uid": "ju"}, "spec": {
        "selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {
            "restartPolicy": "Never", "containers": [{"name": "main", "image": "x"}]}}, **spec}}, Job)
    apply_defaults(j)
    return j


def pod(name: str, phase: str, *, index: int | None = None, exit_code: int | None = None,
        conditions: list[dict] | None = None, failures_before: int | None = None, finalizer: bool = True) -> Pod:
    annotations = {}
    if index is not None:
        annotations["batch.kubernetes.io/job-completion-index"] = str(index)
    if failures_before is not None:
        annotations["batch.kubernetes.io/job-index-failure-count"] = str(failures_before)
    statuses = [{"name": "main", "state": {"terminated": {"exitCode": exit_code}}}] if exit_code is not None else []
    return msgspec.convert({
        "metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}", "annotations": annotations,
                     "finalizers": ["batch.kubernetes.io/job-tracking"] if finalizer else [],
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"containers": [{"name": "main", "image": "x"}]},
        "status": {"phase": phase, "containerStatuses": statuses, "conditions": conditions or []}}, Pod)


POLICY = {"rules": [
    {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}},
    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
]}


def test_module_worked_example() -> None:
    j = job(completions=5, parallelism=2, backoffLimit=1)
    d = rules.decide(j, [pod("r", "Running")], succeeded_count=2, failed_count=1, completed=set(), now=0,
                     started_at=0)
    assert d.create == [None] and d.finish is None
    d = rules.decide(j, [pod("r", "Running")], succeeded_count=2, failed_count=2, completed=set(), now=0,
                     started_at=0)
    assert d.finish is not None and d.finish[1] == "BackoffLimitExceeded" and [p.metadata.name for p in d.delete] == ["r"]


def test_pod_failure_policy_worked_example() -> None:
    j = job(completionMode="Indexed", completions=4, parallelism=2, backoffLimitPerIndex=1, podFailurePolicy=POLICY)
    assert j.spec.podReplacementPolicy == "Failed" and j.spec.backoffLimit == 2**31 - 1
    assert validate(j) == []
    index3 = pod("p3", "Failed", index=3, exit_code=1, failures_before=1)
    evicted = pod("p1", "Failed", index=1, conditions=[{"type": "DisruptionTarget", "status": "True"}])
    judged = failures.failures(j, [index3, evicted], set())
    assert judged.failed_indexes == {3} and judged.index_failures == {3: 2} and not judged.fail_job
    assert failures.ignored_uids(j, [index3, evicted]) == {"u-p1"}
    answer = pod("p0", "Failed", index=0, exit_code=42)
    message = failures.failures(j, [answer], set()).fail_job
    assert message == "Container main for pod ns/p0 failed with exit code 42 matching FailJob rule at index 0"
    d = rules.decide(j, [answer], succeeded_count=0, failed_count=1, completed=set(), now=0, started_at=0,
                     fail_job=message)
    assert d.finish == ("Failed", "PodFailurePolicy", message)


def test_an_ignored_failure_is_never_counted() -> None:
    j = job(podFailurePolicy=POLICY)
    evicted = pod("e", "Failed", conditions=[{"type": "DisruptionTarget", "status": "True"}])
    ignore = failures.ignored_uids(j, [evicted])
    t = rules.track(j, [evicted], ignore)
    assert t.remove_finalizer == [evicted] and not t.newly_uncounted_failed
    assert rules.totals(j, [evicted], ignore)[1] == 0


def test_decide_indexed_per_index_example() -> None:
    j = job(completionMode="Indexed", completions=4, parallelism=2, backoffLimitPerIndex=0)
    d = rules.decide(j, [], succeeded_count=1, failed_count=1, completed={0}, now=0, started_at=0,
                     failed_indexes={1})
    assert d.create == [2, 3] and d.finish is None
    d = rules.decide(j, [], succeeded_count=3, failed_count=1, completed={0, 2, 3}, now=0, started_at=0,
                     failed_indexes={1})
    assert d.finish == ("Failed", "FailedIndexes", "Job has failed indexes")
    capped = job(completionMode="Indexed", completions=4, parallelism=2, backoffLimitPerIndex=0, maxFailedIndexes=0)
    d = rules.decide(capped, [], succeeded_count=0, failed_count=1, completed=set(), now=0, started_at=0,
                     failed_indexes={1})
    assert d.finish is not None and d.finish[1] == "MaxFailedIndexesExceeded"


def test_replacement_policy_failed_waits_for_terminating_pods() -> None:
    j = job(completions=3, parallelism=2, podFailurePolicy=POLICY)
    going = msgspec.structs.replace(pod("t", "Running"), metadata=msgspec.structs.replace(
        pod("t", "Running").metadata, deletionTimestamp="2026-01-01T00:00:05Z"))
    d = rules.decide(j, [going], succeeded_count=0, failed_count=0, completed=set(), now=0, started_at=0)
    assert d.create == [None], "one slot is still held by the terminating pod"


def test_policy_validation() -> None:
    def errs(**spec: Any) -> list[str]:
        return [f"{e.field}: {e.detail}" for e in validate(job(**spec))]

    assert errs(podFailurePolicy={"rules": [{"action": "FailIndex", "onExitCodes": {"operator": "In",
                                                                                    "values": [1]}}]}) == [
        "spec.podFailurePolicy.rules[0].action: requires the backoffLimitPerIndex to be set"]
    bad = errs(podFailurePolicy={"rules": [{"action": "Count", "onExitCodes": {"operator": "In", "values": [0, 3, 2]}}]})
    assert "spec.podFailurePolicy.rules[0].onExitCodes.values[0]: must not be 0 for the In operator" in bad
    assert "spec.podFailurePolicy.rules[0].onExitCodes.values[2]: must be ordered" in bad
    assert errs(backoffLimitPerIndex=1) == ["spec.backoffLimitPerIndex: requires indexed completion mode"]
    j = job(podFailurePolicy=POLICY)
    j.spec.template.spec.restartPolicy = "OnFailure"
    assert any(e.field == "spec.template.spec.restartPolicy" and "only \"Never\"" in e.detail for e in validate(j))


def test_past_limit_on_failure_example() -> None:
    def restarted(name: str, n: int) -> Pod:
        p = pod(name, "Running")
        cs = msgspec.convert({"name": "main", "restartCount": n}, ContainerStatus)
        return msgspec.structs.replace(p, status=msgspec.structs.replace(p.status, containerStatuses=[cs]))

    j = job(backoffLimit=3)
    j.spec.template.spec.restartPolicy = "OnFailure"
    assert rules.past_limit_on_failure(j, [restarted("a", 1), restarted("b", 2)])
    assert not rules.past_limit_on_failure(j, [restarted("a", 1), restarted("b", 1)])
    zero = job(backoffLimit=0)
    zero.spec.template.spec.restartPolicy = "OnFailure"
    assert rules.past_limit_on_failure(zero, [restarted("a", 1)])
    assert not rules.past_limit_on_failure(job(backoffLimit=0), [restarted("a", 5)]), "Never: restarts do not count"


def test_an_indexed_job_counts_indexes_not_pods() -> None:
    """Two pods of index 1 both succeeded (a replacement made while the controller-manager
    restarted): status.succeeded counts index 1 once, as Kubernetes does (CI saw 21 of 20)."""
    j = job(completions=3, parallelism=3, completionMode="Indexed")
    j.status = JobStatus(succeeded=1, completedIndexes="0",
                         uncountedTerminatedPods=UncountedTerminatedPods(succeeded=["u-a", "u-b"]))
    gone = [pod("a", "Succeeded", index=1, finalizer=False), pod("b", "Succeeded", index=1, finalizer=False)]
    t = rules.track(j, gone)
    assert sorted(t.counted_succeeded) == ["u-a", "u-b"] and t.completed_indexes == {0, 1}
    assert rules.succeeded_after(j, 1, t) == 2
    assert rules.succeeded_after(job(completions=6), 4, t) == 6  # NonIndexed counts pods


def test_duplicated_index_pods_example() -> None:
    a, b, c = pod("a", "Running", index=1), pod("b", "Pending", index=1), pod("c", "Running", index=7)
    a.metadata.creationTimestamp, b.metadata.creationTimestamp = "2026-01-01T10:00:00Z", "2026-01-01T10:01:00Z"
    assert rules.duplicated_index_pods([a, b, c], 3) == [c, b]
    younger = pod("d", "Running", index=1)
    younger.metadata.creationTimestamp = "2026-01-01T10:02:00Z"
    assert rules.duplicated_index_pods([younger, a], 3) == [younger], "of two alike, the older stays"
    no_index = pod("e", "Running")
    assert rules.duplicated_index_pods([a, no_index], 3) == [no_index]


def test_a_second_live_pod_of_an_index_is_removed_and_not_replaced() -> None:
    j = job(completions=3, parallelism=3, completionMode="Indexed")
    first, second = pod("first", "Running", index=0), pod("second", "Pending", index=0)
    other = pod("other", "Running", index=1)
    decision = rules.decide(j, [first, second, other], succeeded_count=0, failed_count=0, completed=set(),
                            now=0.0, started_at=0.0)
    assert decision.delete == [second], decision
    assert decision.create == [2], "index 0 is still running: only index 2 needs a pod"
