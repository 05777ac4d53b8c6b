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


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            kids += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return kids


def _own_cpu_seconds(pid: int, fields: list[str]) -> float:
    """A live process's own CPU: /proc/<pid>/stat's utime + stime are whole clock ticks (10 ms),
    rounded per process, so fifty container supervisors of 5 ms each read as 0; a process of
    one thread has its exact figure in /proc/<pid>/schedstat (ns on the CPU, user and system)."""
    if fields[17] == "1":  # num_threads
        try:
            return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            pass
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and every descendant alive now, with what they reaped.

    Own CPU (`_own_cpu_seconds`) + cutime + cstime of each process in the tree: the
    short-lived helpers a node agent runs (`ip`, `iptables`) count once their parent has
    waited for them (the kernel sums reaped children exactly, so those are not rounded).
    """
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += _own_cpu_seconds(current, fields)
        total += (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
        todo += _children(current)
    return total


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB (/proc/<pid>/status VmRSS); NaN once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def rss_split_mb(pid: int) -> dict[str, float]:
    """RSS in MiB by kind (/proc/<pid>/status): anon (heap), file (mapped files: etcd's bbolt
    database is one, reclaimable page cache) and shmem; NaN once the process is gone."""
    keys = {"RssAnon:": "anon", "RssFile:": "file", "RssShmem:": "shmem"}
    split = dict.fromkeys(keys.values(), float("nan"))
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name = line.split(maxsplit=1)[0] if line else ""
            if name in keys:
                split[keys[name]] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return split


def pid_of(data_dir: Path, name: str) -> int:
    """The pid of a `kubelite up` process (controller-manager, apiserver, ...) from cluster.json."""
    state = json.loads((data_dir / "cluster.json").read_text())
    return next(int(p["pid"]) for p in state["processes"] if p["name"] == name)


ETCD_COUNTERS = {  # /metrics family -> what it is called in the benches' JSON
    "grpc_server_handled_total": "",  # by grpc_method: Range, Txn, Watch, LeaseGrant...
    "etcd_disk_wal_fsync_duration_seconds_count": "fsync",
    "etcd_debugging_mvcc_events_total": "watch_events",  # events sent to watchers
}


def etcd_requests(url: str, *, ca_file: str, cert_file: str, key_file: str) -> dict[str, float]:
    """etcd's own counters of what it was asked (unary calls by method, WAL fsyncs, watch events
    sent), from its /metrics: deterministic figures where CPU time is noisy. Compare two reads."""
    import ssl
    import urllib.request

    tls = ssl.create_default_context(cafile=ca_file)
    tls.load_cert_chain(cert_file, key_file)
    with urllib.request.urlopen(f"{url.split(',')[0].rstrip('/')}/metrics", context=tls, timeout=10) as answer:
        text = answer.read().decode()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        name, _, rest = line.partition("{") if "{" in line.split(" ")[0] else line.partition(" ")
        if name not in ETCD_COUNTERS:
            continue
        if name == "grpc_server_handled_total":
            if 'grpc_type="unary"' not in rest:
                continue
            key = rest.split('grpc_method="')[1].split('"')[0]
        else:
            key = ETCD_COUNTERS[name]
        counts[key] = counts.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return counts


def per_item(before: dict[str, float], after: dict[str, float], items: int) -> dict[str, float]:
    """(after - before) / items for each counter that moved."""
    return {k: round((v - before.get(k, 0.0)) / max(1, items), 2) for k, v in sorted(after.items())
            if v != before.get(k, 0.0)}
