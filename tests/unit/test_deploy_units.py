"""deploy/: systemd units made from the lab's command lines, checked in and checked here."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from kubelite_cli.lab import topology, units
from kubelite_cli.lab.topology import LabSpec

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "example"
REGENERATE = ("kubelite deploy render --control-planes 10.0.0.11,10.0.0.12,10.0.0.13 "
              "--nodes 10.0.0.21,10.0.0.22,10.0.0.23 --load-balancer 10.0.0.10 --out deploy/example")
SPEC = LabSpec(control_planes=3, workers=3, addresses=("10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.21",
                                                       "10.0.0.22", "10.0.0.23"), load_balancer="10.0.0.10")


def _exec_argv(unit_text: str) -> list[str]:
    """ExecStart= read back as systemd reads it (continuations joined, words split, $$ and %% undone)."""
    joined = unit_text.replace("\\\n", " ")
    line = next(x for x in joined.splitlines() if x.startswith("ExecStart="))
    return [w.replace("$$", "$").replace("%%", "%") for w in shlex.split(line.removeprefix("ExecStart="))]


def test_checked_in_units_are_what_the_lab_runs() -> None:
    rendered = units.render(SPEC)
    on_disk = {str(p.relative_to(EXAMPLE)): p.read_text() for p in sorted(EXAMPLE.rglob("*")) if p.is_file()}
    assert sorted(on_disk) == sorted(rendered), f"deploy/example has other files than render() makes; run {REGENERATE}"
    stale = [path for path, text in rendered.items() if on_disk[path] != text]
    assert not stale, f"deploy/example is stale ({', '.join(stale)}): run {REGENERATE}"


def test_every_unit_runs_the_lab_launch_with_the_vms_paths() -> None:
    rendered = units.render(SPEC)
    layout, bins = topology.VM_LAYOUT, units.VM_BINARIES
    cp2, w3 = topology.control_planes(SPEC)[1], topology.workers(SPEC)[2]
    expected = {
        "cp-2/kubelite-etcd.service": topology.etcd_launch(SPEC, cp2, layout, bins).argv,
        "cp-2/kubelite-apiserver.service": topology.control_plane_launches(SPEC, cp2, layout, bins)[0].argv,
        "w-3/kubelite-nodeagent.service": topology.worker_launches(SPEC, w3, layout, bins)[0].argv,
    }
    for path, argv in expected.items():
        assert _exec_argv(rendered[path]) == argv, path
    agent = _exec_argv(rendered["w-3/kubelite-nodeagent.service"])
    # a VM's agent keeps its pods when systemd restarts it; the lab's removes them on exit
    assert "--remove-pods-on-exit" not in agent and agent[agent.index("--node-ip") + 1] == "10.0.0.23"
    lab_agent = topology.worker_launches(LabSpec(), topology.workers(LabSpec())[0],
                                         topology.lab_layout(Path("/d")), bins)[0].argv
    assert "--remove-pods-on-exit" in lab_agent
    assert 'include "pki/nats.conf"' in rendered["cp-1/nats.conf"]
    assert "bind 10.0.0.10:6443" in rendered["lb/haproxy.cfg"]


def test_exec_line_quotes_what_systemd_would_expand() -> None:
    argv = ["/bin/x", "--label", "a b", "--cost", "5%", "--home", "$HOME", "--flag"]
    text = units.exec_line(argv)
    assert _exec_argv(text) == argv
    assert '"a b"' in text and "5%%" in text and "$$HOME" in text


def test_each_worker_gets_only_its_own_credentials() -> None:
    available = ["cluster-ca.crt", "cluster-ca.key", "client-ca.crt", "node-w-1.crt", "node-w-1.key",
                 "node-w-1-serving.crt", "node-w-10.crt", "proxy-w-1.key", "node-w-2.crt", "sa.key"]
    assert units.credential_files(SPEC, "w-1", available) == [
        "client-ca.crt", "cluster-ca.crt", "node-w-1-serving.crt", "node-w-1.crt", "node-w-1.key", "proxy-w-1.key"]
    assert units.credential_files(SPEC, "cp-1", available) == sorted(available)
    assert units.credential_files(SPEC, "lb", available) == []


def test_vm_addresses_are_checked() -> None:
    assert SPEC.problems() == []
    bad = LabSpec(control_planes=2, workers=1, addresses=("10.0.0.11", "10.0.0.11", "x"), load_balancer="10.0.0.11")
    assert bad.problems() == [
        "'x' is not an IP address", "every host needs an address of its own",
        "--load-balancer 10.0.0.11 is a control plane's address: HAProxy and that apiserver would both listen on :6443",
        "1, 3, 5 or 7 control planes (Raft wants an odd number), not 2",
    ]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze (systemd) not installed")
def test_systemd_accepts_every_unit(tmp_path: Path) -> None:
    for path, text in units.render(SPEC).items():
        if path.endswith(".service") and path.split("/")[0] in ("cp-1", "w-1", "lb"):
            (tmp_path / Path(path).name).write_text(text)
    out = subprocess.run(["systemd-analyze", "verify", *sorted(map(str, tmp_path.iterdir()))],
                         capture_output=True, text=True, timeout=60)
    # the programs are not installed here; anything else it says is a fault in a unit
    complaints = [line for line in (out.stdout + out.stderr).splitlines()
                  if line.strip() and "is not executable: No such file or directory" not in line]
    assert not complaints, "\n".join(complaints)


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed")
def test_install_sh_puts_a_vms_files_where_its_units_read_them(tmp_path: Path) -> None:
    rendered = tmp_path / "lab"
    for path, text in units.render(SPEC).items():
        (rendered / path).parent.mkdir(parents=True, exist_ok=True)
        (rendered / path).write_text(text)
    root = tmp_path / "root"
    script = EXAMPLE.parent / "install.sh"
    done = subprocess.run([str(script), str(rendered / "lb")], env={"ROOT": str(root), "PATH": "/usr/sbin:/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (root / "etc/kubelite/haproxy.cfg").read_text() == (rendered / "lb/haproxy.cfg").read_text()
    assert (root / "etc/systemd/system/kubelite-haproxy.service").is_file()
    assert "systemctl enable --now kubelite-haproxy.service" in done.stdout
    bad = subprocess.run([str(script), str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "kubelite deploy render" in bad.stderr
