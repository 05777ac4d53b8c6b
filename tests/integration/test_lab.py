"""`kubelite lab`: three control-plane hosts and two workers as network namespaces on a bridge,
HAProxy in front of the apiservers. SIGKILL of one etcd member, one NATS server and one apiserver
leaves the cluster serving reads and writes and running pods; `lab down` leaves no namespace,
link, rule or process behind. Real etcd and NATS clusters, real network namespaces."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubelite.devservers import pid_alive
from tests.conftest import kubectl_binary

KUBELITE = [sys.executable, "-m", "kubelite_cli"]

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(shutil.which("haproxy") is None, reason="no haproxy (scripts/install-docker.sh)"),
    pytest.mark.timeout(300),
]

WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: busybox
        command: ["sh", "-c", "mkdir -p /tmp/www && hostname > /tmp/www/index.html && exec busybox httpd -f -p 8080 -h /tmp/www"]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
"""


def _wait(predicate: Callable[[], Any], timeout: float, message: str) -> Any:
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            if result := predicate():
                return result
        except (AssertionError, subprocess.SubprocessError, json.JSONDecodeError) as exc:
            last = exc
        time.sleep(0.3)
    raise AssertionError(f"{message} (after {timeout}s; last: {last!r})")


class Lab:
    def __init__(self, data_dir: Path, name: str, subnet: str) -> None:
        self.data_dir, self.name, self.subnet = data_dir, name, subnet
        self.kubeconfig = data_dir / "kubeconfig"

    def cli(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*KUBELITE, "lab", *args, "--data-dir", str(self.data_dir), "--name", self.name,
                               "--subnet", self.subnet], capture_output=True, text=True, timeout=timeout)

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run([kubectl_binary(), "--kubeconfig", str(self.kubeconfig), "--request-timeout=10s", *args],
                              input=stdin, capture_output=True, text=True, timeout=timeout)

    def state(self) -> dict:
        return json.loads((self.data_dir / "lab.json").read_text())

    def kill(self, process: str) -> None:
        record = next(p for p in self.state()["processes"] if p["name"] == process)
        os.kill(record["pid"], signal.SIGKILL)
        _wait(lambda: not pid_alive(record["pid"]), 10, f"{process} survived SIGKILL")

    def netns_left(self) -> list[str]:
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        return [line.split()[0] for line in out.splitlines() if line.startswith(f"{self.name}-")]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    name = "kt" + "".join(random.choices("abcdefghij", k=3))
    lab = Lab(tmp_path / "lab", name, f"10.{random.randint(180, 199)}.{random.randint(0, 255)}.0/24")
    # the workers' proxies forward in the kernel (nftables) where the host can: setup installs nft
    mode = ["--proxy-mode", "nftables"] if shutil.which("nft") else []
    up = lab.cli("up", "--control-planes", "3", "--nodes", "2", *mode)
    try:
        assert up.returncode == 0, f"lab up failed:\n{up.stdout}\n{up.stderr}"
        yield lab
    finally:
        down = lab.cli("down", timeout=120)
        assert down.returncode == 0, f"lab down failed:\n{down.stdout}\n{down.stderr}"


def _write(lab: Lab, name: str) -> bool:
    made = lab.kubectl("create", "configmap", name, f"--from-literal=k={name}")
    return made.returncode == 0 and lab.kubectl("get", "configmap", name).returncode == 0


def _running_web(lab: Lab) -> list[str]:
    pods = json.loads(lab.kubectl("get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
    return [p["spec"]["nodeName"] for p in pods
            if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]


def test_lab_survives_losing_an_etcd_member_a_nats_server_and_an_apiserver(lab: Lab) -> None:
    """Then `kubelite chaos run` starts what was killed again and partitions a worker."""
    nodes = json.loads(lab.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == ["w-1", "w-2"]
    cidrs = {n["metadata"]["name"]: n["spec"].get("podCIDR") for n in nodes}
    assert len(set(cidrs.values())) == 2 and all(cidrs.values()), cidrs  # node IPAM, one range each
    status = lab.cli("status")
    assert status.returncode == 0 and "etcd-cp-3" in status.stdout and "haproxy" in status.stdout, status.stdout

    assert lab.kubectl("apply", "-f", "-", stdin=WEB).returncode == 0
    placed = _wait(lambda: len(_running_web(lab)) == 2 and _running_web(lab), 90, "web never had 2 ready pods")
    lab.kubectl("expose", "deployment", "web", "--type=NodePort", "--port=80", "--target-port=8080")
    port = json.loads(lab.kubectl("get", "svc", "web", "-o", "json").stdout)["spec"]["ports"][0]["nodePort"]
    assert lab.state()["hosts"]["nodeagent-w-1"] == "w-1"
    ip = lab.subnet.rsplit(".", 1)[0] + ".21"
    _wait(lambda: subprocess.run(["curl", "-sf", "--max-time", "2", f"http://{ip}:{port}/"], capture_output=True,
                                 text=True).stdout.strip(), 30, "the NodePort never answered")
    assert placed

    lab.kill("etcd-cp-1")  # a member: the apiservers using it move to another
    _wait(lambda: _write(lab, "after-etcd"), 30, "no write after losing an etcd member")
    lab.kill("nats-cp-2")  # a NATS server: clients on it reconnect to the others
    _wait(lambda: _write(lab, "after-nats"), 30, "no write after losing a NATS server")
    assert lab.kubectl("scale", "deployment", "web", "--replicas=3").returncode == 0
    _wait(lambda: len(_running_web(lab)) == 3, 60, "no third pod after losing a NATS server")
    lab.kill("apiserver-cp-3")  # HAProxy takes it out of rotation
    _wait(lambda: _write(lab, "after-apiserver"), 30, "no write after losing an apiserver")
    got = json.loads(lab.kubectl("get", "configmaps", "-o", "json").stdout)["items"]
    assert {"after-etcd", "after-nats", "after-apiserver"} <= {c["metadata"]["name"] for c in got}

    # a chaos scenario against it: the processes killed above are started again first, then a
    # worker is cut off while traffic and writes go on, and its pods come back elsewhere
    chaos = subprocess.run([*KUBELITE, "chaos", "run", "partition-worker", "--data-dir", str(lab.data_dir),
                            "--report", str(lab.data_dir / "report")], capture_output=True, text=True, timeout=240)
    assert chaos.returncode == 0, f"chaos run failed:\n{chaos.stdout}\n{chaos.stderr}"
    for verdict in ("PASS no acknowledged write lost or duplicated", "PASS no StatefulSet ordinal runs twice",
                    "PASS pods of w-", "out of the Service's Endpoints: "):
        assert verdict in chaos.stdout, chaos.stdout
    print(chaos.stdout)
    assert "1/1 scenarios passed" in chaos.stdout and "note: etcd-cp-1 was not running" in chaos.stdout, chaos.stdout
    page = (lab.data_dir / "report" / "report.html").read_text()
    assert "<svg" in page and "partition-worker" in page
    assert json.loads((lab.data_dir / "report" / "events.json").read_text())[0]["scenario"] == "partition-worker"
    if shutil.which("nft"):  # the Service traffic above went through each worker's nftables table
        for w in ("w-1", "w-2"):
            table = subprocess.run(["ip", "netns", "exec", f"{lab.name}-{w}", "nft", "list", "table", "ip",
                                    f"kubelite-proxy-{w}"], capture_output=True, text=True)  # fmt: skip
            assert table.returncode == 0 and "dnat" in table.stdout, table.stderr

    again = lab.cli("up", "--control-planes", "3", "--nodes", "2")
    assert again.returncode != 0 and "a lab is already running" in again.stderr, again.stderr

    processes = lab.state()["processes"]
    down = lab.cli("down", timeout=120)
    assert down.returncode == 0, down.stderr
    assert lab.netns_left() == []
    assert subprocess.run(["ip", "link", "show", f"{lab.name}0"], capture_output=True).returncode != 0
    assert [p["name"] for p in processes if pid_alive(p["pid"])] == []
    rules = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True).stdout
    assert f"kubelite lab {lab.name}" not in rules


def test_lab_refuses_bad_input(tmp_path: Path) -> None:
    lab = Lab(tmp_path / "lab", "ktbad", "10.198.7.0/24")
    bad = lab.cli("up", "--control-planes", "0")
    assert bad.returncode != 0 and bad.stderr.strip().splitlines() == [
        "error: --control-planes must be 1 to 7 (Raft wants an odd number), not 0"], bad.stderr
    assert not (tmp_path / "lab" / "lab.json").exists() and lab.netns_left() == []
