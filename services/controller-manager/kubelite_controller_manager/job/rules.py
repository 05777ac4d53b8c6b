"""The Job controller's rules, as pure functions over what the informers hold (Kubernetes'
pkg/controller/job/job_controller.go, cut to kubelite's subset).

Pods are tracked with the `batch.kubernetes.io/job-tracking` finalizer, so none is counted
twice or missed across controller restarts (`track`): a finished pod's uid goes into
`status.uncountedTerminatedPods` first; then its finalizer is removed; then, in one status
write, the uid leaves the list and the succeeded/failed counter goes up.

Worked example (completions 5, parallelism 2, backoffLimit 1): after 2 successes and 1
failure, with 1 pod running, `want_active` is min(2, 5 - 2) = 2 and one pod is created
(once the back-off of 10 s after the failure has passed); a second failure makes failed 2 >
backoffLimit 1, so the Job fails with BackoffLimitExceeded and the running pod is deleted.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from kubelite.api.batch_v1 import COMPLETION_INDEX, INDEXED, TRACKING_FINALIZER, Job
from kubelite.api.core_v1 import Pod

BACKOFF_BASE = 10.0  # seconds before the first replacement of a failed pod, doubled per failure
BACKOFF_MAX = 360.0  # at most 6 minutes


def finished(pod: Pod) -> bool:
    return bool(pod.status and pod.status.phase in ("Succeeded", "Failed"))


def succeeded(pod: Pod) -> bool:
    return bool(pod.status and pod.status.phase == "Succeeded")


def active(pod: Pod) -> bool:
    """Counts toward parallelism: not finished and not being deleted."""
    return not finished(pod) and pod.metadata.deletionTimestamp is None


def ready(pod: Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or [] if pod.status else []))


def tracked(pod: Pod) -> bool:
    return TRACKING_FINALIZER in (pod.metadata.finalizers or [])


def index_of(pod: Pod) -> int | None:
    raw = (pod.metadata.annotations or {}).get(COMPLETION_INDEX)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def backoff_delay(failures: int) -> float:
    """Back-off before creating a pod after `failures` failed ones: 0, 10, 20, 40, ... 360 s."""
    if failures <= 0:
        return 0.0
    return min(BACKOFF_BASE * 2 ** (failures - 1), BACKOFF_MAX)


def parse_indexes(text: str | None) -> set[int]:
    """"0-2,5" -> {0, 1, 2, 5} (status.completedIndexes)."""
    out: set[int] = set()
    for part in (text or "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def format_indexes(indexes: set[int]) -> str:
    """{0, 1, 2, 5} -> "0-2,5"."""
    runs: list[list[int]] = []
    for i in sorted(indexes):
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


@dataclass
class Tracking:
    """What `track` decided: uids to list as uncounted, pods whose finalizer to remove, and the
    counts that move (with their uids) out of the uncounted list."""

    newly_uncounted_succeeded: list[str] = field(default_factory=list)
    newly_uncounted_failed: list[str] = field(default_factory=list)
    remove_finalizer: list[Pod] = field(default_factory=list)
    counted_succeeded: list[str] = field(default_factory=list)
    counted_failed: list[str] = field(default_factory=list)
    completed_indexes: set[int] = field(default_factory=set)


def succeeded_after(job: Job, previous: int, t: Tracking) -> int:
    """status.succeeded once `t`'s counted pods are added. An Indexed Job counts indexes, not
    pods, as Kubernetes does (succeeded = succeededIndexes.total()): a second pod that succeeds
    for an index already completed (a replacement made while a controller restarted) adds
    nothing. Example: Indexed, completions 3, indexes {0, 1} completed and two pods of index 1
    counted now: 2, not 3. NonIndexed, 4 before and 2 counted now: 6."""
    if job.spec is not None and job.spec.completionMode == INDEXED:
        return len(t.completed_indexes)
    return previous + len(t.counted_succeeded)


def track(job: Job, pods: list[Pod], ignore: AbstractSet[str] = frozenset()) -> Tracking:
    """Step 1 lists finished, still-finalized pods not yet in uncountedTerminatedPods; step 2
    removes the finalizer of those listed; step 3 counts every listed uid whose pod has no
    finalizer any more (or is gone). A failure the podFailurePolicy ignores (`ignore`) is
    never listed: its finalizer comes off at once, uncounted."""
    st = job.status
    uncounted = st.uncountedTerminatedPods if st is not None else None
    listed_ok = set(uncounted.succeeded or []) if uncounted else set()
    listed_failed = set(uncounted.failed or []) if uncounted else set()
    by_uid = {p.metadata.uid or "": p for p in pods}
    t = Tracking(completed_indexes=parse_indexes(st.completedIndexes if st else None))
    for pod in pods:
        uid = pod.metadata.uid or ""
        if not (finished(pod) and tracked(pod)):
            continue
        if uid in listed_ok or uid in listed_failed or uid in ignore:
            t.remove_finalizer.append(pod)
        elif succeeded(pod):
            t.newly_uncounted_succeeded.append(uid)
        else:
            t.newly_uncounted_failed.append(uid)
    for uid in sorted(listed_ok):
        pod = by_uid.get(uid)
        if pod is None or not tracked(pod):
            t.counted_succeeded.append(uid)
            if pod is not None and (i := index_of(pod)) is not None:
                t.completed_indexes.add(i)
    for uid in sorted(listed_failed):
        pod = by_uid.get(uid)
        if pod is None or not tracked(pod):
            t.counted_failed.append(uid)
    return t


def totals(job: Job, pods: list[Pod], ignore: AbstractSet[str] = frozenset()) -> tuple[int, int, set[int]]:
    """(succeeded, failed, completed indexes) counting the pods finished but not counted yet:
    without them a sync would replace a pod that has in fact just succeeded. Ignored failures
    (`ignore`) count nowhere."""
    st = job.status
    un = st.uncountedTerminatedPods if st is not None else None
    ok, bad = set(un.succeeded or []) if un else set(), set(un.failed or []) if un else set()
    completed = parse_indexes(st.completedIndexes if st else None)
    for pod in pods:
        if finished(pod) and tracked(pod) and (pod.metadata.uid or "") not in ignore:
            (ok if succeeded(pod) else bad).add(pod.metadata.uid or "")
        if succeeded(pod) and (i := index_of(pod)) is not None:
            # every succeeded pod's index, counted or not: the cached status may not show the
            # write that counted it yet, and the index must not run again meanwhile
            completed.add(i)
    counted_ok = st.succeeded or 0 if st is not None else 0
    counted_bad = st.failed or 0 if st is not None else 0
    return counted_ok + len(ok), counted_bad + len(bad), completed


@dataclass
class Decision:
    """What one sync does: the pods to create (their completion indexes; None when NonIndexed),
    the pods to delete, and the condition the Job ends with (if it ends now)."""

    create: list[int | None] = field(default_factory=list)
    delete: list[Pod] = field(default_factory=list)
    finish: tuple[str, str, str] | None = None  # (Complete|Failed, reason, message)


def want_active(job: Job, succeeded_count: int) -> int:
    """How many pods should run: parallelism, but no more than the completions left."""
    spec = job.spec
    assert spec is not None
    parallelism = spec.parallelism if spec.parallelism is not None else 1
    if spec.completions is None:
        return 0 if succeeded_count > 0 else parallelism
    return max(0, min(parallelism, spec.completions - succeeded_count))


def past_limit_on_failure(job: Job, pods: list[Pod]) -> bool:
    """pastBackoffLimitOnFailure: with restartPolicy OnFailure a failing container restarts in
    its pod instead of failing it, so the restarts of running and pending pods count against
    backoffLimit. Example: backoffLimit 3 and two running pods whose containers restarted 1
    and 2 times: 3 >= 3, the Job fails; with backoffLimit 0 a single restart does."""
    spec = job.spec
    template = spec.template.spec if spec and spec.template else None
    if template is None or template.restartPolicy != "OnFailure":
        return False
    restarts = 0
    for pod in pods:
        st = pod.status
        if st is not None and st.phase in ("Running", "Pending"):
            restarts += sum(cs.restartCount or 0 for cs in [*(st.initContainerStatuses or []),
                                                            *(st.containerStatuses or [])])
    limit = spec.backoffLimit if spec and spec.backoffLimit is not None else 6
    return restarts > 0 if limit == 0 else restarts >= limit


def decide(job: Job, pods: list[Pod], *, succeeded_count: int, failed_count: int, completed: set[int],
           now: float, started_at: float | None, fail_job: str = "",
           failed_indexes: AbstractSet[int] = frozenset()) -> Decision:
    """The next step for a Job that has not finished (see the module's worked example).
    `fail_job` is a podFailurePolicy FailJob verdict; `failed_indexes` the indexes that
    backoffLimitPerIndex (or a FailIndex rule) gave up on."""
    spec = job.spec
    assert spec is not None
    running = [p for p in pods if active(p)]
    limit = spec.backoffLimit if spec.backoffLimit is not None else 6
    if fail_job:
        return Decision(delete=running, finish=("Failed", "PodFailurePolicy", fail_job))
    if failed_count > limit or past_limit_on_failure(job, pods):
        return Decision(delete=running, finish=("Failed", "BackoffLimitExceeded",
                                                "Job has reached the specified backoff limit"))
    deadline = spec.activeDeadlineSeconds
    if deadline is not None and started_at is not None and now - started_at >= deadline:
        return Decision(delete=running, finish=("Failed", "DeadlineExceeded",
                                                "Job was active longer than specified deadline"))
    if spec.suspend:
        return Decision(delete=running)
    # podReplacementPolicy Failed: a terminating pod still holds its place until it is gone
    occupying = running if spec.podReplacementPolicy != "Failed" else [p for p in pods if not finished(p)]
    if spec.completionMode == INDEXED:
        return _decide_indexed(job, running, occupying, completed, failed_indexes)
    if (spec.completions is not None and succeeded_count >= spec.completions) or \
            (spec.completions is None and succeeded_count > 0 and not running):
        return Decision(delete=running, finish=("Complete", "", ""))
    wanted = want_active(job, succeeded_count)
    if len(running) > wanted:
        newest_first = sorted(running, key=lambda p: p.metadata.creationTimestamp or "", reverse=True)
        return Decision(delete=newest_first[: len(running) - wanted])
    return Decision(create=[None] * max(0, wanted - len(occupying)))


def _decide_indexed(job: Job, running: list[Pod], occupying: list[Pod], completed: set[int],
                    failed: AbstractSet[int]) -> Decision:
    """Example (completions 4, parallelism 2, backoffLimitPerIndex 0): index 0 completed, index 1
    failed once: index 1 is given up, pods run for 2 and 3; when both complete the Job fails
    with FailedIndexes (every index is done, one of them failed)."""
    spec = job.spec
    assert spec is not None and spec.completions is not None
    if spec.maxFailedIndexes is not None and len(failed) > spec.maxFailedIndexes:
        return Decision(delete=running, finish=("Failed", "MaxFailedIndexesExceeded",
                                                "Job has exceeded the specified maximal number of failed indexes"))
    if len(completed | set(failed)) >= spec.completions:
        if failed:
            return Decision(delete=running, finish=("Failed", "FailedIndexes", "Job has failed indexes"))
        return Decision(delete=running, finish=("Complete", "", ""))
    # a pod for an index already completed (or given up) is not needed any more, nor a second
    # live pod of one index (a restarted controller may have made one), nor one without a valid index
    surplus = [p for p in running if index_of(p) in completed or index_of(p) in failed]
    surplus += duplicated_index_pods([p for p in running if p not in surplus], spec.completions)
    busy = {i for p in occupying if (i := index_of(p)) is not None and p not in surplus}
    parallelism = spec.parallelism if spec.parallelism is not None else 1
    free = max(0, parallelism - (len(occupying) - len(surplus)))
    pending = [i for i in range(spec.completions) if i not in completed and i not in failed and i not in busy]
    return Decision(create=list(pending[:free]), delete=surplus)


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def _established(pod: Pod) -> tuple[bool, int, bool]:
    """How far along a live pod is, in Kubernetes' controller.ActivePods order (the least
    is removed first): on a node before on none, Running before Unknown before Pending, ready
    before not."""
    phase = pod.status.phase if pod.status else ""
    return bool(pod.spec and pod.spec.nodeName), _PHASE_RANK.get(phase or "", 0), ready(pod)


def duplicated_index_pods(active_pods: list[Pod], completions: int) -> list[Pod]:
    """The live pods to remove so that each index has one (Kubernetes'
    appendDuplicatedIndexPodsForRemoval): every pod without an index or with one out of range,
    and for an index with n pods the n - 1 least established (on no node, earlier in their
    life, not ready, the younger). Example, completions 3: pods a (index 1, Running, created
    10:00), b (index 1, Pending, 10:01), c (index 7): b and c are removed, a is kept."""
    by_index: dict[int, list[Pod]] = {}
    remove: list[Pod] = []
    for pod in active_pods:
        i = index_of(pod)
        if i is None or not 0 <= i < completions:
            remove.append(pod)
        else:
            by_index.setdefault(i, []).append(pod)
    for pods in by_index.values():
        if len(pods) > 1:
            oldest_first = sorted(pods, key=lambda p: p.metadata.creationTimestamp or "")
            keep = max(oldest_first, key=_established)  # of equals, max keeps the first: the oldest
            remove += [p for p in pods if p is not keep]
    return remove
