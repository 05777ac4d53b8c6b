# ruff: noqa: F811 - the shared fixtures are imported from test_job / test_replicaset and requested by name
"""A CronJob on a real apiserver and controller-manager: at the next minute it creates its
Job, named by the minute, within a second of it; the Job runs (node stand-in) and the
CronJob's status follows (active, lastScheduleTime, lastSuccessfulTime)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kubelite.printers import parse_time
from tests.conftest import eventually
from tests.integration.test_job import Node, node  # noqa: F401 - fixture
from tests.integration.test_replicaset import controller_managers  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(150)


def cronjob(name: str, schedule: str = "* * * * *", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": schedule, "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "hello", "image": "busybox",
                                                         "command": ["date"]}]}}}}, **spec}}


async def test_a_cronjob_starts_its_job_on_the_minute(api: httpx.AsyncClient, namespace: str, node: Node) -> None:
    base = f"/apis/batch/v1/namespaces/{namespace}"
    r = await api.post(f"{base}/cronjobs", json=cronjob("hello"))
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["spec"]["concurrencyPolicy"] == "Allow" and made["spec"]["successfulJobsHistoryLimit"] == 3

    async def first_job() -> dict[str, Any] | None:
        items = (await api.get(f"{base}/jobs")).json()["items"]
        return items[0] if items else None

    job = await eventually(first_job, timeout=75, message="no Job within a minute and a bit")
    scheduled = parse_time(job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"])
    created = parse_time(job["metadata"]["creationTimestamp"])
    assert scheduled is not None and created is not None and scheduled.second == 0
    assert 0 <= (created - scheduled).total_seconds() <= 1, (scheduled, created)
    assert job["metadata"]["name"] == f"hello-{int(scheduled.timestamp() // 60)}"
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"

    async def succeeded() -> dict[str, Any] | None:
        st = (await api.get(f"{base}/cronjobs/hello")).json().get("status", {})
        return st if st.get("lastSuccessfulTime") and not st.get("active") else None

    st = await eventually(succeeded, timeout=30, message="the CronJob never saw its Job succeed")
    assert st["lastScheduleTime"] == job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
    # suspended: no new Job at the next minute
    r = await api.patch(f"{base}/cronjobs/hello", json={"spec": {"suspend": True}},
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200
    table = (await api.get(f"{base}/cronjobs", headers={
        "accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})).json()
    assert [c["name"] for c in table["columnDefinitions"]][:5] == ["Name", "Schedule", "Timezone", "Suspend", "Active"]


async def test_a_bad_schedule_is_refused(api: httpx.AsyncClient, namespace: str) -> None:
    r = await api.post(f"/apis/batch/v1/namespaces/{namespace}/cronjobs", json=cronjob("bad", "61 * * * *"))
    assert r.status_code == 422 and r.json()["details"]["causes"][0]["field"] == "spec.schedule", r.text
