"""What resource metrics (kubectl top, autoscaling) cost per node, against metrics-server's
published cost of 1 millicore and 3 MB per node.

Starts a one-node process-runtime cluster twice, each with --pods sleeping pods (100 by default):
once measuring every second (`--metrics-resolution 1s`) and once effectively never (`1h`), and
over --window seconds of steady state reads the CPU seconds and resident memory of the node agent
and the apiserver. The difference between the two runs is what measuring costs; divided by the
samples taken it is the cost of one sample, and at Kubernetes' 15 s resolution
cost_per_sample / 15 s is the steady cost per node. Also reported: the size of one node's report
on the bus, and the load before and after. Needs root (the process runtime).

    .venv/bin/python bench/resource_metrics_bench.py [--pods 100] [--window 60]

Prints a table and one JSON line (prefix `BENCH_JSON `); each cluster is stopped at its end.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from localcluster import cpu_seconds, kubelite, pid_of, rss_mb

from kubelite.client.kubeconfig import load_kubeconfig

METRICS_SERVER = {"millicores_per_node": 1.0, "mb_per_node": 3.0}  # its documented scalability figures


def pods_manifest(count: int) -> str:
    return json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "sleepers"}, "spec": {
        "replicas": count, "selector": {"matchLabels": {"app": "sleepers"}},
        "template": {"metadata": {"labels": {"app": "sleepers"}}, "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "s", "image": "busybox", "command": ["sleep", "3600"],
                            "resources": {"requests": {"cpu": "1m", "memory": "1Mi"}}}]}}}})


def report_size(data_dir: Path, timeout: float = 30) -> int:
    """Bytes of one `kubelite.node.<node>.metrics` report, read from the PodMetrics it yields
    (the bus itself is for cluster identities; the apiserver's answer sizes it closely)."""
    config = load_kubeconfig(str(data_dir / "kubeconfig"))
    with httpx.Client(base_url=config.server, verify=config.ssl_context() or True, timeout=30) as http:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = http.get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods").content
            if json.loads(body).get("items"):
                return len(body)
            time.sleep(1)
    return 0


def one_run(resolution: str, pods: int, window: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kubelite-rmbench-") as tmp:
        data_dir = Path(tmp) / "cluster"
        manifest = Path(tmp) / "sleepers.json"
        manifest.write_text(pods_manifest(pods))
        kubelite("up", "--data-dir", str(data_dir), "--nodes", "1", "--random-ports",
                 "--metrics-resolution", resolution, "-f", str(manifest), "--wait-timeout", "600")
        try:
            agent, apiserver = pid_of(data_dir, "nodeagent-node-1"), pid_of(data_dir, "apiserver")
            time.sleep(5)  # let the start settle
            size = report_size(data_dir) if resolution != "1h" else 0
            before = {p: cpu_seconds(p) for p in (agent, apiserver)}
            started = time.monotonic()
            time.sleep(window)
            elapsed = time.monotonic() - started
            return {"resolution": resolution, "seconds": elapsed,
                    "agent_cpu_s": cpu_seconds(agent) - before[agent],
                    "apiserver_cpu_s": cpu_seconds(apiserver) - before[apiserver],
                    "agent_rss_mb": rss_mb(agent), "apiserver_rss_mb": rss_mb(apiserver), "report_bytes": size}
        finally:
            kubelite("down", "--data-dir", str(data_dir))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pods", type=int, default=100)
    p.add_argument("--window", type=float, default=60.0, help="steady-state seconds measured per run")
    opts = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("resource_metrics_bench: the process runtime needs root")
    load_before = os.getloadavg()[0]
    measured = one_run("1s", opts.pods, opts.window)
    idle = one_run("1h", opts.pods, opts.window)
    load_after = os.getloadavg()[0]
    samples = measured["seconds"]  # one sample a second
    per_sample_ms = {who: 1000 * (measured[f"{who}_cpu_s"] - idle[f"{who}_cpu_s"] * measured["seconds"] / idle["seconds"])
                     / samples for who in ("agent", "apiserver")}
    at_15s = {who: ms / 15 for who, ms in per_sample_ms.items()}  # ms of CPU per second = millicores
    result = {
        "pods": opts.pods, "window_s": opts.window,
        "agent_cpu_ms_per_sample": round(per_sample_ms["agent"], 2),
        "apiserver_cpu_ms_per_sample": round(per_sample_ms["apiserver"], 2),
        "millicores_per_node_at_15s": round(at_15s["agent"] + at_15s["apiserver"], 3),
        "agent_rss_delta_mb": round(measured["agent_rss_mb"] - idle["agent_rss_mb"], 1),
        "apiserver_rss_delta_mb": round(measured["apiserver_rss_mb"] - idle["apiserver_rss_mb"], 1),
        "podmetrics_list_bytes": measured["report_bytes"],
        "metrics_server": METRICS_SERVER, "load_before": round(load_before, 2), "load_after": round(load_after, 2),
    }
    rows = [
        ("pods on the node", opts.pods),
        ("node agent CPU per sample (ms)", result["agent_cpu_ms_per_sample"]),
        ("apiserver CPU per sample (ms)", result["apiserver_cpu_ms_per_sample"]),
        ("cost per node at 15 s (millicores)", f"{result['millicores_per_node_at_15s']}  (metrics-server: 1)"),
        ("node agent RSS, measuring - not (MB)", result["agent_rss_delta_mb"]),
        ("apiserver RSS, measuring - not (MB)", f"{result['apiserver_rss_delta_mb']}  (metrics-server: 3 per node)"),
        ("PodMetrics list for the node (bytes)", result["podmetrics_list_bytes"]),
        ("load before / after", f"{result['load_before']} / {result['load_after']}"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print("BENCH_JSON " + json.dumps(result))


if __name__ == "__main__":
    main()
