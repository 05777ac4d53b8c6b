"""Interactive exec for the process runtime: a subprocess with piped stdio, or on a pty with a tty.

The runtime builds the command line (nsenter into the container's namespaces)
and environment; this module only runs it and streams its stdio (base.ExecStream).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import signal
import struct
import termios
from collections.abc import Callable

from kubelite.command import PIPE_CLOSED

READ_SIZE = 64 * 1024


def _take_controlling_tty() -> None:  # runs in the child after setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _set_size(fd: int, width: int, height: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


class SubprocessExec:
    def __init__(self, proc: asyncio.subprocess.Process, master: int | None) -> None:
        self.proc = proc
        self.master = master
        self._pty_out: asyncio.Queue[bytes] | None = None
        self._reading = False
        self._paused = False
        if master is not None:
            self._pty_out = asyncio.Queue(maxsize=16)  # bounded: the reader pauses when full
            self._reading = True
            asyncio.get_running_loop().add_reader(master, self._on_pty_readable)

    @classmethod
    async def start(
        cls,
        argv: list[str],
        env: dict[str, str],
        cwd: str | None,
        *,
        tty: bool,
        stdin: bool,
        on_started: Callable[[int], None] | None = None,
    ) -> SubprocessExec:
        """Spawn argv (OSError when it cannot be run); on_started gets the pid (cgroup placement)."""
        if tty:
            master, slave = pty.openpty()
            _set_size(slave, 80, 24)
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                    start_new_session=True, preexec_fn=_take_controlling_tty,
                )  # fmt: skip
            except BaseException:
                os.close(master)
                raise
            finally:
                os.close(slave)
            os.set_blocking(master, False)
        else:
            master = None
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env=env, cwd=cwd, start_new_session=True,  # one group to kill
            )  # fmt: skip
        if on_started is not None:
            on_started(proc.pid)
        return cls(proc, master)

    # ---- pty plumbing
    def _on_pty_readable(self) -> None:
        assert self.master is not None and self._pty_out is not None
        try:
            data = os.read(self.master, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:  # EIO: every slave end is closed
            data = b""
        if not data:
            self._stop_reading()
        self._pty_out.put_nowait(data)
        if self._pty_out.full() and data:
            self._stop_reading(resume_later=True)

    def _stop_reading(self, resume_later: bool = False) -> None:
        if self._reading and self.master is not None:
            asyncio.get_running_loop().remove_reader(self.master)
            self._reading = False
        self._paused = resume_later

    # ---- ExecStream
    async def read_stdout(self) -> bytes:
        if self._pty_out is not None:
            data = await self._pty_out.get()
            if self._paused and not self._pty_out.full() and self.master is not None:
                self._paused = False
                self._reading = True
                asyncio.get_running_loop().add_reader(self.master, self._on_pty_readable)
            return data
        assert self.proc.stdout is not None
        return await self.proc.stdout.read(READ_SIZE)

    async def read_stderr(self) -> bytes:
        if self.master is not None or self.proc.stderr is None:
            return b""
        return await self.proc.stderr.read(READ_SIZE)

    async def write_stdin(self, data: bytes) -> None:
        if self.master is not None:
            view = memoryview(data)
            while view:
                try:
                    written = os.write(self.master, view)
                except BlockingIOError:
                    await asyncio.sleep(0.01)
                    continue
                view = view[written:]
            return
        if self.proc.stdin is not None:
            with contextlib.suppress(*PIPE_CLOSED):  # the command exited without reading it all
                self.proc.stdin.write(data)
                await self.proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self.master is not None:
            with contextlib.suppress(OSError):
                os.write(self.master, b"\x04")  # ^D: end of input for the terminal's reader
        elif self.proc.stdin is not None:
            with contextlib.suppress(*PIPE_CLOSED):
                self.proc.stdin.close()

    async def resize(self, width: int, height: int) -> None:
        if self.master is not None:
            with contextlib.suppress(OSError):
                _set_size(self.master, width, height)

    async def wait(self) -> int:
        code = await self.proc.wait()
        if self.master is not None:
            self._stop_reading()
            with contextlib.suppress(OSError):
                os.close(self.master)
            self.master = None
        return 128 - code if code < 0 else code

    async def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
