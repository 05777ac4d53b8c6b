"""CronJob start delay: how long after its scheduled second a CronJob's Job exists.

Starts a cluster with `kubelite up --nodes 0` in a temporary directory (no node is needed:
the Jobs are what is measured, not their pods), creates --cronjobs CronJobs scheduled every
minute, and watches Jobs over HTTPS. Each Job's delay is the time its ADDED event reaches
this client minus the scheduled time in its `batch.kubernetes.io/cronjob-scheduled-timestamp`
annotation, over --minutes scheduled minutes. The baseline, measured in the same run, is the
watch delivery itself: a ConfigMap created by this client, from the create call to its ADDED
event. Reported: p50/p99/max delay, the baseline p50/p99, the controller-manager's CPU ms per
Job created (its idle CPU, measured first, subtracted), and the load before and after.
Target (issue 11): p99 <= 1 s.

    .venv/bin/python bench/cronjob_bench.py [--cronjobs 20] [--minutes 2]

Prints a table and one JSON line (prefix `BENCH_JSON `); the cluster is stopped on exit.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from localcluster import BIN, cpu_seconds, kubelite, pid_of

from kubelite.client.kubeconfig import load_kubeconfig

SCHEDULED = "batch.kubernetes.io/cronjob-scheduled-timestamp"


def cronjob(i: int) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": f"tick-{i}"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}}}}}


class Watcher(threading.Thread):
    """Records (receive time, object) for every ADDED event of a resource."""

    def __init__(self, http: httpx.Client, path: str) -> None:
        super().__init__(daemon=True)
        self.http, self.path = http, path
        self.added: list[tuple[float, dict[str, Any]]] = []
        self.ready = threading.Event()

    def run(self) -> None:
        try:
            self._watch()
        except httpx.HTTPError:
            pass  # the cluster went down at the end of the run

    def _watch(self) -> None:
        rv = self.http.get(self.path).json()["metadata"]["resourceVersion"]
        with self.http.stream("GET", self.path, params={"watch": "1", "resourceVersion": rv},
                              timeout=httpx.Timeout(30, read=None)) as r:
            self.ready.set()
            for line in r.iter_lines():
                if line:
                    event = json.loads(line)
                    if event.get("type") == "ADDED":
                        self.added.append((time.time(), event["object"]))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def measure(opts: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    config = load_kubeconfig(str(data_dir / "kubeconfig"))
    ctx = config.ssl_context() or True
    with httpx.Client(base_url=config.server, verify=ctx, timeout=30) as http, \
            httpx.Client(base_url=config.server, verify=ctx, timeout=30) as stream:
        jobs = Watcher(stream, "/apis/batch/v1/namespaces/default/jobs")
        jobs.start()
        maps = Watcher(httpx.Client(base_url=config.server, verify=ctx), "/api/v1/namespaces/default/configmaps")
        maps.start()
        jobs.ready.wait(30)
        maps.ready.wait(30)
        cm = pid_of(data_dir, "controller-manager")
        idle_start, t_idle = cpu_seconds(cm), time.monotonic()
        time.sleep(opts.idle_seconds)  # what the controller-manager spends with nothing to do
        idle_rate = (cpu_seconds(cm) - idle_start) / (time.monotonic() - t_idle)
        for i in range(opts.cronjobs):
            r = http.post("/apis/batch/v1/namespaces/default/cronjobs", json=cronjob(i))
            assert r.status_code == 201, r.text
        load_before, cpu_before, t_busy = os.getloadavg()[0], cpu_seconds(cm), time.monotonic()
        baseline = []
        for i in range(20):  # the watch's own delivery time, create call to ADDED event
            t0 = time.time()
            http.post("/api/v1/namespaces/default/configmaps", json={"metadata": {"name": f"probe-{i}"}})
            while not any(o["metadata"]["name"] == f"probe-{i}" for _, o in maps.added):
                time.sleep(0.001)
            baseline.append(next(t for t, o in maps.added if o["metadata"]["name"] == f"probe-{i}") - t0)
        want = opts.cronjobs * opts.minutes
        deadline = time.time() + 60 * (opts.minutes + 1) + 10
        while len(jobs.added) < want and time.time() < deadline:
            time.sleep(0.5)
        busy = time.monotonic() - t_busy
        raw = cpu_seconds(cm) - cpu_before
        cpu = raw - idle_rate * busy
    delays = []
    for received, job in jobs.added[:want]:
        stamp = (job["metadata"].get("annotations") or {}).get(SCHEDULED, "")
        delays.append(received - datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
    if len(delays) < want:
        raise SystemExit(f"only {len(delays)} of {want} Jobs were created")
    return {"cronjobs": opts.cronjobs, "minutes": opts.minutes, "jobs": len(delays),
            "delay_p50_s": round(statistics.median(delays), 3), "delay_p99_s": round(pct(delays, 0.99), 3),
            "delay_max_s": round(max(delays), 3),
            "watch_baseline_p50_s": round(statistics.median(baseline), 4),
            "watch_baseline_p99_s": round(pct(baseline, 0.99), 4),
            "controller_cpu_ms_per_job": round(1000 * max(0.0, cpu) / max(1, len(delays)), 2),
            "controller_cpu_ms_per_job_with_idle": round(1000 * raw / max(1, len(delays)), 2),
            "controller_idle_cpu_ms_per_s": round(1000 * idle_rate, 2),
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cronjobs", type=int, default=20)
    p.add_argument("--minutes", type=int, default=2, help="scheduled minutes to measure")
    p.add_argument("--idle-seconds", type=float, default=10, help="idle CPU baseline window")
    opts = p.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="kubelite-cronbench-"))
    try:
        kubelite("up", "--data-dir", str(data_dir), "--nodes", "0", "--runtime", "fake", "--random-ports",
                 "--settle-seconds", "0.5")
        result = measure(opts, data_dir)
    finally:
        subprocess.run([str(BIN / "kubelite"), "down", "--data-dir", str(data_dir)], capture_output=True, timeout=120)
    for key, value in result.items():
        print(f"{key:28} {value}")
    print("BENCH_JSON " + json.dumps(result))


if __name__ == "__main__":
    main()
