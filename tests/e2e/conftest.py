"""A whole local cluster (`kubelite up`) for end-to-end tests, started once per module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@dataclass
class Cluster:
    data_dir: Path
    kubeconfig: Path
    server: str

    def kubelite(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [str(BIN / "kubelite"), "--kubeconfig", str(self.kubeconfig), *args]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"{' '.join(args)} -> {res.returncode}: {res.stderr or res.stdout}")
        return res

    def apply(self, manifest: str) -> None:
        res = subprocess.run(
            [str(BIN / "kubelite"), "--kubeconfig", str(self.kubeconfig), "apply", "-f", "-"],
            input=manifest, capture_output=True, text=True, timeout=60,
        )
        assert res.returncode == 0, res.stderr

    def get_json(self, *args: str) -> dict:
        return json.loads(self.kubelite("get", *args, "-o", "json").stdout)


def start_cluster(data_dir: Path, *, nodes: int = 2, runtime: str = "process", extra: tuple[str, ...] = ()) -> Cluster:
    res = subprocess.run(
        [str(BIN / "kubelite"), "up", "--data-dir", str(data_dir), "--nodes", str(nodes),
         "--runtime", runtime, "--random-ports", *extra],
        capture_output=True, text=True, timeout=180,
    )
    if res.returncode != 0:
        subprocess.run([str(BIN / "kubelite"), "down", "--data-dir", str(data_dir)], capture_output=True, timeout=60)
        raise RuntimeError(f"kubelite up failed: {res.stderr or res.stdout}")
    state = json.loads((data_dir / "cluster.json").read_text())
    server = state.get("apiserver_url", "")
    return Cluster(data_dir, data_dir / "kubeconfig", server)


def stop_cluster(cluster: Cluster) -> None:
    subprocess.run([str(BIN / "kubelite"), "down", "--data-dir", str(cluster.data_dir)],
                   capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if os.geteuid() != 0:
        pytest.skip("end-to-end networking (pod netns, cluster IPs) needs root")
    c = start_cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield c
    finally:
        stop_cluster(c)
