"""Resource metrics, pure parts: CPU rates from cumulative samples, working sets, Docker stats,
the bus report, and the metrics.k8s.io objects the apiserver answers with."""

from __future__ import annotations

from kubelite.bus import metrics as wire
from kubelite_apiserver.metricsapi import MetricsStore, node_metrics, pod_metrics
from kubelite_nodeagent.resourcemetrics import build_report, cpu_rate
from kubelite_nodeagent.runtime.base import ContainerStats
from kubelite_nodeagent.runtime.cgroups import working_set
from kubelite_nodeagent.runtime.docker_model import docker_usage


def test_cpu_rate_example() -> None:
    prev = ContainerStats(cpu_ns=10_000_000_000, memory_bytes=0, at=100.0)
    cur = ContainerStats(cpu_ns=11_500_000_000, memory_bytes=0, at=103.0)
    assert cpu_rate(prev, cur) == 500_000_000  # half a core
    assert cpu_rate(cur, prev) is None
    restarted = ContainerStats(cpu_ns=5, memory_bytes=0, at=104.0)
    assert cpu_rate(cur, restarted) is None


def test_working_set_and_docker_usage() -> None:
    assert working_set(100 << 20, "cache 1\ntotal_inactive_file 31457280\n") == 70 << 20
    assert working_set(10, "total_inactive_file 99\n") == 0
    sample = {"cpu_stats": {"cpu_usage": {"total_usage": 123}},
              "memory_stats": {"usage": 5000, "stats": {"inactive_file": 1000}}}
    assert docker_usage(sample) == (123, 4000)
    assert docker_usage({"cpu_stats": {}, "memory_stats": {}}) is None


def test_report_and_api_objects() -> None:
    report = build_report("n1", {("web", "a"): [("c", 250_000_000, 64 << 20)],
                                 ("web", "b"): [("c", 1_000_000, 1 << 20)]}, window=15.0, at=0.0)
    assert (report.cpu_nanocores, report.memory_bytes) == (251_000_000, 65 << 20)
    assert wire.decoder.decode(wire.encoder.encode(report)) == report
    node = node_metrics(report, {"kubernetes.io/hostname": "n1"})
    assert node["usage"] == {"cpu": "251000000n", "memory": "66560Ki"} and node["window"] == "15s"
    pod = pod_metrics(report, report.pods[0], {"app": "web"})
    assert pod["metadata"] == {**pod["metadata"], "name": "a", "namespace": "web", "labels": {"app": "web"}}
    assert pod["containers"] == [{"name": "c", "usage": {"cpu": "250000000n", "memory": "65536Ki"}}]


def test_store_forgets_silent_nodes() -> None:
    store = MetricsStore(stale_after=60)
    report = build_report("n1", {}, window=15.0, at=0.0)
    store.add(report, now=1000.0)
    assert store.fresh(now=1030.0) == [report]
    assert store.fresh(now=1061.0) == []
