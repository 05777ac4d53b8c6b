"""Forks container supervisors from one interpreter that has already started (standard library
only, run by path).

    python -I -S supervisor_zygote.py

A fresh `python -I -S process_supervisor.py` costs ~40 ms of CPU before it does anything
(the interpreter, then `json`, `socket`, `ctypes`…): with 50 pods started at once that was
the largest single cost of the burst (bench/pod_startup_bench.py --burst). This process pays
it once; each supervisor is then two forks (~1 ms).

Protocol, one request at a time: the agent writes a container directory and a newline on
stdin; the zygote answers with the new supervisor's pid and a newline on stdout (0 if it could
not fork). The supervisor is detached exactly as one the agent spawned itself would be: its
own session, stdin /dev/null, stdout and stderr appended to `supervisor.log` in the container
directory, and a grandchild of the zygote, so init (not the zygote, not the agent) is its
parent and it outlives both. At EOF on stdin (the agent stopped or died) the zygote exits;
running supervisors are unaffected.
"""

from __future__ import annotations

import os
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
    """Fork a detached supervisor for `container_dir`; its pid (0 if a fork failed)."""
    read_end, write_end = os.pipe()
    try:
        middle = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return 0
    if middle == 0:  # the middle process: a new session, one more fork, report, leave
        try:
            os.close(read_end)
            os.setsid()
            pid = os.fork()
            if pid == 0:
                os.close(write_end)
                _become_supervisor(container_dir)
            os.write(write_end, str(pid).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    answer = b""
    while chunk := os.read(read_end, 64):
        answer += chunk
    os.close(read_end)
    os.waitpid(middle, 0)  # the supervisor is init's from here on
    return int(answer or b"0")


def serve() -> int:
    for line in sys.stdin.buffer:
        pid = spawn(line.decode().rstrip("\n"))
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()  # nothing may stay buffered in a fork's copy of stdout
    return 0


if __name__ == "__main__":
    sys.exit(serve())
