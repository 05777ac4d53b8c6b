"""SIGKILL a node agent (process runtime, as root) while it is starting a pod, and start it again.

The kill comes the moment the agent has written one of its on-disk records for the
new pod: the sandbox (network namespace set up), the container record (created,
not started), the supervisor's log (the supervisor is being spawned), or the
supervisor's started.json (the process is running, the agent has not reported it). After each restart the pod is Running with
restartCount 0 and exactly one process for its container: the new agent adopted
or finished what the old one began, and started no twin.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.chaos.conftest import ChaosCluster, Component, converge, record_timing

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, cgroups)"),
]

NS = "default"
MOMENTS = ["sandbox.json", "record.json", "supervisor.log", "started.json"]


def free_cidr() -> str:
    """A /24 of 10.244.0.0/16 that no interface here uses (the runtime refuses overlaps)."""
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
    used = [ipaddress.ip_network(parts[3], strict=False) for parts in map(str.split, out.splitlines())
            if len(parts) > 3]
    import random

    while True:
        net = ipaddress.ip_network(f"10.244.{random.randrange(64, 250)}.0/24")
        if not any(net.overlaps(u) for u in used):
            return str(net)


def processes_with(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def container_shells(marker: str) -> list[int]:
    """Host pids of `sh` processes whose command line holds `marker` (one per container)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"sh\0") and marker.encode() in cmdline:
                pids.append(int(entry.name))
    return pids


def leftovers(node: str) -> list[str]:
    """Anything of `node` still on the machine: bridge, pod network namespaces, cgroups."""
    from kubelite_nodeagent.runtime.netns import NETNS_DIR, bridge_name

    bridge = bridge_name(node)
    found = [f"bridge {bridge}"] if Path(f"/sys/class/net/{bridge}").exists() else []
    if NETNS_DIR.is_dir():
        found += [f"netns {p.name}" for p in NETNS_DIR.iterdir() if p.name.startswith(bridge + "-")]
    for controller in ("memory", "cpu", "pids"):
        found += [f"cgroup {p}" for p in Path("/sys/fs/cgroup", controller).rglob(f"kubelite/{node}")]
    return found


def records(pod_dir: Path) -> list[str]:
    """The pod's record files as the killed agent left them (what the new one finds)."""
    found = [f.name for f in pod_dir.glob("*.json")]
    for c in sorted(pod_dir.glob("containers/*")):
        found.append("container:" + "+".join(sorted(f.name for f in c.glob("*.json"))))
        if processes_with(str(c)):
            found.append("(supervisor running)")
    return found


def kill_when_written(root: Path, pod_uid_dir: str, filename: str, agent: Component,
                      stop: threading.Event, left: list[str]) -> threading.Thread:  # fmt: skip
    """Poll tightly for `filename` anywhere under the pod's record dir; SIGKILL the agent then
    and put what the records look like into `left`."""
    pod_dir = root / "process" / "pods"

    def run() -> None:
        while not stop.is_set():
            if pod_dir.is_dir():
                for uid_dir in pod_dir.iterdir():
                    if not uid_dir.name.startswith(pod_uid_dir):
                        continue
                    if (uid_dir / filename).exists() or any(
                            (c / filename).exists() for c in (uid_dir / "containers").glob("*")):
                        agent.kill()
                        left.extend(records(uid_dir))
                        return
            time.sleep(0.001)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
async def agent(cluster: ChaosCluster) -> AsyncIterator[tuple[Component, str, Path]]:
    node = f"chaos-{uuid.uuid4().hex[:8]}"
    root = cluster.base / node
    cidr = free_cidr()
    cluster.add_node(node)
    comp = cluster.service(
        node, "kubelite-nodeagent", "--nats", cluster.nats_url, *cluster.pki_flag, "--node-name", node,
        "--runtime", "process", "--root-dir", str(root), "--pod-cidr", cidr,
        "--node-status-update-frequency", "2", "--resync-period", "5",
    )  # fmt: skip
    try:
        yield comp, node, root
    finally:
        comp.kill()
        from kubelite_nodeagent.runtime.base import RuntimeConfig
        from kubelite_nodeagent.runtime.process import ProcessRuntime

        rt = ProcessRuntime(RuntimeConfig(node_name=node, root_dir=str(root), pod_cidr=cidr, node_ip=""))
        await rt.destroy_everything()
        assert leftovers(node) == [], f"left on the machine: {leftovers(node)}"


def status_of(pod: dict[str, Any]) -> dict[str, Any]:
    return (pod.get("status", {}).get("containerStatuses") or [{}])[0]


async def test_nodeagent_killed_mid_pod_start_leaves_no_twin_and_no_restart(
    cluster: ChaosCluster, http: httpx.AsyncClient, agent: tuple[Component, str, Path]
) -> None:
    comp, node, root = agent

    async def node_ready() -> str | None:
        r = await http.get(f"/api/v1/nodes/{node}")
        if r.status_code != 200:
            return "no node"
        conds = {c["type"]: c["status"] for c in r.json().get("status", {}).get("conditions") or []}
        return None if conds.get("Ready") == "True" else f"conditions {conds}"

    await converge(node_ready, timeout=60, message="node never Ready", cluster=cluster)
    markers: dict[str, str] = {}
    for i, moment in enumerate(MOMENTS):
        name = f"p{i}"
        markers[name] = f"chaos-{uuid.uuid4().hex[:10]}"
        stop = threading.Event()
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
            "nodeName": node, "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": "host",
                            "command": ["sh", "-c", f"while :; do sleep 1; done # {markers[name]}"]}]}}
        r = await http.post(f"/api/v1/namespaces/{NS}/pods", json=pod)
        assert r.status_code == 201, r.text
        left: list[str] = []
        killer = kill_when_written(root, r.json()["metadata"]["uid"], moment, comp, stop, left)
        try:
            await asyncio.to_thread(killer.join, 60)
        finally:
            stop.set()
        assert not comp.alive, f"agent not killed at {moment}"
        t0 = time.monotonic()
        comp.start()

        async def running(name: str = name) -> str | None:
            p = (await http.get(f"/api/v1/namespaces/{NS}/pods/{name}")).json()
            return None if p.get("status", {}).get("phase") == "Running" else f"status {p.get('status')}"

        await converge(running, timeout=60, message=f"{name} not Running after a kill at {moment}",
                       cluster=cluster)
        record_timing(f"node agent SIGKILL when {moment} appeared (left: {' '.join(left)}) -> pod Running",
                      time.monotonic() - t0)

    await asyncio.sleep(3)  # a resync period later: a twin started late would show now
    for name, marker in markers.items():
        p = (await http.get(f"/api/v1/namespaces/{NS}/pods/{name}")).json()
        assert p["status"]["phase"] == "Running", p["status"]
        assert status_of(p).get("restartCount") == 0, f"{name}: {status_of(p)}"
        assert "running" in status_of(p).get("state", {}), f"{name}: {status_of(p)}"
        shells = container_shells(marker)
        assert len(shells) == 1, f"{name}: {len(shells)} container processes (twins): {shells}"
        uid = p["metadata"]["uid"]
        live = [c.name for c in (root / "process" / "pods" / uid / "containers").iterdir()
                if (c / "started.json").exists() and not (c / "exit.json").exists()]
        assert len(live) == 1, f"{name}: running container records {live}"
