"""bench/chaos.py: its pure helpers, and a short real run against a `kubelite up` cluster."""

from __future__ import annotations

import importlib.util
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from kubelite_cli.cluster.state import ProcessRecord, load_state

pytestmark = pytest.mark.timeout(180)

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "chaos.py"
KUBELITE = str(Path(sys.executable).with_name("kubelite"))


@pytest.fixture(scope="module")
def chaos() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kubelite_bench_chaos", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def rec(name: str, pid: int = 1) -> ProcessRecord:
    return ProcessRecord(name=name, pid=pid, argv=[], log="")


def test_kinds_victims_leaders_and_summary(chaos: ModuleType) -> None:
    records = [rec("etcd"), rec("apiserver"), rec("nodeagent-node-1"), rec("nodeagent-node-2"),
               rec("proxy-node-1")]
    assert [chaos.kind_of(r) for r in records] == ["etcd", "apiserver", "nodeagent", "nodeagent", "proxy"]
    rng = random.Random(1)
    picked = {chaos.choose_victim(records, {"nodeagent"}, rng).name for _ in range(50)}
    assert picked == {"nodeagent-node-1", "nodeagent-node-2"}
    with pytest.raises(SystemExit, match="no process of kinds"):
        chaos.choose_victim(records, {"scheduler"}, rng)
    assert chaos.leads("vm_4242", 4242) and chaos.leads("vm_4242_ab12cd", 4242)
    assert not chaos.leads("vm_4242", 42) and not chaos.leads("4242", 4242) and not chaos.leads("", 1)
    lines = chaos.summarize([("etcd", 1.0), ("etcd", 3.0), ("etcd", 2.0), ("nats", None)])
    assert lines[1].split() == ["etcd", "3", "0", "1.0", "2.0", "3.0"]
    assert lines[2].split() == ["nats", "1", "1", "-", "-", "-"]


@pytest.fixture
def up_cluster(tmp_path: Path) -> Iterator[Path]:
    data_dir = tmp_path / "kl"
    up = subprocess.run(
        [KUBELITE, "up", "--data-dir", str(data_dir), "--nodes", "1", "--runtime", "fake",
         "--random-ports", "--only", "scheduler,controller-manager,nodeagent"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield data_dir
    finally:
        subprocess.run([KUBELITE, "down", "--data-dir", str(data_dir), "--timeout", "5"],
                       capture_output=True, timeout=60)


def test_script_kills_restarts_and_reports_convergence(up_cluster: Path) -> None:
    before = load_state(up_cluster)
    assert before is not None
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--data-dir", str(up_cluster), "--targets", "nats,apiserver",
         "--rounds", "2", "--interval", "0", "--down", "0.5", "--timeout", "60", "--seed", "3"],
        capture_output=True, text=True, timeout=150,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    rounds = [line for line in run.stdout.splitlines() if line.startswith("round ")]
    assert len(rounds) == 2 and all("converged" in line for line in rounds), run.stdout
    assert "NOT CONVERGED" not in run.stdout
    after = load_state(up_cluster)
    assert after is not None
    killed = {line.split()[3] for line in rounds}
    for name in killed:  # restarted with a new pid, recorded for `kubelite down`
        old = next(r for r in before.processes if r.name == name)
        new = next(r for r in after.processes if r.name == name)
        assert new.pid != old.pid and new.argv == old.argv
