"""Forks container supervisors from one interpreter that has already started (standard library
only, run by path).

    python -I -S supervisor_zygote.py

A fresh `python -I -S process_supervisor.py` costs ~40 ms of CPU before it does anything
(the interpreter, then `json`, `socket`, `ctypes`…): with 50 pods started at once that was
the largest single cost of the burst (bench/pod_startup_bench.py --burst). This process pays
it once; each supervisor is then one fork (~1 ms).

Protocol: the agent writes a container directory and a newline on stdin; the zygote answers
with the new supervisor's pid and a newline on stdout (0 if it could not fork), one answer per
request in the order they came (the agent pipelines them). The supervisor is set up as one the
agent spawned itself was: its own session, stdin /dev/null, stdout and stderr appended to
`supervisor.log` in the container directory. It is the zygote's child, and the zygote reaps it
when it ends (as the agent did: an init that reaps nothing would otherwise collect a zombie per
container). At EOF on stdin (the agent stopped or died) the zygote exits; running supervisors
are unaffected (init's from then on).
"""

from __future__ import annotations

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves the script's dir out

import process_supervisor  # needs the path above


def _become_supervisor(container_dir: str) -> None:
    """In the grandchild: point stdio where a spawned supervisor's would be, then supervise;
    never returns."""
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        log = os.open(
            os.path.join(container_dir, "supervisor.log"),
            os.O_WRONLY | os.O_CREAT | os.O_APPEND,
            0o644,
        )
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(null)
        os.close(log)
        code = process_supervisor.supervise(container_dir)
    except BaseException:  # reported in supervisor.log, as an uncaught error would be
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def spawn(container_dir: str) -> int:
    """Fork a supervisor for `container_dir` in a session of its own; its pid (0 if the fork
    failed)."""
    try:
        pid = os.fork()
    except OSError:
        return 0
    if pid == 0:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # its own children are its business
        os.setsid()
        _become_supervisor(container_dir)
    return pid


def _reap(_signum: int, _frame: object) -> None:
    """SIGCHLD: collect every supervisor that has ended."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def serve() -> int:
    signal.signal(signal.SIGCHLD, _reap)
    for line in sys.stdin.buffer:
        pid = spawn(line.decode().rstrip("\n"))
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()  # nothing may stay buffered in a fork's copy of stdout
    return 0


if __name__ == "__main__":
    sys.exit(serve())
