"""Per-container supervisor of the process runtime (standard library only, run by path).

    python -I -S process_supervisor.py <container dir>

The agent starts one supervisor per container attempt in its own session, so
the supervisor outlives an agent that is restarted or killed.  It reads
`launch.json` from the container dir, then:

1. forks the container init: as root into new PID, mount, UTS and IPC
   namespaces, joined to the pod's network namespace and moved into its
   cgroup before it execs (the init waits on a pipe until the supervisor has
   moved it); volumes are bind-mounted at their mountPath inside the private
   mount namespace (or below the root filesystem, which it then chroots into);
2. writes `started.json` (init pid as seen from the host, its start time in
   clock ticks to tell pid reuse apart, or the exec error);
3. copies the container's stdout/stderr into the log file, one line per
   record in the CRI format `<RFC3339Nano> <stream> <F|P> <text>`;
4. waits for the init and writes `exit.json` (exit code, signal, OOM kill
   seen in the memory cgroup), which a restarted agent reads since it is not
   the parent.

Without root there are no namespaces or cgroups: the container is a plain
process group (so it can be signalled as a whole).
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import sys
import time
import warnings  # noqa: F401 - os.execvpe imports it lazily, which fails after chroot

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PARTIAL_LINE_LIMIT = 16 * 1024  # longer lines are split into P records, as the CRI does

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(path: str, nstype: int) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), f"setns {path}")
    finally:
        os.close(fd)


def mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    _check(
        _libc.mount(
            source.encode() if source is not None else None,
            target.encode(),
            fstype.encode() if fstype is not None else None,
            ctypes.c_ulong(flags),
            data.encode() if data is not None else None,
        ),
        f"mount {source} on {target}",
    )


def proc_start_ticks(pid: int) -> int:
    """Field 22 of /proc/<pid>/stat: the process start time, fixed for the pid's lifetime."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def rfc3339nano(ns: int) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def write_json(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)  # readers see all of it or nothing


# ---- the container side (after fork) ----------------------------------------------------


class StartError(Exception):
    """Why the container could not be started, worded as the message the user sees."""


def _prepare_mounts(spec: dict) -> None:
    """Private mount namespace: fresh /proc, volumes at their mountPath, then the rootfs."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates to the host
    rootfs = spec.get("rootfs") or ""
    base = rootfs.rstrip("/")
    if rootfs:
        for sub, flags in (("dev", MS_BIND | MS_REC),):
            target = f"{base}/{sub}"
            if os.path.isdir(target):
                mount("/dev", target, None, flags)
    proc = f"{base}/proc"
    os.makedirs(proc, exist_ok=True)
    mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for host_path, container_path, read_only in spec.get("mounts", []):
        target = base + "/" + container_path.lstrip("/")
        if os.path.isdir(host_path):
            os.makedirs(target, exist_ok=True)
        elif not os.path.exists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "a").close()  # a file mounted onto a file
        mount(host_path, target, None, MS_BIND | MS_REC)
        if read_only:
            mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)
    if rootfs:
        os.chroot(rootfs)
        os.chdir("/")


def _container_child(spec: dict, sync_r: int, err_w: int, out_w: int, errout_w: int) -> None:
    """Runs in the forked child; never returns (execs or _exits)."""
    try:
        if os.read(sync_r, 1):  # the supervisor writes a byte only to abort
            os._exit(1)
        os.close(sync_r)
        if spec.get("netns"):
            setns(spec["netns"], CLONE_NEWNET)
        if spec.get("namespaces"):
            unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC)
            _prepare_mounts(spec)
            if spec.get("hostname"):
                _check(
                    _libc.sethostname(spec["hostname"].encode(), len(spec["hostname"])),
                    "sethostname",
                )
        else:
            os.setpgid(0, 0)  # its own process group, so a stop reaches the whole tree
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        env = dict(spec.get("env", {}))
        env.setdefault("PATH", DEFAULT_PATH)
        cwd = spec.get("cwd") or "/"
        try:
            os.chdir(cwd)
        except OSError as exc:
            raise StartError(
                f'chdir to cwd ("{cwd}") set in the container failed: {exc.strerror}'
            ) from None
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_w, 1)
        os.dup2(errout_w, 2)
        argv = spec["argv"]
        try:
            os.execvpe(argv[0], argv, env)
        except FileNotFoundError:
            raise StartError(f'exec: "{argv[0]}": executable file not found in $PATH') from None
        except PermissionError:
            raise StartError(f'exec: "{argv[0]}": permission denied') from None
    except BaseException as exc:  # report why the exec did not happen
        message = (
            str(exc) if isinstance(exc, (StartError, OSError)) else f"{type(exc).__name__}: {exc}"
        )
        try:
            os.write(err_w, message.encode()[:4000])
        finally:
            os._exit(127)


# ---- the supervisor side -------------------------------------------------------------


class LogWriter:
    """Turns a stream's bytes into CRI log records appended to the log file."""

    def __init__(self, log, stream: str) -> None:
        self.log = log
        self.stream = stream.encode()
        self.pending = b""

    def feed(self, data: bytes) -> None:
        self.pending += data
        while True:
            nl = self.pending.find(b"\n")
            if nl < 0:
                break
            self._record(self.pending[:nl], b"F")
            self.pending = self.pending[nl + 1 :]
        while len(self.pending) >= PARTIAL_LINE_LIMIT:
            self._record(self.pending[:PARTIAL_LINE_LIMIT], b"P")
            self.pending = self.pending[PARTIAL_LINE_LIMIT:]

    def close(self) -> None:
        if self.pending:
            self._record(self.pending, b"F")
            self.pending = b""

    def _record(self, line: bytes, tag: bytes) -> None:
        stamp = rfc3339nano(time.time_ns()).encode()
        self.log.write(stamp + b" " + self.stream + b" " + tag + b" " + line + b"\n")
        self.log.flush()


def _pump(pid: int, fds: dict[int, LogWriter]) -> int:
    """Copy output to the log until the child exits and its pipes are drained; return its status."""
    status: int | None = None
    drain_deadline = 0.0
    while fds:
        timeout = 0.2 if status is None else max(0.0, drain_deadline - time.monotonic())
        readable, _, _ = select.select(list(fds), [], [], timeout)
        for fd in readable:
            data = os.read(fd, 65536)
            if data:
                fds[fd].feed(data)
            else:
                fds.pop(fd).close()
                os.close(fd)
        if status is None:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = st
                # Without a PID namespace, background children may keep the pipes open.
                drain_deadline = time.monotonic() + 0.5
        elif time.monotonic() >= drain_deadline and not readable:
            break
    for fd, writer in fds.items():
        writer.close()
        os.close(fd)
    if status is None:
        _, status = os.waitpid(pid, 0)
    return status


def supervise(container_dir: str) -> int:
    with open(os.path.join(container_dir, "launch.json")) as f:
        spec = json.load(f)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)  # only the container is signalled, never us
    started_path = os.path.join(container_dir, "started.json")
    exit_path = os.path.join(container_dir, "exit.json")
    log = open(spec["log_path"], "ab", buffering=0)  # lives as long as we do

    sync_r, sync_w = os.pipe()
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    out_r, out_w = os.pipe()
    errout_r, errout_w = os.pipe()
    if spec.get("namespaces"):
        unshare(CLONE_NEWPID)  # our next child is PID 1 of a new PID namespace
    pid = os.fork()
    if pid == 0:
        for fd in (sync_w, err_r, out_r, errout_r):
            os.close(fd)
        log.close()
        _container_child(spec, sync_r, err_w, out_w, errout_w)
    for fd in (sync_r, err_w, out_w, errout_w):
        os.close(fd)

    setup_error = ""
    try:
        for path in spec.get("cgroup", {}).values():
            with open(os.path.join(path, "cgroup.procs"), "w") as f:
                f.write(str(pid))
    except OSError as exc:
        setup_error = f"cannot join cgroup: {exc}"
    if setup_error:
        os.write(sync_w, b"x")
    os.close(sync_w)
    exec_error = b""
    while chunk := os.read(err_r, 4096):  # EOF once the exec succeeded (CLOEXEC)
        exec_error += chunk
    os.close(err_r)
    start_error = setup_error or exec_error.decode(errors="replace")
    started = {
        "pid": pid,
        "pid_start": proc_start_ticks(pid) if not start_error else 0,
        "supervisor_pid": os.getpid(),
        "started_at": time.time(),
        "error": start_error,
    }
    write_json(started_path, started)

    status = _pump(pid, {out_r: LogWriter(log, "stdout"), errout_r: LogWriter(log, "stderr")})
    signo = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
    exit_code = 128 + signo if signo else os.WEXITSTATUS(status)
    if start_error:
        exit_code = 128  # what Kubernetes reports for a container that could not start
    oom_killed = False
    memory = spec.get("cgroup", {}).get("memory")
    if memory:
        try:
            with open(os.path.join(memory, "memory.oom_control")) as f:
                oom_killed = any(
                    line.startswith("oom_kill ") and int(line.split()[1]) > 0 for line in f
                )
        except OSError:
            pass
    write_json(
        exit_path,
        {
            "exit_code": exit_code,
            "signal": signo,
            "oom_killed": oom_killed,
            "finished_at": time.time(),
            "error": start_error,
        },
    )
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(supervise(sys.argv[1]))
