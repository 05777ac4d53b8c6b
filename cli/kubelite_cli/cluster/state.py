"""`DIR/cluster.json`: what `kubelite up` started, so `down`/`status` can find it."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import msgspec

STATE_FILE = "cluster.json"


class ProcessRecord(msgspec.Struct, kw_only=True):
    name: str
    pid: int
    argv: list[str]
    log: str
    url: str = ""
    metrics_url: str = ""  # its Prometheus endpoint (client certificate in system:masters/system:monitoring)
    # Kernel start time of the PID (/proc/PID/stat field 22): tells our process
    # from an unrelated one that got the same PID after ours died.
    start_ticks: int = 0


class ClusterState(msgspec.Struct, kw_only=True):
    data_dir: str
    kubeconfig: str
    apiserver_url: str
    etcd_url: str
    nats_url: str
    nodes: int
    runtime: str
    service_cluster_ip_range: str
    node_monitor_grace_period: str | None = None
    default_unreachable_toleration_seconds: int | None = None
    default_not_ready_toleration_seconds: int | None = None
    started_at: str = ""
    processes: list[ProcessRecord] = msgspec.field(default_factory=list)


def state_path(data_dir: Path) -> Path:
    return data_dir / STATE_FILE


def load_state(data_dir: Path) -> ClusterState | None:
    path = state_path(data_dir)
    if not path.exists():
        return None
    return msgspec.json.decode(path.read_bytes(), type=ClusterState)


def save_state(data_dir: Path, state: ClusterState) -> None:
    path = state_path(data_dir)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(msgspec.json.format(msgspec.json.encode(state), indent=2) + b"\n")
    os.replace(tmp, path)  # atomic: a crash never leaves half a file


def remove_state(data_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        state_path(data_dir).unlink()
