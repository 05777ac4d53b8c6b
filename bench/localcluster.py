"""What the benchmarks that start a `kubelite up` cluster share: running the CLI, a process's CPU
time and memory, and a cluster process's pid (imported as `localcluster`: the scripts run from
bench/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def kubelite(*args: str) -> str:
    out = subprocess.run([str(BIN / "kubelite"), *args], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise SystemExit(f"kubelite {' '.join(args)} failed: {out.stderr or out.stdout}")
    return out.stdout


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB (/proc/<pid>/status VmRSS); NaN once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def pid_of(data_dir: Path, name: str) -> int:
    """The pid of a `kubelite up` process (controller-manager, apiserver, ...) from cluster.json."""
    state = json.loads((data_dir / "cluster.json").read_text())
    return next(int(p["pid"]) for p in state["processes"] if p["name"] == name)
