"""kubectl attach on the process runtime: a connection to the container's supervisor.

The supervisor serves `attach.sock` in the container dir (process_supervisor.py defines the
frames); this side is a base.ExecStream over it, so the agent serves attach as it serves exec.
Detaching (kill) closes the connection and leaves the container running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from kubelite_nodeagent.runtime.process_supervisor import (
    ATTACH_CLOSE_STDIN,
    ATTACH_HEAD,
    ATTACH_RESIZE,
    ATTACH_SOCKET,
    ATTACH_STDERR,
    ATTACH_STDIN,
)

QUEUE_CHUNKS = 16


class ProcessAttach:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.stdout: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_CHUNKS)
        self.stderr: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_CHUNKS)
        self._task = asyncio.create_task(self._read(), name="process-attach-read")

    @classmethod
    async def connect(cls, container_dir: Path) -> ProcessAttach:
        """OSError when no supervisor listens (the container is not running)."""
        # sun_path holds 108 bytes and the container dir may be longer: go through an fd of it
        dirfd = os.open(container_dir, os.O_PATH | os.O_DIRECTORY)
        try:
            reader, writer = await asyncio.open_unix_connection(f"/proc/self/fd/{dirfd}/{ATTACH_SOCKET}")
        finally:
            os.close(dirfd)
        return cls(reader, writer)

    async def _read(self) -> None:
        try:
            while True:
                kind, n = ATTACH_HEAD.unpack(await self.reader.readexactly(ATTACH_HEAD.size))
                body = await self.reader.readexactly(n)
                await (self.stderr if kind == ATTACH_STDERR else self.stdout).put(body)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the container ended (or we detached)
        finally:
            await self.stdout.put(b"")
            await self.stderr.put(b"")

    async def _send(self, kind: bytes, body: bytes = b"") -> None:
        self.writer.write(ATTACH_HEAD.pack(kind, len(body)) + body)
        await self.writer.drain()

    async def read_stdout(self) -> bytes:
        return await self.stdout.get()

    async def read_stderr(self) -> bytes:
        return await self.stderr.get()

    async def write_stdin(self, data: bytes) -> None:
        await self._send(ATTACH_STDIN, data)

    async def close_stdin(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self._send(ATTACH_CLOSE_STDIN)

    async def resize(self, width: int, height: int) -> None:
        with contextlib.suppress(ConnectionError):
            await self._send(ATTACH_RESIZE, f"{width} {height}".encode())

    async def wait(self) -> int:
        """0 once the output ended: an attach has no exit code of its own."""
        await asyncio.shield(self._task)
        return 0

    async def kill(self) -> None:
        """Detach: the container goes on."""
        self._task.cancel()
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
