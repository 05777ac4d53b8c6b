# ruff: noqa: F811 - the shared fixtures are imported from test_replicaset and requested by name
"""batch/v1 Jobs against a real apiserver and a real `kubelite-controller-manager`; a node
stand-in (below) binds each pod and finishes it, Succeeded or Failed, as a node agent would
report it. What is asserted is what the Job and its pods say in the API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import eventually
from tests.integration.test_replicaset import (  # noqa: F401 - fixtures
    ControllerManagers,
    cancel_and_wait,
    controller_managers,
)

pytestmark = pytest.mark.timeout(120)
FAIL = "fail"  # a pod whose image names this fails; any other succeeds
TRACKING = "batch.kubernetes.io/job-tracking"
INDEX = "batch.kubernetes.io/job-completion-index"


def _exit_code(image: str, pod: dict[str, Any]) -> int:
    """What a finished pod exits with: an image `fail` fails with 1; `exit-<n>` exits n; with
    `exit-<n>-index-<i>` only index i does, the others succeed."""
    if FAIL in image:
        return 1
    if not image.startswith("exit-"):
        return 0
    code, _, index = image[len("exit-"):].partition("-index-")
    mine = (pod["metadata"].get("annotations") or {}).get(INDEX)
    return int(code) if not index or index == mine else 0


class Node:
    """Binds the namespace's pods to one node, then runs each for a moment and finishes it;
    records the most pods of one Job that were ever running at once."""

    def __init__(self, api: httpx.AsyncClient, namespace: str) -> None:
        self.api, self.namespace = api, namespace
        self.max_running = 0
        self.finished: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    async def _step(self) -> None:
        pods = (await self.api.get(f"/api/v1/namespaces/{self.namespace}/pods")).json()["items"]
        running = [p for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get(
            "deletionTimestamp")]
        self.max_running = max(self.max_running, len(running))
        for pod in pods:
            name, phase = pod["metadata"]["name"], pod["status"].get("phase")
            if pod["metadata"].get("deletionTimestamp"):
                if phase not in ("Succeeded", "Failed"):
                    await self.api.delete(f"/api/v1/namespaces/{self.namespace}/pods/{name}",
                                          params={"gracePeriodSeconds": "0"})
            elif not pod["spec"].get("nodeName"):
                await self.api.post(f"/api/v1/namespaces/{self.namespace}/pods/{name}/binding", json={
                    "metadata": {"name": name}, "target": {"kind": "Node", "name": "job-node"}})
            elif phase == "Pending":
                await self._set_phase(pod, "Running")
            elif phase == "Running" and name not in self.finished:
                self.finished.add(name)
                image = pod["spec"]["containers"][0]["image"]
                code = _exit_code(image, pod)
                pod["status"]["containerStatuses"] = [{"name": pod["spec"]["containers"][0]["name"], "image": image,
                                                       "imageID": "", "ready": False, "restartCount": 0,
                                                       "state": {"terminated": {"exitCode": code}}}]
                await self._set_phase(pod, "Failed" if code else "Succeeded")

    async def _set_phase(self, pod: dict[str, Any], phase: str) -> None:
        pod["status"]["phase"] = phase
        r = await self.api.put(f"/api/v1/namespaces/{self.namespace}/pods/{pod['metadata']['name']}/status",
                               json=pod)
        assert r.status_code in (200, 404, 409), r.text

    async def run(self) -> None:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                await self._step()
            await asyncio.sleep(0.1)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self.run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task, "job node")


@pytest.fixture
async def node(api: httpx.AsyncClient, namespace: str,
               controller_managers: ControllerManagers) -> AsyncIterator[Node]:
    n = Node(api, namespace)
    n.start()
    yield n
    await n.stop()


def job(name: str, *, image: str = "busybox", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "main", "image": image, "command": ["true"]}]}}, **spec}}


async def _create(api: httpx.AsyncClient, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.post(f"/apis/batch/v1/namespaces/{namespace}/jobs", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def _finished(api: httpx.AsyncClient, namespace: str, name: str, kind: str) -> dict[str, Any] | None:
    j = (await api.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}")).json()
    conditions = {c["type"]: c for c in j.get("status", {}).get("conditions") or []}
    return j if conditions.get(kind, {}).get("status") == "True" else None


async def _pods(api: httpx.AsyncClient, namespace: str) -> list[dict[str, Any]]:
    return (await api.get(f"/api/v1/namespaces/{namespace}/pods")).json()["items"]


async def test_a_job_runs_its_completions_within_parallelism(api: httpx.AsyncClient, namespace: str,
                                                             node: Node) -> None:
    made = await _create(api, namespace, job("batch", completions=5, parallelism=2))
    uid = made["metadata"]["uid"]
    assert made["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert made["spec"]["template"]["metadata"]["labels"]["job-name"] == "batch"
    done = await eventually(lambda: _finished(api, namespace, "batch", "Complete"), timeout=60,
                            message="job never Complete")
    st = done["status"]
    assert (st["succeeded"], st.get("failed", 0), st.get("active", 0)) == (5, 0, 0), st
    assert st["startTime"] and st["completionTime"]
    assert node.max_running <= 2, f"{node.max_running} pods ran at once with parallelism 2"

    async def untracked() -> bool:  # every pod counted, and its finalizer released
        pods = await _pods(api, namespace)
        return len(pods) == 5 and all(TRACKING not in (p["metadata"].get("finalizers") or []) for p in pods)

    await eventually(untracked, timeout=20, message="pods kept the tracking finalizer")
    assert all(p["status"]["phase"] == "Succeeded" for p in await _pods(api, namespace))


async def test_a_failing_job_stops_at_its_backoff_limit(api: httpx.AsyncClient, namespace: str, node: Node) -> None:
    await _create(api, namespace, job("flaky", image=f"{FAIL}:1", backoffLimit=0, completions=3, parallelism=1))
    done = await eventually(lambda: _finished(api, namespace, "flaky", "Failed"), timeout=60,
                            message="job never Failed")
    failed = next(c for c in done["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded", failed
    assert done["status"]["failed"] == 1 and not done["status"].get("succeeded")


async def test_an_indexed_job_gives_each_pod_its_index(api: httpx.AsyncClient, namespace: str, node: Node) -> None:
    await _create(api, namespace, job("idx", completions=3, parallelism=3, completionMode="Indexed"))
    done = await eventually(lambda: _finished(api, namespace, "idx", "Complete"), timeout=60,
                            message="indexed job never Complete")
    assert done["status"]["completedIndexes"] == "0-2" and done["status"]["succeeded"] == 3
    pods = await _pods(api, namespace)
    by_index = {p["metadata"]["annotations"][INDEX]: p for p in pods}
    assert sorted(by_index) == ["0", "1", "2"], [p["metadata"]["name"] for p in pods]
    for i, pod in by_index.items():
        assert pod["metadata"]["labels"][INDEX] == i and pod["spec"]["hostname"] == f"idx-{i}"
        env = pod["spec"]["containers"][0]["env"]
        assert env[-1]["name"] == "JOB_COMPLETION_INDEX"
        assert INDEX in env[-1]["valueFrom"]["fieldRef"]["fieldPath"]


async def test_a_suspended_job_runs_nothing_until_resumed(api: httpx.AsyncClient, namespace: str,
                                                          node: Node) -> None:
    await _create(api, namespace, job("later", suspend=True, ttlSecondsAfterFinished=0))
    await eventually(lambda: _finished(api, namespace, "later", "Suspended"), timeout=30,
                     message="no Suspended condition")
    assert await _pods(api, namespace) == []
    r = await api.patch(f"/apis/batch/v1/namespaces/{namespace}/jobs/later", json={"spec": {"suspend": False}},
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text

    async def gone() -> bool:  # Complete, then deleted at once (ttlSecondsAfterFinished 0)
        return (await api.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/later")).status_code == 404

    await eventually(gone, timeout=60, message="the finished job was not deleted by its TTL")
    assert node.finished, "the resumed job ran no pod"


@pytest.mark.parametrize(("change", "field"), [
    (lambda b: b["spec"]["template"]["spec"].update(restartPolicy="Always"), "spec.template.spec.restartPolicy"),
    (lambda b: b["spec"].update(completionMode="Indexed", parallelism=2), "spec.completions"),
    (lambda b: b["spec"].update(parallelism=-1), "spec.parallelism"),
    (lambda b: b["spec"].update(successPolicy={"rules": []}), "spec.successPolicy"),
    (lambda b: b["spec"].update(podFailurePolicy={"rules": [{"action": "FailIndex", "onExitCodes": {
        "operator": "In", "values": [1]}}]}), "spec.podFailurePolicy.rules[0].action"),
    (lambda b: b["spec"].update(completionMode="Sometimes"), "spec.completionMode"),
])
async def test_a_bad_job_is_refused_with_its_field(api: httpx.AsyncClient, namespace: str, change: Any,
                                                   field: str) -> None:
    body = job("bad")
    change(body)
    r = await api.post(f"/apis/batch/v1/namespaces/{namespace}/jobs", json=body)
    assert r.status_code == 422, r.text
    assert field in [c["field"] for c in r.json()["details"]["causes"]], r.text
    assert (await api.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/bad")).status_code == 404


async def test_pod_failure_policy_fails_the_job_on_a_listed_exit_code(api: httpx.AsyncClient, namespace: str,
                                                                      node: Node) -> None:
    await _create(api, namespace, job("answer", image="exit-42", completions=3, parallelism=1, backoffLimit=5,
                                      podFailurePolicy={"rules": [
                                          {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]}))
    failed = await eventually(lambda: _finished(api, namespace, "answer", "Failed"), timeout=30,
                              message="a FailJob exit code did not fail the job")
    cond = next(c for c in failed["status"]["conditions"] if c["type"] == "Failed")
    assert cond["reason"] == "PodFailurePolicy", cond
    assert "failed with exit code 42 matching FailJob rule at index 0" in cond["message"], cond
    assert failed["status"]["failed"] == 1, "no retry once the policy failed the job"


async def test_backoff_limit_per_index_gives_up_on_one_index(api: httpx.AsyncClient, namespace: str,
                                                             node: Node) -> None:
    await _create(api, namespace, job("shards", image="exit-3-index-1", completions=3, parallelism=3,
                                      completionMode="Indexed", backoffLimitPerIndex=0))
    failed = await eventually(lambda: _finished(api, namespace, "shards", "Failed"), timeout=30,
                              message="the job with a failing index did not fail")
    st = failed["status"]
    assert st["failedIndexes"] == "1" and st["completedIndexes"] == "0,2", st
    assert next(c for c in st["conditions"] if c["type"] == "Failed")["reason"] == "FailedIndexes"
    pods = await _pods(api, namespace)
    assert sum(1 for p in pods if p["metadata"]["annotations"].get(INDEX) == "1") == 1, "index 1 ran again"
