"""SIGKILL the controller-manager in the middle of a Job (completions 20, parallelism 5).

A node stand-in (tests/integration/test_job.py) binds and finishes the pods; a pod watch
checks at every event that no more than 20 pods ever succeeded and, for an Indexed Job,
that no index ever had two live pods at once. At the end the Job is Complete with exactly
20 successes: the tracking finalizer kept the restarted controller from counting a pod
twice or missing one.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.chaos.conftest import ChaosCluster, Watch, converge, record_timing
from tests.integration.test_job import INDEX, Node, job

pytestmark = pytest.mark.timeout(180)

NS = "default"
COMPLETIONS, PARALLELISM = 20, 5
JOBS = f"/apis/batch/v1/namespaces/{NS}/jobs"
PODS = f"/api/v1/namespaces/{NS}/pods"


def live(objects: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in objects.values() if not p["metadata"].get("deletionTimestamp")
            and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]


@pytest.mark.parametrize("mode", ["NonIndexed", "Indexed"])
async def test_controller_manager_killed_mid_job_counts_every_pod_once(
    cluster: ChaosCluster, http: httpx.AsyncClient, mode: str
) -> None:
    manager = cluster.controller_manager("cm-a")
    node = Node(http, NS)
    node.start()
    problems: list[str] = []

    def check(_kind: str, obj: dict[str, Any], objects: dict[str, dict[str, Any]]) -> None:
        done = sum(1 for p in objects.values() if p.get("status", {}).get("phase") == "Succeeded")
        if done > COMPLETIONS:
            problems.append(f"{done} pods succeeded (after {obj['metadata']['name']})")
        if mode == "Indexed":
            twice = [i for i, n in Counter((p["metadata"].get("annotations") or {}).get(INDEX)
                                           for p in live(objects)).items() if n > 1]
            if twice:
                problems.append(f"index {twice} had two live pods at once")

    try:
        async with Watch(http, PODS, check) as watch:
            r = await http.post(JOBS, json=job("work", completions=COMPLETIONS, parallelism=PARALLELISM,
                                               completionMode=mode))
            assert r.status_code == 201, r.text

            async def underway() -> str | None:
                return None if len(node.finished) >= 6 else f"{len(node.finished)} pods finished"

            await converge(underway, timeout=60, message="the job did not start", cluster=cluster,
                           interval=0.02)
            manager.kill()
            t0, killed_at = time.monotonic(), time.strftime("%H:%M:%S", time.gmtime())
            manager.start()

            async def complete() -> str | None:
                st = (await http.get(f"{JOBS}/work")).json().get("status", {})
                kinds = {c["type"] for c in st.get("conditions") or [] if c["status"] == "True"}
                return None if "Complete" in kinds else f"status {st}"

            await converge(complete, timeout=90, message=f"job not Complete after the SIGKILL ({mode})",
                           cluster=cluster)
            seconds = time.monotonic() - t0
            watch.check_alive()
    finally:
        await node.stop()
    record_timing(f"controller-manager SIGKILL mid-Job ({mode}, {COMPLETIONS} completions) -> Complete", seconds)
    st = (await http.get(f"{JOBS}/work")).json()["status"]
    assert st["succeeded"] == COMPLETIONS and not st.get("failed"), st
    if mode == "Indexed":
        assert st["completedIndexes"] == f"0-{COMPLETIONS - 1}", st
    pods = (await http.get(PODS)).json()["items"]
    assert not problems, f"{problems[:5]}; killed at {killed_at}; {_by_index(pods)}"
    assert sum(1 for p in pods if p["status"]["phase"] == "Succeeded") == COMPLETIONS, \
        f"killed at {killed_at}; {_by_index(pods)}"


def _by_index(pods: list[dict[str, Any]]) -> str:
    """The pods of every index that had more than one, for a failure's message: which
    controller made the second (created before or after the kill) tells where to look."""
    indexes: dict[str, list[str]] = {}
    for p in pods:
        meta = p["metadata"]
        indexes.setdefault((meta.get("annotations") or {}).get(INDEX, "?"), []).append(
            f"{meta['name']} created {meta.get('creationTimestamp')} {p['status'].get('phase')}"
            f"{' deleted' if meta.get('deletionTimestamp') else ''}")
    twice = {i: names for i, names in indexes.items() if len(names) > 1}
    return f"indexes with more than one pod: {twice}" if twice else "no index had two pods"
