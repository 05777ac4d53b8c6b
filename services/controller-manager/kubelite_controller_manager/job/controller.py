"""The Job controller (Kubernetes' pkg/controller/job): runs a Job's pods to completion.

Keyed by Job. One sync: count finished pods exactly once (`rules.track`, with the
tracking finalizer), then `rules.decide` what to create or delete and whether the Job
ends (Complete, or Failed with BackoffLimitExceeded / DeadlineExceeded), then write
status. Suspending deletes the active pods; `ttlSecondsAfterFinished` deletes the
finished Job (its pods go with it, through the garbage collector). Pods of a Job that
is gone lose their finalizer so they can be deleted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import msgspec

from kubelite.api.batch_v1 import (
    COMPLETION_INDEX,
    INDEX_FAILURE_COUNT,
    INDEXED,
    JOBS,
    TRACKING_FINALIZER,
    Job,
    JobCondition,
    JobStatus,
    UncountedTerminatedPods,
)
from kubelite.api.core_v1 import PODS, EnvVar, EnvVarSource, ObjectFieldSelector, Pod
from kubelite.api.meta import ObjectMeta
from kubelite.errors import APIError
from kubelite.printers import parse_time
from kubelite.reconcile.cache import INDEX_OWNER, key_of, split_key
from kubelite.reconcile.controller import Controller
from kubelite.reconcile.controller_ref import controller_ref, resolve_owner
from kubelite.reconcile.expectations import ControllerExpectations
from kubelite.reconcile.writes import typed, write_status
from kubelite.timefmt import rfc3339
from kubelite_controller_manager.job import failures, rules

if TYPE_CHECKING:
    from kubelite_controller_manager.app import ControllerContext

log = logging.getLogger(__name__)

CONTROLLER_NAME = "job-controller"


def pod_for(job: Job, index: int | None, index_failures: int = 0) -> Pod:
    """A pod from the template: generateName `<job>-` (`<job>-<index>-`), the tracking finalizer,
    a controller reference; an Indexed Job's pod carries its index (annotation, label,
    JOB_COMPLETION_INDEX) and the hostname `<job>-<index>`, and with backoffLimitPerIndex the
    index's failures so far."""
    spec = job.spec
    assert spec is not None and spec.template is not None
    tmeta = spec.template.metadata or ObjectMeta()
    pod_spec = msgspec.structs.replace(spec.template.spec) if spec.template.spec else None
    labels, annotations = dict(tmeta.labels or {}), dict(tmeta.annotations or {})
    name = job.metadata.name or ""
    prefix = f"{name}-"
    if index is not None and pod_spec is not None:
        labels[COMPLETION_INDEX] = annotations[COMPLETION_INDEX] = str(index)
        if spec.backoffLimitPerIndex is not None:
            annotations[INDEX_FAILURE_COUNT] = str(index_failures)
        prefix = f"{name}-{index}-"
        pod_spec.hostname = pod_spec.hostname or f"{name}-{index}"
        env = EnvVar(name="JOB_COMPLETION_INDEX", valueFrom=EnvVarSource(fieldRef=ObjectFieldSelector(
            fieldPath=f"metadata.annotations['{COMPLETION_INDEX}']")))
        pod_spec.containers = [msgspec.structs.replace(c, env=[*(c.env or []), env]) for c in pod_spec.containers or []]
        pod_spec.initContainers = [msgspec.structs.replace(c, env=[*(c.env or []), env])
                                   for c in pod_spec.initContainers or []] or None
    return Pod(apiVersion="v1", kind="Pod", spec=pod_spec, metadata=ObjectMeta(
        generateName=prefix, namespace=job.metadata.namespace, labels=labels or None,
        annotations=annotations or None, finalizers=[*(tmeta.finalizers or []), TRACKING_FINALIZER],
        ownerReferences=[controller_ref(job, "batch/v1", "Job")]))


def _condition(st: JobStatus, kind: str) -> JobCondition | None:
    return next((c for c in st.conditions or [] if c.type == kind), None)


def _set_condition(st: JobStatus, kind: str, status: str, reason: str, message: str, now: str) -> None:
    current = _condition(st, kind)
    if current is not None and (current.status, current.reason) == (status, reason):
        return
    fresh = JobCondition(type=kind, status=status, reason=reason or None, message=message or None,
                         lastProbeTime=now, lastTransitionTime=now)
    st.conditions = [c for c in st.conditions or [] if c.type != kind] + [fresh]


def is_finished(job: Job) -> bool:
    st = job.status
    return st is not None and any(c.type in ("Complete", "Failed") and c.status == "True"
                                  for c in st.conditions or [])


def _epoch(text: str | None) -> float | None:
    when = parse_time(text)
    return when.timestamp() if when is not None else None


class JobController(Controller):
    name = "job"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(workers=5, name="job")
        self.ctx = ctx
        self.api = ctx.api
        self.jobs = ctx.informers.get(JOBS)
        self.pods = ctx.informers.get(PODS)
        self.expectations = ControllerExpectations()
        self.last_failure: dict[str, float] = {}  # job key -> when a failure was last counted
        self.watch(self.jobs)
        self.jobs.add_handler(on_delete=self._job_deleted)
        self.pods.add_handler(on_add=self._pod_added, on_update=lambda _o, n: self._pod_changed(n),
                              on_delete=self._pod_changed)
        self.informers.append(self.pods)

    # -- events ------------------------------------------------------------------
    def _job_deleted(self, job: Job) -> None:
        self.expectations.delete(key_of(job))
        self.last_failure.pop(key_of(job), None)
        for pod in self.pods.by_index(INDEX_OWNER, job.metadata.uid or ""):
            self.queue.add(("orphan", key_of(pod)))

    def _pod_added(self, pod: Pod) -> None:
        """A pod this controller created has come back through the watch (once, on add: an
        update must not count as another creation, or expectations would clear early)."""
        job = resolve_owner(pod, "Job", self.jobs.get)
        if job is not None and pod.metadata.deletionTimestamp is None:
            self.expectations.creation_observed(key_of(job))
        self._pod_changed(pod)

    def _pod_changed(self, pod: Pod) -> None:
        job = resolve_owner(pod, "Job", self.jobs.get)
        if job is not None:
            self.queue.add(key_of(job))
        elif rules.tracked(pod) and any(r.kind == "Job" for r in pod.metadata.ownerReferences or []):
            self.queue.add(("orphan", key_of(pod)))

    # -- reconcile ---------------------------------------------------------------
    async def reconcile(self, key: Any) -> None:
        if isinstance(key, tuple):
            await self._release_orphan(key[1])
            return
        ns, name = split_key(key)
        job: Job | None = self.jobs.get(ns, name)
        if job is None or job.spec is None:
            self.expectations.delete(key)
            return
        if is_finished(job):
            await self._finished(key, job)
            return
        pods = [p for p in self.pods.by_index(INDEX_OWNER, job.metadata.uid or "")]
        job = await self._track(key, job, pods)
        if not self.expectations.satisfied(key) or job.metadata.deletionTimestamp is not None:
            return
        await self._manage(key, job, pods)

    async def _track(self, key: str, job: Job, pods: list[Pod]) -> Job:
        """Count finished pods exactly once (rules.track), in up to two status writes."""
        t = rules.track(job, pods, failures.ignored_uids(job, pods))
        st = msgspec.structs.replace(job.status or JobStatus())
        if t.newly_uncounted_succeeded or t.newly_uncounted_failed:
            un = st.uncountedTerminatedPods or UncountedTerminatedPods()
            st.uncountedTerminatedPods = UncountedTerminatedPods(
                succeeded=sorted({*(un.succeeded or []), *t.newly_uncounted_succeeded}) or None,
                failed=sorted({*(un.failed or []), *t.newly_uncounted_failed}) or None)
            job = await self._write_status(job, st)
            return job  # finalizers come off in the next sync, after this write is stored
        for pod in t.remove_finalizer:
            await self._drop_finalizer(pod)
        if t.counted_succeeded or t.counted_failed:
            un = st.uncountedTerminatedPods or UncountedTerminatedPods()
            st.succeeded = rules.succeeded_after(job, st.succeeded or 0, t)
            st.failed = (st.failed or 0) + len(t.counted_failed)
            left_ok = [u for u in un.succeeded or [] if u not in t.counted_succeeded]
            left_failed = [u for u in un.failed or [] if u not in t.counted_failed]
            st.uncountedTerminatedPods = UncountedTerminatedPods(succeeded=left_ok or None, failed=left_failed or None)
            if job.spec is not None and job.spec.completionMode == INDEXED:
                st.completedIndexes = rules.format_indexes(t.completed_indexes) or None
            if t.counted_failed:
                self.last_failure[key] = time.time()
            job = await self._write_status(job, st)
        return job

    async def _manage(self, key: str, job: Job, pods: list[Pod]) -> None:
        spec, st = job.spec, msgspec.structs.replace(job.status or JobStatus())
        assert spec is not None
        now, stamp = time.time(), rfc3339()
        if spec.suspend:
            _set_condition(st, "Suspended", "True", "JobSuspended", "Job suspended", stamp)
        elif (cond := _condition(st, "Suspended")) is not None and cond.status == "True":
            _set_condition(st, "Suspended", "False", "JobResumed", "Job resumed", stamp)
            st.startTime = stamp  # the deadline counts from the resume
        if not spec.suspend and st.startTime is None:
            st.startTime = stamp
        ok, bad, completed = rules.totals(job, pods, failures.ignored_uids(job, pods))
        judged = failures.failures(job, pods, rules.parse_indexes(st.failedIndexes))
        if spec.backoffLimitPerIndex is not None:
            st.failedIndexes = rules.format_indexes(judged.failed_indexes) or None
        decision = rules.decide(job, pods, succeeded_count=ok, failed_count=bad, completed=completed, now=now,
                                started_at=_epoch(st.startTime), fail_job=judged.fail_job,
                                failed_indexes=judged.failed_indexes)
        for pod in decision.delete:
            await self._delete_pod(job, pod)
        counted = (st.succeeded or 0) + (st.failed or 0)
        if decision.finish is not None and ok + bad > counted:
            # as Kubernetes: the Job ends only once every finished pod is counted (the tracking
            # writes above move them); the pods' next updates bring it back here
            self.queue.add_after(key, 0.5)
        elif decision.finish is not None:
            kind, reason, message = decision.finish
            _set_condition(st, kind, "True", reason, message, stamp)
            if kind == "Complete":
                st.completionTime = stamp
            await self._decide(job, kind if kind == "Complete" else reason, message or f"Job {kind.lower()}")
        elif decision.create:
            await self._create_when_backed_off(key, job, decision.create, bad, judged, now)
        if spec.activeDeadlineSeconds is not None and st.startTime and decision.finish is None and not spec.suspend:
            started = _epoch(st.startTime) or now
            self.queue.add_after(key, max(0.1, started + spec.activeDeadlineSeconds - now))
        running = [p for p in pods if rules.active(p) and p not in decision.delete]
        st.active = len(running)
        st.ready = sum(1 for p in running if rules.ready(p))
        st.terminating = sum(1 for p in pods if p.metadata.deletionTimestamp is not None) + len(decision.delete)
        if st != job.status:
            await self._write_status(job, st)

    def _backoff_left(self, key: str, count: int, now: float) -> float:
        last = self.last_failure.get(key)
        return 0.0 if last is None else max(0.0, last + rules.backoff_delay(count) - now)

    async def _create_when_backed_off(self, key: str, job: Job, indexes: list[int | None], bad: int,
                                      judged: failures.Failures, now: float) -> None:
        """Pods after the back-off: the Job's failures count, or with backoffLimitPerIndex each
        index's own (an index that never failed starts at once)."""
        per_index = job.spec is not None and job.spec.backoffLimitPerIndex is not None
        if not per_index:
            wait = self._backoff_left(key, bad, now)
            if wait > 0:
                self.queue.add_after(key, wait)
                return
            await self._create_pods(key, job, indexes)
            return
        waits = {i: self._backoff_left(key, judged.index_failures.get(i, 0), now) if i in judged.index_failures
                 else 0.0 for i in indexes if i is not None}
        ready = [i for i, w in waits.items() if w <= 0]
        later = [w for w in waits.values() if w > 0]
        if later:
            self.queue.add_after(key, min(later))
        if ready:
            await self._create_pods(key, job, list(ready), judged.index_failures)

    async def _finished(self, key: str, job: Job) -> None:
        """A finished Job: its last pods are counted; with ttlSecondsAfterFinished it is deleted."""
        pods = self.pods.by_index(INDEX_OWNER, job.metadata.uid or "")
        job = await self._track(key, job, pods)
        for pod in pods:
            if rules.active(pod):
                await self._delete_pod(job, pod)
        ttl = job.spec.ttlSecondsAfterFinished if job.spec else None
        if ttl is None or job.metadata.deletionTimestamp is not None:
            return
        ended = max((_epoch(c.lastTransitionTime) or 0.0 for c in (job.status.conditions or [])
                     if c.type in ("Complete", "Failed")), default=time.time()) if job.status else time.time()
        left = ended + ttl - time.time()
        if left > 0:
            self.queue.add_after(key, left)
            return
        try:
            await self.api.delete(JOBS, job.metadata.namespace or "", job.metadata.name or "",
                                  uid=job.metadata.uid or "", propagation="Background")
            log.info("job %s: deleted %ss after it finished (ttlSecondsAfterFinished)", key, ttl)
        except APIError as exc:
            if exc.code not in (404, 409):
                raise

    # -- writes ------------------------------------------------------------------
    async def _write_status(self, job: Job, st: JobStatus) -> Job:
        return await write_status(self.api, job, st) or job

    async def _create_pods(self, key: str, job: Job, indexes: list[int | None],
                           index_failures: dict[int, int] | None = None) -> None:
        self.expectations.expect_creations(key, len(indexes))
        counts = index_failures or {}
        results = await asyncio.gather(*(self._create_one(job, i, counts.get(i, 0) if i is not None else 0)
                                         for i in indexes))
        failed = sum(1 for ok in results if not ok)
        if failed:
            self.expectations.creations_failed(key, failed)
        if len(indexes) - failed:
            await self._decide(job, "SuccessfulCreate", f"Created {len(indexes) - failed} pod(s)")

    async def _create_one(self, job: Job, index: int | None, index_failures: int) -> bool:
        try:
            pod = await self.api.create(pod_for(job, index, index_failures), namespace=job.metadata.namespace or "")
        except APIError as exc:
            self.ctx.recorder.event(typed(job), "Warning", "FailedCreate", f"Error creating: {exc.message}")
            return False
        self.ctx.recorder.event(typed(job), "Normal", "SuccessfulCreate", f"Created pod: {pod.metadata.name}")
        return True

    async def _delete_pod(self, job: Job, pod: Pod) -> None:
        try:
            await self.api.delete(PODS, pod.metadata.namespace or "", pod.metadata.name or "",
                                  uid=pod.metadata.uid or "")
            self.ctx.recorder.event(typed(job), "Normal", "SuccessfulDelete",
                                    f"Deleted pod: {pod.metadata.name}")
        except APIError as exc:
            if exc.code != 404:
                raise

    async def _drop_finalizer(self, pod: Pod) -> None:
        left = [f for f in pod.metadata.finalizers or [] if f != TRACKING_FINALIZER]
        patch = {"metadata": {"finalizers": left or None, "resourceVersion": pod.metadata.resourceVersion}}
        try:
            await self.api.patch(PODS, pod.metadata.namespace or "", pod.metadata.name or "", patch)
        except APIError as exc:
            if exc.code not in (404, 409):  # gone, or changed: the next sync looks again
                raise

    async def _release_orphan(self, pod_key: str) -> None:
        """A tracked pod whose Job is gone keeps no finalizer (else it could never go away)."""
        ns, name = split_key(pod_key)
        pod = self.pods.get(ns, name)
        if pod is not None and rules.tracked(pod) and resolve_owner(pod, "Job", self.jobs.get) is None:
            await self._drop_finalizer(pod)

    async def _decide(self, job: Job, reason: str, message: str) -> None:
        await self.ctx.decisions.publish(CONTROLLER_NAME, typed(job), reason, message)


def new_controller(ctx: ControllerContext) -> JobController:
    return JobController(ctx)


__all__ = ["JobController", "new_controller", "pod_for"]
