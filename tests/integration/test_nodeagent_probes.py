"""Probes end to end with real processes: readiness (exec) flips Ready, liveness (httpGet) restarts,
and a preStop hook runs before SIGTERM.  Agent in-process with the process runtime (root only)."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubelite.bus.connection import connect_nats
from kubelite_nodeagent.__main__ import start_agents, stop_agents
from kubelite_nodeagent.agent import NodeAgent
from kubelite_nodeagent.config import parse_args
from tests.conftest import eventually, free_pod_cidr

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (process runtime namespaces)")

PY = sys.executable

# Serves /healthz: 200, or 500 while the file named by argv[1] exists.
SERVER = """
import http.server, os, sys
flag = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(500 if os.path.exists(flag) else 200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(('0.0.0.0', 8080), H).serve_forever()
"""


@pytest.fixture
async def agent(nats_url: str, apiserver: Any, tmp_path: Path, bus_creds: Any) -> AsyncIterator[NodeAgent]:
    node = f"pr-{uuid.uuid4().hex[:8]}"
    cidr = free_pod_cidr()
    cfg = parse_args(["--nats", nats_url, "--node-name", node, "--runtime", "process", "--root-dir",
                      str(tmp_path / "agent"), "--pod-cidr", cidr, "--restart-backoff-base", "0.5",
                      "--restart-backoff-max", "1"])
    nc = await connect_nats(nats_url, name="test-probes-agent", wait_seconds=10, credentials=bus_creds)
    [a] = await start_agents(cfg, nc)
    try:
        yield a
    finally:
        await stop_agents([a])
        await nc.close()
        await a.runtime.destroy_everything()  # type: ignore[attr-defined]


async def get_pod(api: httpx.AsyncClient, namespace: str, name: str) -> dict[str, Any]:
    r = await api.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
    assert r.status_code == 200, r.text
    return r.json()


def ready(pod: dict[str, Any]) -> str:
    for c in pod.get("status", {}).get("conditions") or []:
        if c["type"] == "Ready":
            return c["status"]
    return ""


async def test_readiness_and_liveness_with_real_processes(
    agent: NodeAgent, api: httpx.AsyncClient, namespace: str, tmp_path: Path
) -> None:
    ready_flag = tmp_path / "ready"  # readiness: exec `test -f` (the process runtime shares the host fs)
    sick_flag = tmp_path / "sick"  # liveness: /healthz answers 500 while this exists
    ready_flag.touch()
    # (the server is PID 1 in its PID namespace and ignores SIGTERM: a short grace keeps the kill quick)
    body = {"metadata": {"name": "probed"}, "spec": {
        "nodeName": agent.node.name, "terminationGracePeriodSeconds": 2, "containers": [{
        "name": "web", "image": "host", "command": [PY, "-c", SERVER, str(sick_flag)],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"exec": {"command": ["test", "-f", str(ready_flag)]}, "periodSeconds": 1},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1,
                          "failureThreshold": 2, "initialDelaySeconds": 1},
    }]}}
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=body)
    assert r.status_code == 201, r.text

    async def ready_is(value: str) -> bool:
        return ready(await get_pod(api, namespace, "probed")) == value

    await eventually(lambda: ready_is("True"), timeout=20, message="never Ready")
    ready_flag.unlink()
    await eventually(lambda: ready_is("False"), timeout=10, message="readiness failure did not unready the pod")
    ready_flag.touch()
    await eventually(lambda: ready_is("True"), timeout=10, message="not Ready again")

    sick_flag.touch()

    async def restarted() -> dict[str, Any] | None:
        cs = (await get_pod(api, namespace, "probed"))["status"]["containerStatuses"][0]
        return cs if cs["restartCount"] >= 1 else None

    cs = await eventually(restarted, timeout=20, message="liveness failure did not restart the container")
    assert "terminated" in cs["lastState"]
    sick_flag.unlink()
    await eventually(lambda: ready_is("True"), timeout=20, message="not Ready after the restart")


async def test_prestop_hook_runs_before_the_container_stops(
    agent: NodeAgent, api: httpx.AsyncClient, namespace: str, tmp_path: Path
) -> None:
    marker = tmp_path / "prestop-ran"
    body = {"metadata": {"name": "hooked"}, "spec": {
        "nodeName": agent.node.name, "terminationGracePeriodSeconds": 5,
        "containers": [{
            "name": "c", "image": "host", "command": ["sleep", "3600"],
            "lifecycle": {"preStop": {"exec": {"command": ["touch", str(marker)]}}},
        }]}}
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=body)
    assert r.status_code == 201, r.text

    async def running() -> bool:
        return (await get_pod(api, namespace, "hooked")).get("status", {}).get("phase") == "Running"

    await eventually(running, timeout=20, message="pod not Running")
    r = await api.delete(f"/api/v1/namespaces/{namespace}/pods/hooked")
    assert r.status_code == 200, r.text

    async def gone() -> bool:
        return (await api.get(f"/api/v1/namespaces/{namespace}/pods/hooked")).status_code == 404

    await eventually(gone, timeout=20, message="deletion not confirmed")
    assert marker.exists(), "the preStop hook did not run"
