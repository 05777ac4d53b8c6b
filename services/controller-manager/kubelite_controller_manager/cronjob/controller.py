"""The CronJob controller (Kubernetes' pkg/controller/cronjob, v2): creates a Job at each
scheduled time, keeps `status.active` and the Job history, and wakes itself for the next
time (so a Job starts within a second of its scheduled minute).

One sync: drop finished or vanished Jobs from `status.active` (noting lastSuccessfulTime),
delete Jobs beyond the history limits, then ask `cron.due` for the latest scheduled time
since `lastScheduleTime` (or creation). A time older than `startingDeadlineSeconds` is
missed; `concurrencyPolicy` Forbid skips while a Job runs, Replace deletes the running ones.
The Job is named `<cronjob>-<minutes since the epoch>`, so a controller restarted after
creating it finds the name taken and creates nothing twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec

from kubelite.api import cron
from kubelite.api.batch_v1 import CRONJOBS, JOBS, SCHEDULED_TIMESTAMP, CronJob, CronJobStatus, Job
from kubelite.api.core_v1 import ObjectReference
from kubelite.api.meta import ObjectMeta
from kubelite.errors import APIError
from kubelite.printers import parse_time
from kubelite.reconcile.cache import INDEX_OWNER, key_of, split_key
from kubelite.reconcile.controller import Controller
from kubelite.reconcile.controller_ref import controller_ref, resolve_owner
from kubelite.timefmt import rfc3339

if TYPE_CHECKING:
    from kubelite_controller_manager.app import ControllerContext

log = logging.getLogger(__name__)

CONTROLLER_NAME = "cronjob-controller"


def job_name(cj: CronJob, scheduled: datetime) -> str:
    return f"{cj.metadata.name}-{cron.minutes(scheduled)}"


def job_for(cj: CronJob, scheduled: datetime) -> Job:
    """getJobFromTemplate2: the template's labels, annotations and spec, the scheduled time as an
    annotation, a controller reference, the deterministic name."""
    template = cj.spec.jobTemplate if cj.spec else None
    tmeta = (template.metadata if template else None) or ObjectMeta()
    return Job(apiVersion="batch/v1", kind="Job", spec=template.spec if template else None, metadata=ObjectMeta(
        name=job_name(cj, scheduled), namespace=cj.metadata.namespace,
        labels=dict(tmeta.labels) if tmeta.labels else None,
        annotations={**(tmeta.annotations or {}), SCHEDULED_TIMESTAMP: rfc3339(scheduled.timestamp())},
        ownerReferences=[controller_ref(cj, "batch/v1", "CronJob")]))


def finished_as(job: Job) -> str:
    """"Complete", "Failed" or "" (still running)."""
    for c in (job.status.conditions or []) if job.status else []:
        if c.type in ("Complete", "Failed") and c.status == "True":
            return c.type or ""
    return ""


def _ref(job: Job) -> ObjectReference:
    return ObjectReference(kind="Job", apiVersion="batch/v1", name=job.metadata.name,
                           namespace=job.metadata.namespace, uid=job.metadata.uid,
                           resourceVersion=job.metadata.resourceVersion)


class CronJobController(Controller):
    name = "cronjob"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(workers=2, name="cronjob")
        self.ctx = ctx
        self.api = ctx.api
        self.cronjobs = ctx.informers.get(CRONJOBS)
        self.jobs = ctx.informers.get(JOBS)
        self.watch(self.cronjobs)
        self.watch(self.jobs, key_fn=self._owner_key)

    def _owner_key(self, job: Job) -> str | None:
        owner = resolve_owner(job, "CronJob", self.cronjobs.get)
        return key_of(owner) if owner is not None else None

    # -- reconcile ---------------------------------------------------------------
    async def reconcile(self, key: str) -> None:
        ns, name = split_key(key)
        cj: CronJob | None = self.cronjobs.get(ns, name)
        if cj is None or cj.spec is None:
            return
        now = self.ctx.now().astimezone(UTC)
        jobs = [j for j in self.jobs.by_index(INDEX_OWNER, cj.metadata.uid or "") if isinstance(j, Job)]
        st = msgspec.structs.replace(cj.status or CronJobStatus())
        self._refresh_active(st, jobs)
        await self._clean_history(cj, jobs)
        if cj.metadata.deletionTimestamp is None and not cj.spec.suspend:
            await self._schedule(key, cj, st, jobs, now)
        if st != cj.status:
            await self._write_status(cj, st)

    def _refresh_active(self, st: CronJobStatus, jobs: list[Job]) -> None:
        running = {j.metadata.uid for j in jobs if not finished_as(j)}
        st.active = [r for r in st.active or [] if r.uid in running] or None
        for job in jobs:
            if finished_as(job) == "Complete" and job.status and job.status.completionTime:
                last = parse_time(st.lastSuccessfulTime)
                done = parse_time(job.status.completionTime)
                if done is not None and (last is None or done > last):
                    st.lastSuccessfulTime = job.status.completionTime
        known = {r.uid for r in st.active or []}
        # a Job created by a sync whose status write was lost is still ours and running
        missing = [_ref(j) for j in jobs if j.metadata.uid in running and j.metadata.uid not in known]
        if missing:
            st.active = [*(st.active or []), *missing]

    async def _schedule(self, key: str, cj: CronJob, st: CronJobStatus, jobs: list[Job], now: datetime) -> None:
        spec = cj.spec
        assert spec is not None and spec.schedule is not None
        earliest = parse_time(st.lastScheduleTime) or parse_time(cj.metadata.creationTimestamp) or now
        if spec.startingDeadlineSeconds is not None:  # older times are missed, not run late
            earliest = max(earliest, datetime.fromtimestamp(now.timestamp() - spec.startingDeadlineSeconds, UTC))
        when = cron.due(spec.schedule, spec.timeZone, earliest, now)
        self.queue.add_after(key, max(0.05, (when.next - now).total_seconds()))
        if when.last is None:
            return
        if when.missed > cron.TOO_MANY_MISSED:
            self.ctx.recorder.event(self._typed(cj), "Warning", "TooManyMissedTimes",
                                    f"too many missed start times: {when.missed}. Set or decrease "
                                    ".spec.startingDeadlineSeconds or check clock skew")
        if spec.concurrencyPolicy == "Forbid" and st.active:
            return  # the next scheduled time tries again
        if spec.concurrencyPolicy == "Replace":
            for ref in st.active or []:
                await self._delete_job(cj, ref.name or "", ref.uid or "")
            st.active = None
        job = await self._create_job(cj, when.last)
        if job is not None:
            st.active = [*(st.active or []), _ref(job)]
        st.lastScheduleTime = rfc3339(when.last.timestamp())

    async def _create_job(self, cj: CronJob, scheduled: datetime) -> Job | None:
        try:
            job = await self.api.create(job_for(cj, scheduled), namespace=cj.metadata.namespace or "")
        except APIError as exc:
            if exc.code == 409:  # made already (by this controller before a restart): not twice
                return None
            self.ctx.recorder.event(self._typed(cj), "Warning", "FailedCreate", f"Error creating job: {exc.message}")
            raise
        self.ctx.recorder.event(self._typed(cj), "Normal", "SuccessfulCreate", f"Created job {job.metadata.name}")
        await self.ctx.decisions.publish(CONTROLLER_NAME, self._typed(cj), "SuccessfulCreate",
                                         f"Created job {job.metadata.name}", scheduled=rfc3339(scheduled.timestamp()))
        return job

    async def _clean_history(self, cj: CronJob, jobs: list[Job]) -> None:
        """Keep the newest successfulJobsHistoryLimit Complete Jobs and failedJobsHistoryLimit Failed ones."""
        spec = cj.spec
        assert spec is not None
        for kind, limit in (("Complete", spec.successfulJobsHistoryLimit), ("Failed", spec.failedJobsHistoryLimit)):
            if limit is None:
                continue
            done = sorted((j for j in jobs if finished_as(j) == kind and j.metadata.deletionTimestamp is None),
                          key=lambda j: (j.status.startTime or "") if j.status else "")
            for job in done[: max(0, len(done) - limit)]:
                await self._delete_job(cj, job.metadata.name or "", job.metadata.uid or "")

    async def _delete_job(self, cj: CronJob, name: str, uid: str) -> None:
        try:
            await self.api.delete(JOBS, cj.metadata.namespace or "", name, uid=uid, propagation="Background")
            self.ctx.recorder.event(self._typed(cj), "Normal", "SuccessfulDelete", f"Deleted job {name}")
        except APIError as exc:
            if exc.code not in (404, 409):
                raise

    async def _write_status(self, cj: CronJob, st: CronJobStatus) -> None:
        try:
            await self.api.update_status(msgspec.structs.replace(self._typed(cj), status=st))
        except APIError as exc:
            if exc.code not in (404, 409):  # gone, or changed: the next sync writes it again
                raise

    @staticmethod
    def _typed(cj: CronJob) -> CronJob:
        return msgspec.structs.replace(cj, apiVersion="batch/v1", kind="CronJob")


def new_controller(ctx: ControllerContext) -> CronJobController:
    return CronJobController(ctx)
