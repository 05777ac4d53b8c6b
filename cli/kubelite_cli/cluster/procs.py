"""Detached processes: start in their own session, check by PID, stop the whole group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from kubelite.devservers import pid_alive
from kubelite_cli.cluster.state import ProcessRecord


def start_ticks(pid: int) -> int:
    """The process start time in clock ticks since boot (0 when unknown)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])  # field 22 overall; fields[0] is field 3 (state)


def spawn_detached(name: str, argv: list[str], log_path: Path) -> ProcessRecord:
    """Start `argv` in a new session (it outlives us; its PID is its process group)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True,
        )
    return ProcessRecord(name=name, pid=proc.pid, argv=argv, log=str(log_path),
                         start_ticks=start_ticks(proc.pid))


def is_running(record: ProcessRecord) -> bool:
    if not pid_alive(record.pid):
        return False
    return record.start_ticks == 0 or start_ticks(record.pid) == record.start_ticks


def _reap(pid: int) -> None:
    """Collect our own exited child (when `up` stops what it just started), else no-op."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _group_alive(pgid: int) -> bool:
    _reap(pgid)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(record: ProcessRecord, sig: signal.Signals) -> None:
    """Signal the record's process group (it is a session leader), else the PID alone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(record.pid, sig)
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(record.pid, sig)


def stop_all(records: list[ProcessRecord], timeout: float = 10.0) -> list[str]:
    """SIGTERM every group (reverse start order), wait, SIGKILL what is left.

    Returns the names of processes that had to be killed. A PID that now belongs
    to an unrelated process (reused after ours died) is left alone.
    """
    # A group whose leader died may still hold its children (e.g. server workers):
    # it is ours too, as long as no new process has taken the leader's PID.
    ours = [r for r in reversed(records)
            if is_running(r) or (not pid_alive(r.pid) and _group_alive(r.pid))]
    for record in ours:
        _signal_group(record, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_group_alive(r.pid) for r in ours):
        time.sleep(0.05)
    killed = []
    for record in ours:
        if _group_alive(record.pid):
            killed.append(record.name)
            _signal_group(record, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(pid_alive(r.pid) for r in ours):
        time.sleep(0.05)
    return killed


def remove_proxy_tables(records: list[ProcessRecord], timeout: float = 30.0) -> None:
    """Proxies in nftables mode leave their table in the kernel when they exit (Services keep
    working while one restarts); a cluster brought down takes them away, or the next cluster's
    cluster IPs could meet the old one's rules. Each proxy's own `--cleanup` knows its table
    (and does nothing where nftables is not used); they run side by side."""
    cleanups = [subprocess.Popen([*r.argv, "--cleanup"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for r in records if r.name.startswith("proxy")]  # fmt: skip
    for proc in cleanups:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
