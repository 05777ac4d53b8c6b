"""Job benchmark: completions per second and controller CPU per completion, on fake nodes.

Starts a cluster with `kubelite up --nodes 0` in a temporary directory, then one
`kubelite-nodeagent --runtime fake --fake-nodes N` (the simulator certificate from
`kubelite certs --node-simulator`). Its containers exit on their own after
--run-seconds (the fake runtime's KUBELITE_FAKE_EXIT_AFTER), so a Job with
--completions and --parallelism runs through the real scheduler, node agents and
Job controller. Reported: wall time from create to Complete, completions/s, the
controller-manager's CPU ms per completion, and the load average before and after.
The ideal rate, parallelism / run-seconds, is the baseline the measured rate is
stated against.

    .venv/bin/python bench/job_bench.py [--completions 1000] [--parallelism 50] [--nodes 20]

Prints a table and one JSON line (prefix `BENCH_JSON `); the cluster is stopped on exit.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from localcluster import BIN, cpu_seconds, kubelite, pid_of

from kubelite.client.kubeconfig import load_kubeconfig


def job(opts: argparse.Namespace) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "bench"},
            "spec": {"completions": opts.completions, "parallelism": opts.parallelism, "backoffLimit": 0,
                     "template": {"spec": {"restartPolicy": "Never", "containers": [{
                         "name": "work", "image": "busybox", "command": ["true"],
                         "env": [{"name": "KUBELITE_FAKE_EXIT_AFTER", "value": str(opts.run_seconds)}]}]}}}}


def run(opts: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    kubelite("up", "--data-dir", str(data_dir), "--nodes", "0", "--runtime", "fake", "--random-ports",
             "--settle-seconds", "0.5")
    kubelite("certs", "--data-dir", str(data_dir), "--node-simulator")
    state = json.loads((data_dir / "cluster.json").read_text())
    log = (data_dir / "logs" / "nodeagent-fake.log").open("ab")
    agent = subprocess.Popen([str(BIN / "kubelite-nodeagent"), "--nats", state["nats_url"], "--pki-dir",
                              str(data_dir / "pki"), "--runtime", "fake", "--node-name", "fake", "--fake-nodes",
                              str(opts.nodes), "--root-dir", str(data_dir / "nodes"), "--log-level", "warning",
                              "--metrics-resolution", "0"],  # no resource metrics: figures comparable to before
                             stdout=log, stderr=subprocess.STDOUT)
    try:
        return measure(opts, data_dir)
    finally:
        agent.terminate()
        agent.wait(30)


def measure(opts: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    config = load_kubeconfig(str(data_dir / "kubeconfig"))
    with httpx.Client(base_url=config.server, verify=config.ssl_context() or True, timeout=30) as http:
        deadline = time.monotonic() + 60
        while len(http.get("/api/v1/nodes").json()["items"]) < opts.nodes:
            if time.monotonic() > deadline:
                raise SystemExit("fake nodes did not register in 60 s")
            time.sleep(0.5)
        cm = pid_of(data_dir, "controller-manager")
        load_before, cpu_before, t0 = os.getloadavg()[0], cpu_seconds(cm), time.monotonic()
        r = http.post("/apis/batch/v1/namespaces/default/jobs", json=job(opts))
        assert r.status_code == 201, r.text
        status: dict[str, Any] = {}
        while time.monotonic() - t0 < opts.timeout:
            status = http.get("/apis/batch/v1/namespaces/default/jobs/bench").json().get("status", {})
            if any(c["type"] in ("Complete", "Failed") and c["status"] == "True" for c in status.get("conditions") or []):
                break
            time.sleep(0.2)
        else:
            raise SystemExit(f"job not finished after {opts.timeout}s: {status}")
        wall = time.monotonic() - t0
        cpu = cpu_seconds(cm) - cpu_before
    ideal = opts.parallelism / opts.run_seconds
    per_s = (status.get("succeeded") or 0) / wall
    return {"completions": opts.completions, "parallelism": opts.parallelism, "nodes": opts.nodes,
            "run_seconds": opts.run_seconds, "succeeded": status.get("succeeded"), "failed": status.get("failed"),
            "wall_s": round(wall, 2), "completions_per_s": round(per_s, 1), "ideal_per_s": round(ideal, 1),
            "ratio_to_ideal": round(per_s / ideal, 2), "controller_cpu_ms_per_completion":
                round(1000 * cpu / max(1, status.get("succeeded") or 0), 2),
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--completions", type=int, default=1000)
    p.add_argument("--parallelism", type=int, default=50)
    p.add_argument("--nodes", type=int, default=20, help="fake nodes (default 20)")
    p.add_argument("--run-seconds", type=float, default=0.5, help="how long each pod's container runs")
    p.add_argument("--timeout", type=float, default=600)
    opts = p.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="kubelite-jobbench-"))
    try:
        result = run(opts, data_dir)
    finally:
        subprocess.run([str(BIN / "kubelite"), "down", "--data-dir", str(data_dir)], capture_output=True, timeout=120)
    for key, value in result.items():
        print(f"{key:36} {value}")
    print("BENCH_JSON " + json.dumps(result))


if __name__ == "__main__":
    main()
