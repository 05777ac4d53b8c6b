"""Validation of batch/v1 Job and CronJob, after pkg/apis/batch/validation.

Fields kubelite does not implement yet (successPolicy, managedBy) are refused with a clear
error rather than accepted and ignored.
"""

from __future__ import annotations

from typing import Any

from kubelite.api.batch_v1 import INDEXED, NON_INDEXED, CronJob, Job
from kubelite.api.cron import schedule_error, zone_error
from kubelite.api.labels import selector_from_label_selector
from kubelite.api.meta import ObjectMeta
from kubelite.api.validation.core import validate_label_selector, validate_pod_template_spec
from kubelite.api.validation.names import (
    FIELD_IMMUTABLE,
    name_is_dns_subdomain,
    validate_nonnegative,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.errors import FieldError, forbidden, invalid, not_supported, required

RESTART_POLICIES = ["OnFailure", "Never"]
NOT_YET = ("successPolicy", "managedBy")
REPLACEMENT_POLICIES = ["Failed", "TerminatingOrFailed"]
POLICY_ACTIONS = ["Count", "FailIndex", "FailJob", "Ignore"]
EXIT_CODE_OPERATORS = ["In", "NotIn"]
CONDITION_STATUSES = ["False", "True", "Unknown"]
MAX_POLICY_RULES = 20
MAX_EXIT_CODES = 255
MAX_PER_INDEX_COMPLETIONS = 100_000  # Kubernetes' cap on completions with backoffLimitPerIndex


def _meta(obj: Any) -> ObjectMeta:
    return obj.metadata if obj.metadata is not None else ObjectMeta()


def _selector_matches_template(spec: Any) -> list[FieldError]:
    selector, template = spec.selector, spec.template
    if selector is None:
        return [required("spec.selector")]
    errs = validate_label_selector(selector, "spec.selector")
    if template is None:
        return errs
    labels = (template.metadata.labels if template.metadata else None) or {}
    try:
        if not selector_from_label_selector(selector).matches(labels):
            errs.append(invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`"))
    except ValueError:
        errs.append(invalid("spec.selector", selector, "invalid label selector"))
    return errs


def _counts(spec: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for field in ("parallelism", "completions", "backoffLimit", "ttlSecondsAfterFinished"):
        errs += validate_nonnegative(getattr(spec, field), f"{path}.{field}")
    if spec.activeDeadlineSeconds is not None and spec.activeDeadlineSeconds <= 0:
        errs.append(invalid(f"{path}.activeDeadlineSeconds", spec.activeDeadlineSeconds, "must be greater than 0"))
    mode = spec.completionMode or NON_INDEXED
    if mode not in (NON_INDEXED, INDEXED):
        errs.append(not_supported(f"{path}.completionMode", mode, [NON_INDEXED, INDEXED]))
    elif mode == INDEXED and spec.completions is None:
        errs.append(required(f"{path}.completions", "when completion mode is Indexed"))
    return errs


def _not_yet(spec: Any, path: str) -> list[FieldError]:
    errs = [forbidden(f"{path}.{f}", "not supported by kubelite yet") for f in NOT_YET if getattr(spec, f) is not None]
    policy = spec.podReplacementPolicy
    if policy not in (None, *REPLACEMENT_POLICIES):
        errs.append(not_supported(f"{path}.podReplacementPolicy", policy, REPLACEMENT_POLICIES))
    elif spec.podFailurePolicy is not None and policy == "TerminatingOrFailed":
        errs.append(not_supported(f"{path}.podReplacementPolicy", policy, ["Failed"]))
    return errs


def _per_index(spec: Any, path: str) -> list[FieldError]:
    errs = validate_nonnegative(spec.backoffLimitPerIndex, f"{path}.backoffLimitPerIndex")
    errs += validate_nonnegative(spec.maxFailedIndexes, f"{path}.maxFailedIndexes")
    if spec.backoffLimitPerIndex is not None:
        if (spec.completionMode or NON_INDEXED) != INDEXED:
            errs.append(invalid(f"{path}.backoffLimitPerIndex", spec.backoffLimitPerIndex,
                                "requires indexed completion mode"))
        elif spec.completions is not None and spec.completions > MAX_PER_INDEX_COMPLETIONS:
            errs.append(invalid(f"{path}.completions", spec.completions,
                                f"must be less than or equal to {MAX_PER_INDEX_COMPLETIONS} when "
                                "backoffLimitPerIndex is specified"))
    if spec.maxFailedIndexes is not None:
        if spec.backoffLimitPerIndex is None:
            errs.append(required(f"{path}.backoffLimitPerIndex",
                                 "when maxFailedIndexes is specified"))
        elif spec.completions is not None and spec.maxFailedIndexes > spec.completions:
            errs.append(invalid(f"{path}.maxFailedIndexes", spec.maxFailedIndexes,
                                "must be less than or equal to completions"))
    return errs


def _exit_codes(req: Any, container_names: set[str], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if req.containerName is not None and req.containerName not in container_names:
        errs.append(invalid(f"{path}.containerName", req.containerName,
                            "must be one of the container or initContainer names in the pod template"))
    if req.operator not in EXIT_CODE_OPERATORS:
        errs.append(not_supported(f"{path}.operator", req.operator or "", EXIT_CODE_OPERATORS))
    values = req.values or []
    if not values:
        errs.append(invalid(f"{path}.values", values, "at least one value is required"))
    if len(values) > MAX_EXIT_CODES:
        errs.append(invalid(f"{path}.values", len(values), f"must have at most {MAX_EXIT_CODES} items"))
    for i, v in enumerate(values):
        if req.operator == "In" and v == 0:
            errs.append(invalid(f"{path}.values[{i}]", v, "must not be 0 for the In operator"))
        if i > 0 and values[i - 1] == v:
            errs.append(invalid(f"{path}.values[{i}]", v, "must be unique"))
        elif i > 0 and values[i - 1] > v:
            errs.append(invalid(f"{path}.values[{i}]", v, "must be ordered"))
    return errs


def _policy_rule(rule: Any, spec: Any, container_names: set[str], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if rule.action not in POLICY_ACTIONS:
        errs.append(not_supported(f"{path}.action", rule.action or "", POLICY_ACTIONS))
    elif rule.action == "FailIndex" and spec.backoffLimitPerIndex is None:
        errs.append(invalid(f"{path}.action", rule.action, "requires the backoffLimitPerIndex to be set"))
    if rule.onExitCodes is not None and rule.onPodConditions is not None:
        errs.append(invalid(path, "", "specifying both OnExitCodes and OnPodConditions is not supported"))
    elif rule.onExitCodes is None and rule.onPodConditions is None:
        errs.append(invalid(path, "", "specifying one of OnExitCodes and OnPodConditions is required"))
    if rule.onExitCodes is not None:
        errs += _exit_codes(rule.onExitCodes, container_names, f"{path}.onExitCodes")
    for i, pattern in enumerate(rule.onPodConditions or []):
        p = f"{path}.onPodConditions[{i}]"
        if not pattern.type:
            errs.append(required(f"{p}.type"))
        if pattern.status not in CONDITION_STATUSES:
            errs.append(not_supported(f"{p}.status", pattern.status or "", CONDITION_STATUSES))
    return errs


def _pod_failure_policy(spec: Any, path: str) -> list[FieldError]:
    policy = spec.podFailurePolicy
    if policy is None:
        return []
    errs: list[FieldError] = []
    pod = spec.template.spec if spec.template is not None else None
    if pod is not None and pod.restartPolicy != "Never":
        errs.append(invalid(f"{path}.template.spec.restartPolicy", pod.restartPolicy or "",
                            'only "Never" is supported when podFailurePolicy is specified'))
    rules = policy.rules or []
    if len(rules) > MAX_POLICY_RULES:
        errs.append(invalid(f"{path}.podFailurePolicy.rules", len(rules), f"must have at most {MAX_POLICY_RULES} items"))
    names = {c.name or "" for c in [*(pod.containers or []), *(pod.initContainers or [])]} if pod else set()
    for i, rule in enumerate(rules):
        errs += _policy_rule(rule, spec, names, f"{path}.podFailurePolicy.rules[{i}]")
    return errs


def _template(spec: Any, path: str) -> list[FieldError]:
    if spec.template is None:
        return [required(f"{path}.template")]
    errs = validate_pod_template_spec(spec.template, f"{path}.template")
    pod = spec.template.spec
    restart = pod.restartPolicy if pod is not None else None
    if restart not in RESTART_POLICIES:
        errs.append(not_supported(f"{path}.template.spec.restartPolicy", restart or "", RESTART_POLICIES))
    return errs


def job_spec_errors(spec: Any, path: str) -> list[FieldError]:
    """A Job's spec, or a CronJob's job template's (whose selector is made later, per Job)."""
    return _counts(spec, path) + _not_yet(spec, path) + _template(spec, path) + _per_index(spec, path) + \
        _pod_failure_policy(spec, path)


def _spec(job: Job) -> list[FieldError]:
    spec = job.spec
    if spec is None:
        return [required("spec")]
    return job_spec_errors(spec, "spec") + _selector_matches_template(spec)


def validate_job(job: Job) -> list[FieldError]:
    return validate_object_meta(_meta(job), namespaced=True, name_fn=name_is_dns_subdomain) + _spec(job)


def validate_job_update(new: Job, old: Job) -> list[FieldError]:
    """The selector, the completion mode and the pod template are immutable; so are completions
    (Kubernetes allows changing them only for elastic Indexed Jobs, which kubelite does not)."""
    errs = validate_object_meta_update(_meta(new), _meta(old)) + _spec(new)
    ns, os = new.spec, old.spec
    if ns is None or os is None:
        return errs
    for field in ("selector", "completionMode", "completions", "template", "podFailurePolicy",
                  "backoffLimitPerIndex"):
        if getattr(ns, field) != getattr(os, field):
            errs.append(invalid(f"spec.{field}", "", FIELD_IMMUTABLE) if field in ("template", "podFailurePolicy")
                        else invalid(f"spec.{field}", getattr(ns, field), FIELD_IMMUTABLE))
    return errs


# --- CronJob ---------------------------------------------------------------------------------

CONCURRENCY_POLICIES = ["Allow", "Forbid", "Replace"]
CRONJOB_NAME_MAX = 52  # its Jobs are named <cronjob>-<minutes since the epoch>: 11 more characters


def _cronjob_spec(spec: Any) -> list[FieldError]:
    if spec is None:
        return [required("spec")]
    errs: list[FieldError] = []
    if not spec.schedule:
        errs.append(required("spec.schedule"))
    elif why := schedule_error(spec.schedule):
        errs.append(invalid("spec.schedule", spec.schedule, why))
    if spec.timeZone is not None and (why := zone_error(spec.timeZone)):
        errs.append(invalid("spec.timeZone", spec.timeZone, why))
    if spec.concurrencyPolicy not in (None, *CONCURRENCY_POLICIES):
        errs.append(not_supported("spec.concurrencyPolicy", spec.concurrencyPolicy, CONCURRENCY_POLICIES))
    for field in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        errs += validate_nonnegative(getattr(spec, field), f"spec.{field}")
    template = spec.jobTemplate
    if template is None or template.spec is None:
        return [*errs, required("spec.jobTemplate.spec")]
    return errs + job_spec_errors(template.spec, "spec.jobTemplate.spec")


def validate_cronjob(cj: CronJob) -> list[FieldError]:
    meta = _meta(cj)
    errs = validate_object_meta(meta, namespaced=True, name_fn=name_is_dns_subdomain)
    if meta.name and len(meta.name) > CRONJOB_NAME_MAX:
        errs.append(invalid("metadata.name", meta.name, f"must be no more than {CRONJOB_NAME_MAX} characters"))
    return errs + _cronjob_spec(cj.spec)


def validate_cronjob_update(new: CronJob, old: CronJob) -> list[FieldError]:
    return validate_object_meta_update(_meta(new), _meta(old)) + _cronjob_spec(new.spec)
