"""A Job's failed pods judged by its podFailurePolicy and backoffLimitPerIndex (Kubernetes'
pod_failure_policy.go and the per-index back-off), pure.

Each failed pod is matched against the policy's rules in order; the first match decides:
FailJob ends the Job (reason PodFailurePolicy), FailIndex fails the pod's index, Ignore keeps
the failure out of every count (the pod is still replaced), Count (or no match) counts it.
With backoffLimitPerIndex each index counts its own failures: a replacement carries the
index's failures so far in `batch.kubernetes.io/job-index-failure-count`, and an index whose
failures exceed the limit is failed.

Worked example: rules [{FailJob, onExitCodes In [42]}, {Ignore, onPodConditions
DisruptionTarget}] and backoffLimitPerIndex 1 on an Indexed Job: a pod of index 3 exiting 1
whose annotation says 1 earlier failure makes index 3's failures 2 > 1, so index 3 fails; a
pod evicted with DisruptionTarget True is ignored; a pod exiting 42 fails the whole Job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubelite.api.batch_v1 import COUNT, FAIL_INDEX, FAIL_JOB, IGNORE, INDEX_FAILURE_COUNT, Job
from kubelite.api.core_v1 import Pod
from kubelite_controller_manager.job.rules import index_of


def _failed(pod: Pod) -> bool:
    return bool(pod.status and pod.status.phase == "Failed")


def _exit_code_match(req: Any, pod: Pod) -> tuple[str, int] | None:
    """getMatchingContainerFromList: a terminated container (non-zero exit) the requirement matches."""
    st = pod.status
    statuses = [*(st.initContainerStatuses or []), *(st.containerStatuses or [])] if st else []
    for cs in statuses:
        terminated = cs.state.terminated if cs.state else None
        if terminated is None or not terminated.exitCode:
            continue
        if req.containerName is not None and req.containerName != cs.name:
            continue
        inside = terminated.exitCode in (req.values or [])
        if inside == (req.operator == "In"):
            return cs.name or "", terminated.exitCode
    return None


def _condition_match(patterns: list[Any], pod: Pod) -> str | None:
    conditions = pod.status.conditions or [] if pod.status else []
    for pattern in patterns:
        for c in conditions:
            if c.type == pattern.type and c.status == (pattern.status or "True"):
                return c.type
    return None


def judge(job: Job, pod: Pod) -> tuple[str, str]:
    """(action, FailJob message) for a failed pod: the first rule that matches, else Count."""
    policy = job.spec.podFailurePolicy if job.spec else None
    where = f"{pod.metadata.namespace}/{pod.metadata.name}"
    for i, rule in enumerate(policy.rules or [] if policy else []):
        if rule.onExitCodes is not None:
            hit = _exit_code_match(rule.onExitCodes, pod)
            if hit is not None:
                return rule.action or COUNT, (f"Container {hit[0]} for pod {where} failed with exit code {hit[1]} "
                                              f"matching {rule.action} rule at index {i}")
        elif rule.onPodConditions:
            kind = _condition_match(rule.onPodConditions, pod)
            if kind is not None:
                return rule.action or COUNT, f"Pod {where} has condition {kind} matching {rule.action} rule at index {i}"
    return COUNT, ""


def ignored(job: Job, pod: Pod) -> bool:
    return _failed(pod) and judge(job, pod)[0] == IGNORE


def previous_failures(pod: Pod) -> int:
    raw = (pod.metadata.annotations or {}).get(INDEX_FAILURE_COUNT, "0")
    return int(raw) if raw.isdigit() else 0


def ignored_uids(job: Job, pods: list[Pod]) -> set[str]:
    """Failed pods an Ignore rule matches: never counted (tracking drops them uncounted)."""
    if job.spec is None or job.spec.podFailurePolicy is None:
        return set()
    return {p.metadata.uid or "" for p in pods if ignored(job, p)}


@dataclass
class Failures:
    fail_job: str = ""  # the FailJob message, when a rule says the Job fails
    index_failures: dict[int, int] = field(default_factory=dict)  # index -> failures so far
    failed_indexes: set[int] = field(default_factory=set)


def failures(job: Job, pods: list[Pod], already_failed: set[int]) -> Failures:
    """Judge every failed pod of the Job (finished pods stay until the Job goes, so a restarted
    controller judges them the same way)."""
    out = Failures(failed_indexes=set(already_failed))
    limit = job.spec.backoffLimitPerIndex if job.spec else None
    for pod in sorted(pods, key=lambda p: (p.metadata.creationTimestamp or "", p.metadata.name or "")):
        if not _failed(pod):
            continue
        action, message = judge(job, pod)
        if action == FAIL_JOB and not out.fail_job:
            out.fail_job = message
        if action == IGNORE:
            continue
        index = index_of(pod)
        if index is None or limit is None:
            continue
        count = previous_failures(pod) + 1
        out.index_failures[index] = max(out.index_failures.get(index, 0), count)
        if action == FAIL_INDEX or count > limit:
            out.failed_indexes.add(index)
    return out
