"""The compatibility suite: the real `kubectl` and the official `kubernetes` Python
client against a kubelite cluster started by `kubelite up` (fake node runtime).

Each test names the kubectl command or client call it proves with
`@pytest.mark.compat("kubectl apply --server-side")`; outcomes are collected
here and `test_zz_compat_doc.py` (last) checks docs/kubectl-compat.md against
them (KUBELITE_WRITE_COMPAT_DOC=1 rewrites the table instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import kubectl_binary

REPO = Path(__file__).resolve().parents[2]
KUBELITE = [sys.executable, "-m", "kubelite_cli"]


# ------------------------------------------------------------- outcome registry
@dataclass
class Outcome:
    passed: int = 0
    failed: int = 0
    skipped: list[str] = field(default_factory=list)  # reasons (service not implemented, ...)
    xfailed: list[str] = field(default_factory=list)  # reasons (known not to work yet)
    missing: set[str] = field(default_factory=set)  # declared gaps of passing tests ("partly")
    tests: list[str] = field(default_factory=list)

    def status(self) -> tuple[str, str]:
        """(status, notes) for docs/kubectl-compat.md."""
        if self.failed:
            return "not", "failing: " + ", ".join(t.split("::")[-1] for t in self.tests)
        if not self.passed:
            reasons = sorted(set(self.xfailed + self.skipped))
            return "not yet", "; ".join(reasons)
        gaps = sorted(self.missing | {f"skipped: {r}" for r in self.skipped}
                      | {f"not yet: {r}" for r in self.xfailed})
        return ("partly", "; ".join(gaps)) if gaps else ("supported", "")


OUTCOMES: dict[str, Outcome] = {}
COLLECTED: dict[str, set[str]] = {"commands": set(), "files": set()}
DESELECTED: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "compat(command, missing=None): the kubectl command / client call this test proves"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for m in item.iter_markers("compat"):
            COLLECTED["commands"].add(m.args[0])
            COLLECTED["files"].add(item.path.name)


def pytest_deselected(items: list[pytest.Item]) -> None:
    DESELECTED.extend(i.nodeid for i in items if "tests/compat/" in i.nodeid)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    marks = getattr(report, "compat_marks", None)
    if not marks:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        for command, missing in marks:
            o = OUTCOMES.setdefault(command, Outcome())
            o.tests.append(report.nodeid)
            if missing:
                o.missing.add(missing)
            if hasattr(report, "wasxfail"):
                if report.skipped and report.when == "call":
                    o.xfailed.append(report.wasxfail.removeprefix("reason: "))
                else:
                    o.failed += 1  # its set-up failed (not the command), or a strict xfail passed
            elif report.skipped:
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
                o.skipped.append(reason.removeprefix("Skipped: "))
            elif report.passed:
                o.passed += 1
            else:
                o.failed += 1


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    report.compat_marks = [
        (m.args[0], m.kwargs.get("missing")) for m in item.iter_markers("compat")
    ]


# --------------------------------------------------------------------- cluster
@dataclass
class Cluster:
    data_dir: Path
    kubeconfig: Path
    apiserver_url: str
    kubectl_path: str
    state: dict

    @property
    def tls(self) -> Any:
        """The admin's TLS settings from the kubeconfig, for direct HTTP requests."""
        from kubelite.client.kubeconfig import load_kubeconfig

        return load_kubeconfig(str(self.kubeconfig)).ssl_context()

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 30,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl with only --kubeconfig; on `check`, fail with its stderr."""
        proc = subprocess.run(
            [self.kubectl_path, "--kubeconfig", str(self.kubeconfig), *args],
            input=input, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, **(env or {})},
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def kubelite(self, *args: str, input: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run the kubelite CLI with only --kubeconfig (the caller checks the outcome)."""
        return subprocess.run([sys.executable, "-m", "kubelite_cli", "--kubeconfig", str(self.kubeconfig), *args],
                              input=input, capture_output=True, text=True, timeout=timeout)

    def json(self, *args: str) -> Any:
        """`kubectl ... -o json` decoded (managedFields included)."""
        return json.loads(self.kubectl(*args, "-o", "json", "--show-managed-fields").stdout)

    def log_tail(self, name: str = "apiserver", lines: int = 40) -> str:
        path = self.data_dir / "logs" / f"{name}.log"
        try:
            return "".join(path.read_text().splitlines(keepends=True)[-lines:])
        except OSError:
            return ""


# Package scope: the cluster stops when tests/compat is done, so its proxy does not hold
# host-wide ports (cluster DNS on :53, NodePorts) while later suites start clusters of their own.
@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    kubectl_path = kubectl_binary()
    data_dir = tmp_path_factory.mktemp("compat") / "cluster"
    up = subprocess.run(
        [*KUBELITE, "up", "--data-dir", str(data_dir), "--nodes", "1", "--runtime", "fake",
         "--random-ports", "--settle-seconds", "0.5", "--metrics-resolution", "1s",
         "--horizontal-pod-autoscaler-sync-period", "2s"],
        capture_output=True, text=True, timeout=120,
    )
    try:
        assert up.returncode == 0, f"kubelite up failed:\n{up.stdout}\n{up.stderr}"
        state = json.loads((data_dir / "cluster.json").read_text())
        c = Cluster(data_dir, Path(state["kubeconfig"]), state["apiserver_url"], kubectl_path, state)
        _wait(lambda: "Ready" in c.kubectl("get", "nodes", check=False).stdout, 30,
              "node-1 never became Ready")
        yield c
    finally:
        subprocess.run([*KUBELITE, "down", "--data-dir", str(data_dir)], capture_output=True, timeout=60)


@pytest.fixture
def kubectl(cluster: Cluster) -> Callable[..., subprocess.CompletedProcess[str]]:
    return cluster.kubectl


@pytest.fixture
def ns(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace per test (created with kubectl itself), deleted afterwards."""
    name = "c-" + uuid.uuid4().hex[:8]
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="package")
def k8s(cluster: Cluster):
    """The official client's ApiClient, configured from the kubeconfig `kubelite up` wrote."""
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    yield api
    api.close()
    del client


def _wait(predicate: Callable[[], Any], timeout: float, message: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = predicate()
            if last:
                return last
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} (after {timeout}s; last: {last!r})")
        time.sleep(0.2)


wait_for = _wait


# ------------------------------------------------- nodes that run something
@contextlib.contextmanager
def extra_node(cluster: Cluster, root: Path, runtime: str, taints: list[str]) -> Iterator[str]:
    """One more node agent (its own certificates) with a real runtime, Ready until the block
    ends; then stopped, its Node deleted and what its runtime left on the host removed."""
    name = f"{runtime[:4]}-" + os.urandom(3).hex()
    cidr = _free_pod_cidr()
    exe = Path(sys.executable).with_name("kubelite-nodeagent")
    log = (root / "agent.log").open("ab")
    # a new node's certificates, and the cluster's NATS told to admit it
    subprocess.run([*KUBELITE, "certs", "--data-dir", str(cluster.data_dir), "--node", name],
                   check=True, capture_output=True, timeout=60)
    popen = subprocess.Popen(
        [str(exe), "--nats", cluster.state["nats_url"], "--pki-dir", str(cluster.data_dir / "pki"),
         "--node-name", name, "--runtime", runtime,
         "--root-dir", str(root / "data"), "--pod-cidr", cidr, "--metrics-bind-address", "127.0.0.1:0",
         *(f"--register-with-taints={t}" for t in taints), "--remove-pods-on-exit",
         "--restart-backoff-base", "0.2"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: popen.poll() is None and " Ready " in cluster.kubectl("get", "node", name, check=False).stdout,
                 30, f"{runtime} node agent never Ready: {(root / 'agent.log').read_text()[-2000:]}")
        yield name
    finally:
        popen.terminate()
        try:
            popen.wait(40)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()
        cluster.kubectl("delete", "node", name, "--wait=false", check=False)
        # The agent leaves its bridge and firewall rules (or Docker network) behind on exit.
        asyncio.run(_remove_node_network(name, runtime, cidr, root))


async def _remove_node_network(name: str, runtime: str, cidr: str, root: Path) -> None:
    if runtime == "docker":
        from tests.docker_support import remove_node_objects

        await remove_node_objects(name)
        return
    from kubelite_nodeagent.runtime.netns import PodNetwork

    await PodNetwork(name, cidr, root / "net").teardown_node()


@pytest.fixture(scope="package")
def process_node(cluster: Cluster, tmp_path_factory) -> Iterator[str]:
    """One extra node agent with the process runtime (the fake runtime has no logs and
    runs nothing), tainted so only pods that tolerate it land there."""
    if os.geteuid() != 0:
        pytest.skip("the process runtime's pod networking needs root")
    with extra_node(cluster, tmp_path_factory.mktemp("procnode"), "process",
                    ["kubelite.io/compat-logs=true:NoSchedule"]) as name:
        yield name


def _free_pod_cidr() -> str:
    """A 10.244.x.0/24 no interface of this machine uses (other nodes' bridges may)."""
    import ipaddress

    out = subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, check=True).stdout
    used = [ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}").network
            for link in json.loads(out) for a in link.get("addr_info", []) if a.get("family") == "inet"]
    free = [n for x in range(200, 255)
            if not any((n := ipaddress.ip_network(f"10.244.{x}.0/24")).overlaps(u) for u in used)]
    return str(random.choice(free))


# ------------------------------------------- a pod that serves HTTP on 8080
SERVER_POD = """\
apiVersion: v1
kind: Pod
metadata: {{name: server}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  tolerations: [{{key: kubelite.io/compat-logs, operator: Exists}}]
  containers:
  - name: web
    image: busybox
    command: ["{python}", "-m", "http.server", "8080", "--bind", "0.0.0.0"]
    # Ready once it listens: without a probe it was Ready at start, before python bound 8080,
    # and a proxy request right after the wait was refused (a CI flake)
    readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 1}}
"""


@pytest.fixture
def running_pod(cluster: Cluster, kubectl: Callable[..., Any], ns: str, process_node: str,
                tmp_path: Path) -> Iterator[str]:
    """A pod on the process-runtime node serving HTTP on 8080 (the fake runtime runs nothing)."""
    f = tmp_path / "server.yaml"
    f.write_text(SERVER_POD.format(node=process_node, python=sys.executable))
    kubectl("-n", ns, "apply", "-f", str(f))
    try:
        kubectl("-n", ns, "wait", "--for=condition=Ready", "pod/server", "--timeout=30s", timeout=40)
        yield "server"
    finally:
        kubectl("-n", ns, "delete", "pod", "server", "--grace-period=1", "--timeout=30s", check=False, timeout=40)
