"""Per-container supervisor of the process runtime (standard library only, run by path).

    python -I -S process_supervisor.py <container dir>

The agent starts one supervisor per container attempt in its own session, so
the supervisor outlives an agent that is restarted or killed.  It reads
`launch.json` from the container dir, makes the directories it names (the log's; the
pod's, when that is the working directory), then:

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
   the parent;
5. meanwhile serves `attach.sock` in the container dir (kubectl attach): every
   connected attacher gets the output as it is written, and may write to the
   container's stdin (a pipe, or the pty with `tty`), resize the pty, and close
   stdin (honoured with `stdinOnce`, which also closes it when the first
   attacher leaves). The wire format is the ATTACH_* constants below, which the
   agent imports. Output an attacher is too slow to take is dropped for it: the
   container never waits for an attacher.

Without root there are no namespaces or cgroups: the container is a plain
process group (so it can be signalled as a whole).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import select
import signal
import socket
import struct
import sys
import termios
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

# kubectl attach: frames on attach.sock both ways are kind (1 byte), body length (4 bytes,
# big endian), body. Supervisor -> attacher: stdout, stderr. Attacher -> supervisor: stdin
# data, close stdin, resize (body b"<width> <height>").
ATTACH_SOCKET = "attach.sock"
ATTACH_LINGER_SECONDS = 2.0  # after the exit, for attachers to read the last output (Attach.end_output)
ATTACH_STDOUT, ATTACH_STDERR = b"O", b"R"
ATTACH_STDIN, ATTACH_CLOSE_STDIN, ATTACH_RESIZE = b"D", b"E", b"W"
ATTACH_HEAD = struct.Struct(">cI")

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


def _container_child(spec: dict, sync_r: int, err_w: int, stdio: tuple[int, int, int]) -> None:
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
        if spec.get("tty"):
            os.setsid()  # a session of its own, whose controlling terminal is the pty
            fcntl.ioctl(stdio[0], termios.TIOCSCTTY, 0)
        elif not spec.get("namespaces"):
            os.setpgid(0, 0)  # its own process group, so a stop reaches the whole tree
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        env = dict(spec.get("env", {}))
        env.setdefault("PATH", DEFAULT_PATH)
        if spec.get("tty"):
            env.setdefault("TERM", "xterm")  # as Docker sets it for a tty
        cwd = spec.get("cwd") or "/"
        try:
            os.chdir(cwd)
        except OSError as exc:
            raise StartError(
                f'chdir to cwd ("{cwd}") set in the container failed: {exc.strerror}'
            ) from None
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)
        for fd in set(stdio) - {0, 1, 2}:
            os.close(fd)  # not for the container to inherit
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


def _recv(conn: socket.socket) -> bytes | None:
    """What an attacher sent: b"" once it is gone (EOF or an error), None when nothing is there."""
    try:
        return conn.recv(65536)
    except BlockingIOError:
        return None
    except OSError:
        return b""


class _Attacher:
    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.buf = b""


class Attach:
    """attach.sock: output to every attacher, their input to the container (see the docstring)."""

    def __init__(self, container_dir: str, spec: dict, stdin_fd: int | None, pty_fd: int | None) -> None:
        self.stdin_fd = stdin_fd  # where attachers' input goes: the pipe's write end or the pty
        self.pty_fd = pty_fd
        self.stdin_once = bool(spec.get("stdin_once"))
        self.pending = b""  # input the container has not read yet
        self.attachers: dict[int, _Attacher] = {}
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path = os.path.join(container_dir, ATTACH_SOCKET)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        cwd = os.getcwd()
        os.chdir(container_dir)  # a relative name: the dir's path may be longer than sun_path
        try:
            self.listener.bind(ATTACH_SOCKET)
        finally:
            os.chdir(cwd)
        os.chmod(path, 0o600)
        self.listener.listen(8)
        self.listener.setblocking(False)

    def read_fds(self) -> list[int]:
        if self.pending:  # the container is not reading: leave attachers' input in their sockets
            return [self.listener.fileno()]
        return [self.listener.fileno(), *self.attachers]

    def write_fds(self) -> list[int]:
        return [self.stdin_fd] if self.pending and self.stdin_fd is not None else []

    def on_readable(self, fd: int) -> None:
        if fd == self.listener.fileno():
            with contextlib.suppress(OSError):
                conn, _ = self.listener.accept()
                conn.setblocking(False)
                self.attachers[conn.fileno()] = _Attacher(conn)
            return
        attacher = self.attachers[fd]
        data = _recv(attacher.conn)
        if data is None:
            return
        if not data:
            self._leave(fd)
            return
        attacher.buf += data
        while len(attacher.buf) >= ATTACH_HEAD.size:
            kind, n = ATTACH_HEAD.unpack_from(attacher.buf)
            if len(attacher.buf) < ATTACH_HEAD.size + n:
                break
            body = attacher.buf[ATTACH_HEAD.size : ATTACH_HEAD.size + n]
            attacher.buf = attacher.buf[ATTACH_HEAD.size + n :]
            self._on_frame(kind, body)

    def _on_frame(self, kind: bytes, body: bytes) -> None:
        if kind == ATTACH_STDIN and self.stdin_fd is not None:
            self.pending += body
            self.on_writable()
        elif kind == ATTACH_CLOSE_STDIN and self.stdin_once:
            self.close_stdin()
        elif kind == ATTACH_RESIZE and self.pty_fd is not None:
            with contextlib.suppress(ValueError, OSError):
                width, height = (int(x) for x in body.split())
                fcntl.ioctl(self.pty_fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def on_writable(self) -> None:
        if self.stdin_fd is None:
            return
        try:
            while self.pending:
                self.pending = self.pending[os.write(self.stdin_fd, self.pending[:65536]) :]
        except BlockingIOError:
            pass
        except OSError:  # the container closed its stdin: what it does not read is lost
            self.pending = b""

    def close_stdin(self) -> None:
        """EOF on the container's stdin: the pipe closed, or ^D on the pty."""
        if self.stdin_fd is None:
            return
        if self.pty_fd is not None:
            self.pending += b"\x04"
            self.on_writable()
            return
        self.pending = b""
        os.close(self.stdin_fd)
        self.stdin_fd = None

    def _leave(self, fd: int) -> None:
        self.attachers.pop(fd).conn.close()
        if self.stdin_once:  # the first attach session closes stdin
            self.close_stdin()

    def broadcast(self, kind: bytes, data: bytes) -> None:
        frame = ATTACH_HEAD.pack(kind, len(data)) + data
        for fd, attacher in list(self.attachers.items()):
            try:
                attacher.conn.send(frame)  # all or nothing matters little: a slow attacher loses output
            except BlockingIOError:
                pass
            except OSError:
                self._leave(fd)

    def end_output(self) -> None:
        """The container is gone: no new attachers, and EOF (not a close) to each attacher.

        A close could lose the output just sent: an attacher still writing (its stdin EOF
        crossing our exit) would get EPIPE, and a socket closed with its input unread makes
        the peer's reads fail with ECONNRESET; either way the peer (asyncio streams) drops what
        it had not read yet. So attachers keep a readable socket until they close (linger)."""
        self.listener.close()
        for attacher in self.attachers.values():
            with contextlib.suppress(OSError):
                attacher.conn.shutdown(socket.SHUT_WR)

    def linger(self, seconds: float) -> None:
        """Read and discard what attachers still send until each closes, at most `seconds`."""
        deadline = time.monotonic() + seconds
        while self.attachers and (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select(list(self.attachers), [], [], left)
            for fd in readable:
                if _recv(self.attachers[fd].conn) == b"":
                    self.attachers.pop(fd).conn.close()
        for fd in list(self.attachers):
            self.attachers.pop(fd).conn.close()


def _pump(pid: int, fds: dict[int, LogWriter], attach: Attach) -> int:
    """Copy output to the log (and attachers) until the child exits and its output is drained;
    return its status."""
    status: int | None = None
    drain_deadline = 0.0
    while fds:
        timeout = 0.2 if status is None else max(0.0, drain_deadline - time.monotonic())
        readable, writable, _ = select.select([*fds, *attach.read_fds()], attach.write_fds(), [], timeout)
        if writable:
            attach.on_writable()
        for fd in readable:
            if fd not in fds:
                attach.on_readable(fd)
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: a pty whose other side is all closed
                data = b""
            if data:
                fds[fd].feed(data)
                attach.broadcast(ATTACH_STDERR if fds[fd].stream == b"stderr" else ATTACH_STDOUT, data)
            else:
                fds.pop(fd).close()
                os.close(fd)
                if fd == attach.stdin_fd:  # the pty: its number may be reused from now on
                    attach.stdin_fd = attach.pty_fd = None
        if status is None:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = st
                # Without a PID namespace, background children may keep the pipes open.
                drain_deadline = time.monotonic() + 0.5
        elif time.monotonic() >= drain_deadline and not any(fd in fds for fd in readable):
            break
    for fd, writer in fds.items():
        writer.close()
        os.close(fd)
    if status is None:
        _, status = os.waitpid(pid, 0)
    return status


def _stdio(spec: dict) -> tuple[tuple[int, int, int], dict[str, int | None]]:
    """The child's fds 0-2, and the supervisor's ends: stdin (write), out, errout, pty."""
    if spec.get("tty"):  # everything on the pty; output is the stdout stream
        master, slave = os.openpty()
        os.set_blocking(master, False)
        return (slave, slave, slave), {"stdin": master, "out": master, "errout": None, "pty": master}
    out_r, out_w = os.pipe()
    errout_r, errout_w = os.pipe()
    if spec.get("stdin"):
        in_r, in_w = os.pipe()
        os.set_blocking(in_w, False)
    else:
        in_r, in_w = os.open("/dev/null", os.O_RDONLY), None
    return (in_r, out_w, errout_w), {"stdin": in_w, "out": out_r, "errout": errout_r, "pty": None}


def supervise(container_dir: str) -> int:
    with open(os.path.join(container_dir, "launch.json")) as f:
        spec = json.load(f)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)  # only the container is signalled, never us
    started_path = os.path.join(container_dir, "started.json")
    exit_path = os.path.join(container_dir, "exit.json")
    for path in spec.get("make_dirs", ()):  # the log's directory; the pod's, when it is the cwd
        os.makedirs(path, exist_ok=True)
    log = open(spec["log_path"], "ab", buffering=0)  # lives as long as we do

    sync_r, sync_w = os.pipe()
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    child_stdio, ours = _stdio(spec)
    attach = Attach(container_dir, spec, ours["stdin"], ours["pty"])
    if spec.get("pid_target"):  # an ephemeral container sharing its target's PID namespace
        setns(f"/proc/{spec['pid_target']}/ns/pid", CLONE_NEWPID)
    elif spec.get("namespaces"):
        unshare(CLONE_NEWPID)  # our next child is PID 1 of a new PID namespace
    pid = os.fork()
    if pid == 0:
        for fd in (sync_w, err_r, attach.listener.fileno(), *{fd for fd in ours.values() if fd is not None}):
            os.close(fd)
        log.close()
        _container_child(spec, sync_r, err_w, child_stdio)
    for fd in (sync_r, err_w, *set(child_stdio)):
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

    outputs = {ours["out"]: LogWriter(log, "stdout")}
    if ours["errout"] is not None:
        outputs[ours["errout"]] = LogWriter(log, "stderr")
    status = _pump(pid, outputs, attach)  # type: ignore[arg-type]
    attach.end_output()
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
    attach.linger(ATTACH_LINGER_SECONDS)  # after exit.json: the exit is reported without waiting
    return 0


if __name__ == "__main__":
    sys.exit(supervise(sys.argv[1]))
