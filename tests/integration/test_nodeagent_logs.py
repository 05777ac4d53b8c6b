"""Log streaming end to end: agent (process runtime, in-process) -> NATS -> stream_logs.

Root only (the process runtime needs namespaces and a bridge).  Covers follow,
tail, previous and that a reader going away stops the agent's stream.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubelite.bus.connection import connect_nats
from kubelite.client.logs import LogRequest, stream_logs
from kubelite.errors import APIError
from kubelite_nodeagent.__main__ import start_agents, stop_agents
from kubelite_nodeagent.agent import NodeAgent
from kubelite_nodeagent.config import parse_args
from tests.conftest import eventually, free_pod_cidr

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (process runtime namespaces)")

PY = sys.executable


@pytest.fixture
async def agent(nats_url: str, apiserver: Any, tmp_path: Path, bus_creds: Any) -> AsyncIterator[NodeAgent]:
    node = f"lg-{uuid.uuid4().hex[:8]}"
    cidr = free_pod_cidr()
    cfg = parse_args(["--nats", nats_url, "--node-name", node, "--runtime", "process", "--root-dir",
                      str(tmp_path / "agent"), "--pod-cidr", cidr, "--restart-backoff-base", "0.5",
                      "--restart-backoff-max", "1", "--no-events"])
    nc = await connect_nats(nats_url, name="test-logs-agent", wait_seconds=10, credentials=bus_creds)
    [a] = await start_agents(cfg, nc)
    try:
        yield a
    finally:
        await stop_agents([a])
        await nc.close()
        await a.runtime.destroy_everything()  # type: ignore[attr-defined]


async def create_pod(api: httpx.AsyncClient, namespace: str, name: str, node: str, script: str,
                     **spec: Any) -> None:
    body = {"metadata": {"name": name}, "spec": {"nodeName": node, "containers": [
        {"name": "c", "image": "host", "command": [PY, "-u", "-c", script]}], **spec}}
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=body)
    assert r.status_code == 201, r.text


async def pod_phase(api: httpx.AsyncClient, namespace: str, name: str) -> str:
    r = await api.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
    return r.json().get("status", {}).get("phase", "") if r.status_code == 200 else ""


async def test_follow_streams_new_lines_and_stops_when_the_reader_leaves(
    agent: NodeAgent, api: httpx.AsyncClient, namespace: str, nats_client: Any
) -> None:
    script = "import time\nfor i in range(1000):\n    print(f'line {i}')\n    time.sleep(0.2)\n"
    await create_pod(api, namespace, "ticker", agent.node.name, script)
    await eventually(lambda: pod_phase(api, namespace, "ticker"), timeout=20, message="pod never got a phase")

    async def running() -> bool:
        return await pod_phase(api, namespace, "ticker") == "Running"

    await eventually(running, timeout=20, message="pod not Running")

    async def some_lines() -> bool:
        text = b"".join([c async for c in stream_logs(nats_client, agent.node.name,
                                                      LogRequest(namespace=namespace, pod="ticker"))])
        return text.count(b"\n") >= 3

    await eventually(some_lines, timeout=10, message="the pod logged nothing")
    stream = stream_logs(nats_client, agent.node.name,
                         LogRequest(namespace=namespace, pod="ticker", follow=True, tailLines=1))
    received = b""
    async with asyncio.timeout(15):
        async for chunk in stream:
            received += chunk
            if received.count(b"\n") >= 4:
                break
    await stream.aclose()
    lines = received.decode().splitlines()
    numbers = [int(line.split()[1]) for line in lines]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), lines  # in order, none lost
    assert numbers[0] > 0, "tailLines=1 should skip the start of the log"
    await eventually(lambda: not agent.logs.streams, timeout=10,
                     message="the agent kept streaming after the reader went away")


async def test_previous_logs_of_a_restarted_container(
    agent: NodeAgent, api: httpx.AsyncClient, namespace: str, nats_client: Any
) -> None:
    script = "import os, time\nprint('run', os.getpid(), flush=True)\nraise SystemExit(1)\n"
    await create_pod(api, namespace, "crashy", agent.node.name, script)

    async def restarted() -> bool:
        r = await api.get(f"/api/v1/namespaces/{namespace}/pods/crashy")
        cs = (r.json().get("status") or {}).get("containerStatuses") or [{}]
        return cs[0].get("restartCount", 0) >= 1

    await eventually(restarted, timeout=20, message="container never restarted")
    previous = b"".join([c async for c in stream_logs(
        nats_client, agent.node.name, LogRequest(namespace=namespace, pod="crashy", previous=True))])
    assert previous.startswith(b"run "), previous

    with pytest.raises(APIError) as err:
        async for _ in stream_logs(nats_client, agent.node.name,
                                   LogRequest(namespace=namespace, pod="crashy", container="nope")):
            pass
    assert err.value.code == 400 and "container nope is not valid for pod crashy" in str(err.value)
