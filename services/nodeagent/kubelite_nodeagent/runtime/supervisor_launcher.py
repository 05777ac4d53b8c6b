"""The agent's side of supervisor_zygote.py: ask one long-lived interpreter to fork each
container's supervisor instead of starting a new Python for it (~1 ms instead of ~40 ms of
CPU; the difference decided how fast a burst of pods starts on two cores).

Requests are pipelined: a start writes its line and waits for its answer while other starts
write theirs; the zygote answers in the order it read, so the answers are matched to the
requests by a queue. One request at a time (the first version) made every start of a burst
wait for the previous one's round trip through a busy event loop: ~6 ms each, the 50th pod's
supervisor forked 0.3 s after the first (bench/pod_startup_bench.py --burst).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)

# run by path, never imported here: it puts its own directory on sys.path
ZYGOTE = Path(__file__).with_name("supervisor_zygote.py")
ANSWER_TIMEOUT_SECONDS = 10.0  # one fork; generous for a saturated box


class LaunchError(Exception):
    """The zygote could not fork a supervisor (or is gone and could not be restarted)."""


class _Zygote:
    """One zygote process and the requests written to it that it has not answered yet."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.pending: collections.deque[asyncio.Future[int]] = collections.deque()
        self.reader = asyncio.create_task(self._read(), name=f"supervisor-zygote-{proc.pid}")

    def ask(self, container_dir: Path) -> asyncio.Future[int]:
        """Write one request; its future gets the supervisor's pid. The future is queued before
        the write and nothing awaits between the two, so the queue's order is the pipe's."""
        assert self.proc.stdin is not None
        if self.proc.stdin.is_closing():
            raise ConnectionResetError("the zygote's stdin is closed")
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.pending.append(answer)
        self.proc.stdin.write(f"{container_dir}\n".encode())
        return answer

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            while line := await self.proc.stdout.readline():
                if not self.pending:
                    log.warning("supervisor zygote %s answered %r to no request", self.proc.pid, line)
                    continue
                answer = self.pending.popleft()
                if answer.done():  # its asker timed out or was cancelled: a fork cannot be undone
                    log.warning("supervisor %s was forked for a start given up on", line.strip().decode())
                else:
                    answer.set_result(int(line))
        except (ConnectionError, ValueError) as exc:
            log.warning("supervisor zygote %s: %r", self.proc.pid, exc)
        self.fail_pending()

    def fail_pending(self) -> None:
        """Every request not answered yet fails (the zygote exited or was discarded): none of
        them was forked, except perhaps the one it was handling as it died."""
        while self.pending:
            answer = self.pending.popleft()
            if not answer.done():
                answer.set_exception(EOFError("the supervisor zygote exited"))

    def discard(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()  # only the zygote: the supervisors it forked are not its children
        self.reader.cancel()
        self.fail_pending()


class SupervisorLauncher:
    """Starts the zygote on first use (and again if it died); requests are pipelined."""

    def __init__(self, *, log_path: Path) -> None:
        self._log_path = log_path  # the zygote's own stderr; each supervisor has supervisor.log
        self._zygote: _Zygote | None = None
        self._start_lock = asyncio.Lock()  # one zygote started at a time

    @property
    def _proc(self) -> asyncio.subprocess.Process | None:
        return self._zygote.proc if self._zygote is not None else None

    async def spawn(self, container_dir: Path) -> int:
        """Fork a detached supervisor for `container_dir` (its own session; the zygote reaps it);
        its pid."""
        for attempt in (1, 2):  # a zygote found dead is replaced once
            zygote = await self._running()
            try:
                answer = zygote.ask(container_dir)
                assert zygote.proc.stdin is not None
                await zygote.proc.stdin.drain()
                async with asyncio.timeout(ANSWER_TIMEOUT_SECONDS):
                    pid = await answer
            except (ConnectionError, EOFError, TimeoutError) as exc:
                log.warning("supervisor zygote %s (attempt %d): %r", zygote.proc.pid, attempt, exc)
                self._discard(zygote)
                continue
            if pid <= 0:
                raise LaunchError(f"the supervisor zygote could not fork for {container_dir}")
            return pid
        raise LaunchError("the supervisor zygote keeps exiting; see " + str(self._log_path))

    async def close(self) -> None:
        """End the zygote (EOF on its stdin); supervisors it forked keep running."""
        async with self._start_lock:
            zygote, self._zygote = self._zygote, None
            if zygote is not None and zygote.proc.stdin is not None:
                zygote.proc.stdin.close()
                try:
                    async with asyncio.timeout(5.0):
                        await zygote.proc.wait()
                except TimeoutError:
                    zygote.discard()
                # until its EOF (or its cancel, after discard); unlike a bare await, a cancel
                # of ours is never taken for the reader's
                await asyncio.wait([zygote.reader])

    async def _running(self) -> _Zygote:
        async with self._start_lock:
            if self._zygote is None or self._zygote.proc.returncode is not None:
                if self._zygote is not None:
                    self._zygote.fail_pending()
                self._log_path.parent.mkdir(parents=True, exist_ok=True)
                with open(self._log_path, "ab") as errlog:  # noqa: ASYNC230 - opened once per zygote
                    proc = await asyncio.create_subprocess_exec(
                        sys.executable, "-I", "-S", str(ZYGOTE),
                        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=errlog,
                        start_new_session=True,  # never gets the agent's terminal signals
                    )  # fmt: skip
                self._zygote = _Zygote(proc)
            return self._zygote

    def _discard(self, zygote: _Zygote) -> None:
        if self._zygote is zygote:
            self._zygote = None
        zygote.discard()
