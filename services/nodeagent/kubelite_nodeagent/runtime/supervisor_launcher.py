"""The agent's side of supervisor_zygote.py: ask one long-lived interpreter to fork each
container's supervisor instead of starting a new Python for it (~1 ms instead of ~40 ms of
CPU; the difference decided how fast a burst of pods starts on two cores)."""

from __future__ import annotations

import asyncio
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


class SupervisorLauncher:
    """Starts the zygote on first use (and again if it died), one request at a time."""

    def __init__(self, *, log_path: Path) -> None:
        self._log_path = log_path  # the zygote's own stderr; each supervisor has supervisor.log
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def spawn(self, container_dir: Path) -> int:
        """Fork a detached supervisor for `container_dir` (its own session; the zygote reaps it);
        its pid."""
        async with self._lock:
            for attempt in (1, 2):  # a zygote found dead is replaced once
                proc = await self._running()
                try:
                    return await self._ask(proc, container_dir)
                except (ConnectionError, EOFError, TimeoutError) as exc:
                    log.warning("supervisor zygote %s (attempt %d): %r", proc.pid, attempt, exc)
                    self._discard(proc)
                except BaseException:
                    self._discard(proc)  # cancelled mid-request: the next one would read its answer
                    raise
            raise LaunchError("the supervisor zygote keeps exiting; see " + str(self._log_path))

    async def close(self) -> None:
        """End the zygote (EOF on its stdin); supervisors it forked keep running."""
        async with self._lock:
            proc, self._proc = self._proc, None
            if proc is not None and proc.stdin is not None:
                proc.stdin.close()
                try:
                    await asyncio.wait_for(proc.wait(), 5.0)
                except TimeoutError:
                    self._discard(proc)

    async def _running(self) -> asyncio.subprocess.Process:
        if self._proc is None or self._proc.returncode is not None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self._log_path, "ab") as errlog:  # noqa: ASYNC230 - opened once per zygote
                self._proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-I", "-S", str(ZYGOTE),
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=errlog,
                    start_new_session=True,  # never gets the agent's terminal signals
                )  # fmt: skip
        return self._proc

    @staticmethod
    async def _ask(proc: asyncio.subprocess.Process, container_dir: Path) -> int:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(f"{container_dir}\n".encode())
        await proc.stdin.drain()
        line = await asyncio.wait_for(proc.stdout.readline(), ANSWER_TIMEOUT_SECONDS)
        if not line:
            raise EOFError("exited")
        pid = int(line)
        if pid <= 0:
            raise LaunchError(f"the supervisor zygote could not fork for {container_dir}")
        return pid

    def _discard(self, proc: asyncio.subprocess.Process) -> None:
        if self._proc is proc:
            self._proc = None
        with contextlib.suppress(ProcessLookupError):
            proc.kill()  # only the zygote: the supervisors it forked are not its children
