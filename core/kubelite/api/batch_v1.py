"""batch/v1 Job and CronJob. Field names follow k8s.io/api/batch/v1/types.go; every field is optional
so validation, not decoding, reports what is missing."""

from kubelite.api.base import Model
from kubelite.api.core_v1 import LabelSelector, ObjectReference, PodTemplateSpec
from kubelite.api.meta import Object, ObjectMeta
from kubelite.api.scheme import ResourceInfo, register

GROUP = "batch"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"  # annotation and label of an Indexed Job's pod
TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
NON_INDEXED, INDEXED = "NonIndexed", "Indexed"
INDEX_FAILURE_COUNT = "batch.kubernetes.io/job-index-failure-count"  # annotation: the index's earlier failures
FAIL_JOB, FAIL_INDEX, IGNORE, COUNT = "FailJob", "FailIndex", "Ignore", "Count"  # podFailurePolicy actions


class PodFailurePolicyOnExitCodesRequirement(Model):
    containerName: str | None = None
    operator: str | None = None  # In | NotIn
    values: list[int] | None = None


class PodFailurePolicyOnPodConditionsPattern(Model):
    type: str | None = None
    status: str | None = None  # True | False | Unknown


class PodFailurePolicyRule(Model):
    action: str | None = None  # FailJob | FailIndex | Ignore | Count
    onExitCodes: PodFailurePolicyOnExitCodesRequirement | None = None
    onPodConditions: list[PodFailurePolicyOnPodConditionsPattern] | None = None


class PodFailurePolicy(Model):
    rules: list[PodFailurePolicyRule] | None = None


class JobSpec(Model):
    parallelism: int | None = None
    completions: int | None = None
    activeDeadlineSeconds: int | None = None
    backoffLimit: int | None = None
    selector: LabelSelector | None = None
    manualSelector: bool | None = None
    template: PodTemplateSpec | None = None
    ttlSecondsAfterFinished: int | None = None
    completionMode: str | None = None
    suspend: bool | None = None
    podReplacementPolicy: str | None = None
    podFailurePolicy: PodFailurePolicy | None = None
    backoffLimitPerIndex: int | None = None
    maxFailedIndexes: int | None = None
    # accepted only when absent (validation says so): not implemented yet
    successPolicy: dict | None = None
    managedBy: str | None = None


class JobCondition(Model):
    type: str | None = None  # Complete | Failed | Suspended | FailureTarget | SuccessCriteriaMet
    status: str | None = None
    lastProbeTime: str | None = None
    lastTransitionTime: str | None = None
    reason: str | None = None
    message: str | None = None


class UncountedTerminatedPods(Model):
    succeeded: list[str] | None = None
    failed: list[str] | None = None


class JobStatus(Model):
    conditions: list[JobCondition] | None = None
    startTime: str | None = None
    completionTime: str | None = None
    active: int | None = None
    succeeded: int | None = None
    failed: int | None = None
    terminating: int | None = None
    completedIndexes: str | None = None
    failedIndexes: str | None = None
    uncountedTerminatedPods: UncountedTerminatedPods | None = None
    ready: int | None = None


class Job(Object):
    spec: JobSpec | None = None
    status: JobStatus | None = None


JOBS = register(ResourceInfo(
    group=GROUP, version="v1", kind="Job", plural="jobs", singular="job",
    namespaced=True, type=Job, subresources=("status",), categories=("all",),
))


# --------------------------------------------------------------------------
# CronJob
# --------------------------------------------------------------------------

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"  # annotation of a Job it created


class JobTemplateSpec(Model):
    metadata: ObjectMeta | None = None
    spec: JobSpec | None = None


class CronJobSpec(Model):
    schedule: str | None = None
    timeZone: str | None = None
    startingDeadlineSeconds: int | None = None
    concurrencyPolicy: str | None = None  # Allow | Forbid | Replace
    suspend: bool | None = None
    jobTemplate: JobTemplateSpec | None = None
    successfulJobsHistoryLimit: int | None = None
    failedJobsHistoryLimit: int | None = None


class CronJobStatus(Model):
    active: list[ObjectReference] | None = None
    lastScheduleTime: str | None = None
    lastSuccessfulTime: str | None = None


class CronJob(Object):
    spec: CronJobSpec | None = None
    status: CronJobStatus | None = None


CRONJOBS = register(ResourceInfo(
    group=GROUP, version="v1", kind="CronJob", plural="cronjobs", singular="cronjob",
    namespaced=True, type=CronJob, short_names=("cj",), subresources=("status",), categories=("all",),
))
