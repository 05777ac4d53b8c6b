"""Where the process runtime keeps its records: on a tmpfs, as runc and containerd keep the state
of running containers under /run.

The records (sandbox.json, record.json, launch.json, started.json, exit.json, the IPAM table,
supervisor logs) describe processes, network namespaces and cgroups, all of which end with the
machine; a tmpfs ends with them, so a reboot leaves no record of a container that no longer
exists. It is also cheaper: every record is written to a new file and renamed (atomic), ~20 new
inodes per pod started, and on ext4 without a journal (the development machine's root
filesystem) each new inode is found by scanning past every inode deleted in the last minutes:
a third of the node agent's CPU in a burst of 50 pods following another
(bench/pod_startup_bench.py --burst, `perf`: `recently_deleted`, `find_get_block_common`).
Secrets in launch.json (env values) stay off the disk too, as kubelet keeps secret volumes in
memory.

Layout: `/run/kubelite` (a tmpfs of its own when /run is not one), one directory per agent data
directory, named by a hash of its path (a restarted agent finds its own; two clusters on one
machine do not collide), holding `data-dir` (the path, so a directory whose agent data is gone
can be forgotten), `process/` (the runtime's files; `<data dir>/process` is a symlink to it, for
people) and `pods/<uid>/` (the node agent's: Secret, projected and downwardAPI volumes, which
kubelet too backs with a tmpfs, and resolv.conf; volumes.PodDirs). Container logs are not here:
they grow, and stay on disk (`<data dir>/logs`).

Falls back to `<data dir>/process` on disk when no tmpfs can be had (not root), and keeps using
a `<data dir>/process` directory that an earlier version left there (its containers may still
run and be adopted).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

RUN_DIR = Path("/run/kubelite")
TMPFS_OPTIONS = "mode=0700,size=10%"  # records (a few KiB a container) and in-memory volumes
OWNER_FILE = "data-dir"


def fstype(path: str | Path) -> str:
    """The type of the filesystem `path` is on (/proc/self/mounts: the longest mount point that
    contains it)."""
    target = os.path.realpath(path)
    best, kind = "", ""
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) < 3:
                continue
            point = fields[1].replace("\\040", " ")
            inside = target == point or target.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                best, kind = point, fields[2]
    return kind


def ensure_tmpfs(run_dir: Path) -> bool:
    """`run_dir` exists on a tmpfs, mounting one there if needed; False if that cannot be had
    (not root: the directory is root's, mode 0700)."""
    if os.geteuid() != 0:
        return False
    try:
        run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        log.info("runtime state stays on disk: cannot make %s: %s", run_dir, exc.strerror)
        return False
    if fstype(run_dir) == "tmpfs":
        return True
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", TMPFS_OPTIONS, "kubelite", str(run_dir)],
                            capture_output=True, text=True, check=False)  # fmt: skip
    if result.returncode != 0:
        log.warning("runtime state stays on disk: mounting a tmpfs on %s: %s", run_dir, result.stderr.strip())
        return False
    return True


def run_dir(root_dir: str | Path, *, run_root: Path = RUN_DIR) -> Path:
    """The agent's directory in memory for the data directory `root_dir` (made): one of its own
    on the tmpfs at `run_root`, or `root_dir` itself when no tmpfs can be had."""
    root = Path(root_dir)
    root.mkdir(parents=True, exist_ok=True)  # before the owner file: another agent's forget_orphans reads it
    if not ensure_tmpfs(run_root):
        return root
    real = os.path.realpath(root)
    mine = run_root / hashlib.sha256(real.encode()).hexdigest()[:16]
    mine.mkdir(mode=0o700, exist_ok=True)
    owner = mine / OWNER_FILE
    if not owner.exists():
        owner.write_text(real + "\n")
    forget_orphans(run_root, keep=mine)
    return mine


def state_dir(root_dir: str | Path, memory: str | Path = "", *, run_root: Path = RUN_DIR) -> Path:
    """The process runtime's state directory for the agent data directory `root_dir` (made):
    `process` in the agent's run_dir (`memory`, when the caller has it already), linked from
    `<root_dir>/process`."""
    root = Path(root_dir)
    link = root / "process"
    if link.is_dir() and not link.is_symlink():
        return link  # an earlier version's state on disk (or no tmpfs): adopt its containers from there
    memory = Path(memory) if memory else run_dir(root, run_root=run_root)
    if memory == root:
        link.unlink(missing_ok=True)  # a symlink to a tmpfs no longer there
        link.mkdir(exist_ok=True)
        return link
    state = memory / "process"
    state.mkdir(exist_ok=True)
    if not (link.is_symlink() and os.readlink(link) == str(state)):
        tmp = root / "process.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(state, target_is_directory=True)
        os.replace(tmp, link)
    return state


def forget_orphans(run_root: Path, *, keep: Path) -> None:
    """Remove the state of agents whose data directory is gone (a test's temporary directory, a
    node decommissioned by hand): nothing could adopt their containers any more."""
    for agent in run_root.iterdir():
        if agent == keep:
            continue
        with contextlib.suppress(OSError):
            owner = (agent / OWNER_FILE).read_text().strip()
            if owner and not os.path.isdir(owner):
                shutil.rmtree(agent, ignore_errors=True)


def remove(root_dir: str | Path) -> None:
    """Remove the agent's directory in memory for `root_dir` and the runtime's symlink (a node
    decommissioned)."""
    link = Path(root_dir) / "process"
    if link.is_symlink():
        mine = Path(os.readlink(link)).parent
        link.unlink(missing_ok=True)
        if (mine / OWNER_FILE).exists():  # only ever a directory this module made
            shutil.rmtree(mine, ignore_errors=True)
