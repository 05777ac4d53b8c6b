"""The process runtime's state directory on a tmpfs (statedir.py), with a real tmpfs mount."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelite_nodeagent.runtime import statedir

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="mounts a tmpfs")]


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[Path]:
    """A private stand-in for /run/kubelite, on the test's (disk) temporary directory."""
    path = tmp_path / f"run-{uuid.uuid4().hex[:6]}"
    try:
        yield path
    finally:
        if os.path.ismount(path):
            subprocess.run(["umount", "-l", str(path)], check=True)


def test_state_goes_to_a_tmpfs_linked_from_the_data_dir(tmp_path: Path, run_dir: Path) -> None:
    assert statedir.fstype(tmp_path) != "tmpfs", "the test needs its temporary directory on disk"
    root = tmp_path / "agent-a"
    state = statedir.state_dir(root, run_root=run_dir)
    assert statedir.fstype(state) == "tmpfs" and os.path.ismount(run_dir)
    assert (root / "process").is_symlink() and (root / "process").resolve() == state.resolve()
    assert (state.parent / statedir.OWNER_FILE).read_text().strip() == os.path.realpath(root)
    assert statedir.run_dir(root, run_root=run_dir) == state.parent  # the agent's, beside the runtime's
    (state / "record.json").write_text("{}")
    # a restarted agent finds the same directory (no second mount); another agent gets its own
    assert statedir.state_dir(root, run_root=run_dir) == state
    assert (state / "record.json").exists()
    mounts = Path("/proc/self/mounts").read_text().count(f" {run_dir} ")
    assert mounts == 1, f"{run_dir} mounted {mounts} times"
    other = statedir.state_dir(tmp_path / "agent-b", run_root=run_dir)
    assert other != state and other.parent.parent == state.parent.parent


def test_state_of_a_data_dir_that_is_gone_is_forgotten(tmp_path: Path, run_dir: Path) -> None:
    gone_root, kept_root = tmp_path / "gone", tmp_path / "kept"
    gone = statedir.state_dir(gone_root, run_root=run_dir)
    kept = statedir.state_dir(kept_root, run_root=run_dir)
    (gone_root / "process").unlink()
    gone_root.rmdir()  # as a test's temporary directory goes
    statedir.run_dir(tmp_path / "third", run_root=run_dir)
    assert not gone.parent.exists(), "the state of a removed data dir was kept"
    assert kept.exists()


def test_an_earlier_versions_state_on_disk_is_kept(tmp_path: Path, run_dir: Path) -> None:
    """Containers started by an agent that kept its records on disk must still be adopted."""
    root = tmp_path / "old"
    (root / "process" / "pods").mkdir(parents=True)
    assert statedir.state_dir(root, run_root=run_dir) == root / "process"
    assert not os.path.ismount(run_dir)


def test_remove_takes_the_state_and_its_link(tmp_path: Path, run_dir: Path) -> None:
    root = tmp_path / "node"
    state = statedir.state_dir(root, run_root=run_dir)
    statedir.remove(root)
    assert not state.parent.exists() and not (root / "process").exists()
    statedir.remove(root)  # nothing left: no error
