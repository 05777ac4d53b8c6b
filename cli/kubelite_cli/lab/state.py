"""`DIR/lab.json`: the lab `kubelite lab up` made, so `status`, `down` and `chaos` can find it."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from kubelite_cli.cluster.state import ProcessRecord
from kubelite_cli.lab.topology import LabSpec

STATE_FILE = "lab.json"


class LabState(msgspec.Struct, kw_only=True):
    data_dir: str
    kubeconfig: str
    apiserver_url: str
    control_planes: int
    workers: int
    name: str
    subnet: str
    runtime: str
    proxy_mode: str = ""
    started_at: str = ""
    processes: list[ProcessRecord] = msgspec.field(default_factory=list)
    hosts: dict[str, str] = msgspec.field(default_factory=dict)  # process name -> host ("" the machine)

    def spec(self) -> LabSpec:
        return LabSpec(control_planes=self.control_planes, workers=self.workers, name=self.name,
                       subnet=self.subnet, runtime=self.runtime, proxy_mode=self.proxy_mode)


def load(data_dir: Path) -> LabState | None:
    path = data_dir / STATE_FILE
    return msgspec.json.decode(path.read_bytes(), type=LabState) if path.exists() else None


def save(data_dir: Path, state: LabState) -> None:
    path = data_dir / STATE_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(msgspec.json.format(msgspec.json.encode(state), indent=2) + b"\n")
    os.replace(tmp, path)


def remove(data_dir: Path) -> None:
    (data_dir / STATE_FILE).unlink(missing_ok=True)
