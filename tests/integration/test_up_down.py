"""`kubelite up` starts a whole local cluster as detached processes; `down` leaves none behind."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from kubelite.devservers import pid_alive

KUBELITE = [sys.executable, "-m", "kubelite_cli"]


def kubelite(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KUBELITE, *args], capture_output=True, text=True, timeout=timeout)


def test_up_status_down(tmp_path: Path) -> None:
    data_dir = tmp_path / "cluster"
    up = kubelite("up", "--data-dir", str(data_dir), "--only", "apiserver",
                  "--random-ports", "--node-monitor-grace-period", "7s",
                  "--default-not-ready-toleration-seconds", "11")
    state_file = data_dir / "cluster.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else None
    try:
        assert up.returncode == 0, f"up failed: {up.stdout}\n{up.stderr}"
        assert state is not None, "up wrote no cluster.json"
        names = [p["name"] for p in state["processes"]]
        assert names == ["etcd", "nats", "apiserver"], names
        assert state["node_monitor_grace_period"] == "7s"
        assert state["default_not_ready_toleration_seconds"] == 11
        for proc in state["processes"]:
            assert pid_alive(proc["pid"]), f"{proc['name']} not running after up"
            assert Path(proc["log"]).parent == data_dir / "logs"

        assert state["apiserver_url"].startswith("https://"), "the apiserver serves HTTPS only"
        ca = ssl.create_default_context(cafile=data_dir / "pki" / "cluster-ca.crt")
        with urllib.request.urlopen(state["apiserver_url"] + "/readyz", timeout=5, context=ca) as resp:
            assert resp.status == 200  # public: no credentials needed
        with urllib.request.urlopen(state["apiserver_url"] + "/version", timeout=5, context=ca) as resp:
            assert "gitVersion" in json.load(resp)
        with pytest.raises(urllib.error.HTTPError) as denied:  # anonymous: health and discovery only
            urllib.request.urlopen(state["apiserver_url"] + "/api/v1/namespaces", timeout=5, context=ca)
        assert denied.value.code == 403
        kubeconfig = (data_dir / "kubeconfig").read_text()
        assert state["apiserver_url"] in kubeconfig and state["nats_url"] in kubeconfig

        again = kubelite("up", "--data-dir", str(data_dir), "--random-ports")
        assert again.returncode == 0, again.stderr
        assert "already running" in again.stdout
        again_state = json.loads(state_file.read_text())
        assert [p["pid"] for p in again_state["processes"]] == [p["pid"] for p in state["processes"]]

        status = kubelite("status", "--data-dir", str(data_dir))
        assert status.returncode == 0, status.stdout + status.stderr
        assert status.stdout.count("alive") == len(state["processes"])
    finally:
        down = kubelite("down", "--data-dir", str(data_dir))
    assert down.returncode == 0, f"down failed: {down.stdout}\n{down.stderr}"
    assert state is not None
    still = [p["name"] for p in state["processes"] if pid_alive(p["pid"])]
    assert not still, f"still running after down: {still}"
    assert not state_file.exists()
    after = kubelite("status", "--data-dir", str(data_dir))
    assert after.returncode == 1 and "no kubelite cluster" in after.stdout


FIRST_APP = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: first}
spec:
  replicas: 2
  selector: {matchLabels: {app: first}}
  template:
    metadata: {labels: {app: first}}
    spec:
      containers: [{name: web, image: busybox}]
---
apiVersion: v1
kind: Service
metadata: {name: first}
spec:
  type: NodePort
  selector: {app: first}
  ports: [{port: 80}]
"""


def _up_with_first_app(data_dir: Path, *, nodes: int) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """`up` with fake-runtime nodes and FIRST_APP applied (and available) by `up -f`."""
    app = data_dir.parent / f"{data_dir.name}-app.yaml"
    app.write_text(FIRST_APP)
    return data_dir, kubelite("up", "--data-dir", str(data_dir), "--nodes", str(nodes), "--runtime", "fake",
                              "--random-ports", "-f", str(app), "--wait-timeout", "60")


def test_up_starts_every_service(tmp_path: Path) -> None:
    """The whole table with two nodes: every service runs, and `down` stops all."""
    from kubelite_cli.cluster.services import SERVICES

    data_dir, up = _up_with_first_app(tmp_path / "full", nodes=2)
    state_file = data_dir / "cluster.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else None
    try:
        assert up.returncode == 0, f"up failed: {up.stdout}\n{up.stderr}"
        assert state is not None
        expected = ["etcd", "nats"]
        for spec in SERVICES:
            expected += [f"{spec.name}-node-{i}" for i in (1, 2)] if spec.per_node else [spec.name]
        assert [p["name"] for p in state["processes"]] == expected
        dead = [p["name"] for p in state["processes"] if not pid_alive(p["pid"])]
        assert not dead, f"not running after up: {dead}"
        # `up -f` returned only once the app was available, and says where it answers
        assert "deployment.apps/first created" in up.stdout and "\navailable; reach it at:" in up.stdout, up.stdout
        assert "http://127.0.0.1:" in up.stdout and "(service first, port 80)" in up.stdout, up.stdout
        assert f"export KUBECONFIG={data_dir / 'kubeconfig'}" in up.stdout
        _check_metrics_endpoints(data_dir, state)
        status = kubelite("status", "--data-dir", str(data_dir))
        assert "METRICS" in status.stdout and "monitoring.crt" in status.stdout, status.stdout
    finally:
        down = kubelite("down", "--data-dir", str(data_dir))
    assert down.returncode == 0, down.stderr
    if state is not None:
        still = [p["name"] for p in state["processes"] if pid_alive(p["pid"])]
        assert not still, f"still running after down: {still}"


# A family each process must export (Kubernetes' names where Kubernetes has one).
EXPECTED_FAMILY = {
    "apiserver": "apiserver_request_total", "scheduler": "scheduler_pending_pods",
    "controller-manager": "workqueue_adds_total", "nodeagent": "kubelet_running_pods",
    "proxy": "kubeproxy_sync_proxy_rules_duration_seconds",
}


def _scrape(url: str, pki: Path, cert: str | None) -> tuple[int, str]:
    ctx = ssl.create_default_context(cafile=pki / "cluster-ca.crt")
    if cert:
        ctx.load_cert_chain(pki / f"{cert}.crt", pki / f"{cert}.key")
    try:
        with urllib.request.urlopen(url, timeout=5, context=ctx) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _check_metrics_endpoints(data_dir: Path, state: dict) -> None:
    """Every kubelite process serves /metrics over verified TLS: the monitoring credential reads it,
    a node's certificate is refused (403), no certificate is 401."""
    import time

    pki = data_dir / "pki"
    for proc in state["processes"]:
        if proc["name"] in ("etcd", "nats"):
            continue
        url = proc["metrics_url"]
        assert url.startswith("https://127.0.0.1:"), f"{proc['name']}: no metrics URL in cluster.json"
        family = EXPECTED_FAMILY[proc["name"].split("-node-")[0]]
        deadline, last = time.monotonic() + 30, (0, "")
        while time.monotonic() < deadline:
            try:
                last = _scrape(url, pki, "monitoring")
            except OSError as exc:  # not listening yet
                last = (0, str(exc))
            if last[0] == 200 and family in last[1]:
                break
            time.sleep(0.2)
        assert last[0] == 200 and family in last[1], f"{proc['name']} {url}: {last[0]} {last[1][:300]}"
        assert "process_resident_memory_bytes" in last[1]
        assert _scrape(url, pki, "node-node-1")[0] == 403, f"{proc['name']}: a node read its metrics"
        assert _scrape(url, pki, None)[0] in (401, 403), f"{proc['name']}: anonymous read its metrics"


def test_up_rejects_unknown_service_names(tmp_path: Path) -> None:
    up = kubelite("up", "--data-dir", str(tmp_path), "--only", "apiserver,bogus")
    assert up.returncode == 1
    assert up.stderr.strip().splitlines() == [
        "error: unknown service(s) bogus; known: apiserver, controller-manager, nodeagent, "
        "proxy, scheduler"]
    assert not (tmp_path / "cluster.json").exists()


def test_down_without_cluster_is_a_no_op(tmp_path: Path) -> None:
    down = kubelite("down", "--data-dir", str(tmp_path))
    assert down.returncode == 0
    assert "no kubelite cluster" in down.stdout


def test_stop_all_reaches_children_of_a_dead_leader(tmp_path: Path) -> None:
    """A service's worker processes outlive it in its process group; `down` still stops them."""
    import os
    import time

    from kubelite_cli.cluster.procs import is_running, spawn_detached, stop_all

    log = tmp_path / "leader.log"
    script = ("import subprocess; p = subprocess.Popen(['sleep', '60']); "
              "print(p.pid, flush=True)")
    record = spawn_detached("leader", [sys.executable, "-c", script], log)
    os.waitpid(record.pid, 0)  # the leader exits at once, leaving its child in the group
    child = int(log.read_text().split()[-1])
    assert not is_running(record)
    assert pid_alive(child), "the child should still be running before stop_all"
    stop_all([record], timeout=5)
    deadline = time.monotonic() + 5
    while pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(child), "stop_all left the leader's child running"


def test_up_restarts_only_what_stopped(tmp_path: Path) -> None:
    """`up` on a cluster some of whose processes were killed starts those again, with their
    arguments; the rest keep their PIDs, the pods theirs, and the cluster works on."""
    import os
    import signal
    import time

    data_dir, up = _up_with_first_app(tmp_path / "heal", nodes=1)
    state_file = data_dir / "cluster.json"
    kubeconfig = str(data_dir / "kubeconfig")

    def pods() -> dict[str, dict]:
        got = kubelite("--kubeconfig", kubeconfig, "get", "pods", "-l", "app=first", "-o", "json")
        assert got.returncode == 0, got.stderr
        return {p["metadata"]["uid"]: p for p in json.loads(got.stdout)["items"]}

    try:
        assert up.returncode == 0, f"up failed: {up.stdout}\n{up.stderr}"
        before = json.loads(state_file.read_text())
        pids = {p["name"]: p["pid"] for p in before["processes"]}
        first_pods = set(pods())
        killed = ["etcd", "scheduler", "nodeagent-node-1"]
        for name in killed:
            os.killpg(pids[name], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(pid_alive(pids[n]) for n in killed) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(pid_alive(pids[n]) for n in killed), "the killed processes did not end"

        status = kubelite("status", "--data-dir", str(data_dir))
        assert status.returncode == 1 and status.stdout.count(" dead ") == len(killed), status.stdout
        assert f"kubelite up --data-dir {data_dir}` restarts them" in status.stdout, status.stdout
        again = kubelite("up", "--data-dir", str(data_dir), "--random-ports")
        assert again.returncode == 0, f"{again.stdout}\n{again.stderr}"
        assert "restarting what stopped: etcd, scheduler, nodeagent-node-1" in again.stdout, again.stdout
        after = {p["name"]: p["pid"] for p in json.loads(state_file.read_text())["processes"]}
        assert {n: p for n, p in after.items() if n not in killed} == \
            {n: p for n, p in pids.items() if n not in killed}, "a running process was restarted"
        for name in killed:
            assert after[name] != pids[name] and pid_alive(after[name]), f"{name} was not restarted"

        scaled = kubelite("--kubeconfig", kubeconfig, "scale", "deploy", "first", "--replicas", "3")
        assert scaled.returncode == 0, scaled.stderr
        deadline, now = time.monotonic() + 60, {}
        while time.monotonic() < deadline:
            now = pods()
            running = [p for p in now.values() if p["spec"].get("nodeName") and
                       p.get("status", {}).get("phase") == "Running"]
            if len(running) == 3:
                break
            time.sleep(0.3)
        assert len(now) == 3 and all(p.get("status", {}).get("phase") == "Running" for p in now.values()), \
            f"not 3 pods Running after the restart: {[(p['metadata']['name'], p.get('status', {}).get('phase')) for p in now.values()]}"
        assert first_pods <= set(now), "the restart replaced pods that were running"
    finally:
        down = kubelite("down", "--data-dir", str(data_dir))
    assert down.returncode == 0, down.stderr
