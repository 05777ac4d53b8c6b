"""CronJob schedules: what Kubernetes accepts, and which run is due when."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kubelite import codec
from kubelite.api import cron
from kubelite.api.batch_v1 import SCHEDULED_TIMESTAMP, CronJob
from kubelite.api.validation import validate
from kubelite_controller_manager.cronjob.controller import job_for, job_name


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2026, 12, 3, hh, mm, ss, tzinfo=UTC)


@pytest.mark.parametrize(("schedule", "why"), [
    ("*/5 * * * *", ""), ("@hourly", ""), ("@midnight", ""), ("0 9 * * 1-5", ""),
    ("* * * * * *", "expected exactly 5 fields"), ("61 * * * *", "invalid schedule"),
    ("@every 5m", "unrecognized descriptor"), ("TZ=UTC 0 * * * *", "use timeZone field"), ("", "empty"),
])
def test_schedules_kubernetes_accepts(schedule: str, why: str) -> None:
    got = cron.schedule_error(schedule)
    assert (why in got) if why else got == "", got


def test_the_latest_run_in_the_window_is_due() -> None:
    d = cron.due("*/5 * * * *", None, at(12, 2), at(12, 16))
    assert (d.last, d.missed, d.next) == (at(12, 15), 3, at(12, 20))
    nothing = cron.due("*/5 * * * *", None, at(12, 15), at(12, 19, 59))
    assert nothing.last is None and nothing.next == at(12, 20)


def test_a_time_zone_moves_the_schedule() -> None:
    d = cron.due("0 9 * * *", "Europe/Berlin", at(7, 0), at(8, 30))  # 09:00 in Berlin is 08:00 UTC
    assert d.last is not None and d.last.astimezone(UTC) == at(8, 0)
    assert cron.zone_error("Mars/Olympus") and not cron.zone_error("Europe/Berlin")


def test_far_behind_counts_past_the_limit_and_runs_the_latest() -> None:
    d = cron.due("* * * * *", None, at(8, 0), at(12, 0, 30))
    assert d.missed > cron.TOO_MANY_MISSED and d.last == at(12, 0) and d.next == at(12, 1)


def _cronjob(**spec: object) -> CronJob:
    body = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hello", "namespace": "d", "uid": "u"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {"metadata": {"labels": {"a": "b"}}, "spec": {
                "template": {"spec": {"restartPolicy": "OnFailure",
                                      "containers": [{"name": "c", "image": "busybox"}]}}}}, **spec}}
    return codec.convert(body, CronJob)


def test_jobs_are_named_by_their_scheduled_minute() -> None:
    cj = _cronjob()
    job = job_for(cj, at(12, 5))
    assert job.metadata.name == job_name(cj, at(12, 5)) == f"hello-{int(at(12, 5).timestamp() // 60)}"
    assert job.metadata.annotations[SCHEDULED_TIMESTAMP] == "2026-12-03T12:05:00Z"
    assert job.metadata.labels == {"a": "b"} and job.metadata.ownerReferences[0].kind == "CronJob"


@pytest.mark.parametrize(("spec", "field"), [
    ({"schedule": "61 * * * *"}, "spec.schedule"), ({"timeZone": "Nowhere/Land"}, "spec.timeZone"),
    ({"concurrencyPolicy": "Sometimes"}, "spec.concurrencyPolicy"),
    ({"startingDeadlineSeconds": -1}, "spec.startingDeadlineSeconds"),
])
def test_a_bad_cronjob_names_its_field(spec: dict, field: str) -> None:
    assert field in [e.field for e in validate(_cronjob(**spec))]


def test_a_long_name_is_refused() -> None:
    cj = _cronjob()
    cj.metadata.name = "x" * 53
    assert "metadata.name" in [e.field for e in validate(cj)]
    assert validate(_cronjob()) == []
