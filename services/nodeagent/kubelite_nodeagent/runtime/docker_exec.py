"""Interactive exec and attach for the docker runtime: the Engine's exec and attach APIs, each
with an attached stream.

One reader task demultiplexes the attached stream into bounded stdout/stderr
queues (base.ExecStream); with a tty the engine sends everything as stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

QUEUE_CHUNKS = 16


class DockerExec:
    def __init__(self, execution: Any, stream: Any) -> None:
        self.execution = execution
        self.stream = stream
        self.stdout: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_CHUNKS)
        self.stderr: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_CHUNKS)
        self._reader = asyncio.create_task(self._read(), name="docker-exec-read")

    @classmethod
    async def start(cls, container: Any, argv: list[str], *, tty: bool, stdin: bool) -> DockerExec:
        """Raises aiodocker's DockerError (404 no container, 409 not running)."""
        execution = await container.exec(argv, stdout=True, stderr=True, stdin=stdin, tty=tty)
        stream = execution.start(detach=False)
        await stream._init()  # attach now, so a failure surfaces here and not on first read
        return cls(execution, stream)

    async def _read(self) -> None:
        try:
            while (msg := await self.stream.read_out()) is not None:
                await (self.stderr if msg.stream == 2 else self.stdout).put(msg.data)
        finally:
            await self.stdout.put(b"")
            await self.stderr.put(b"")

    async def read_stdout(self) -> bytes:
        return await self.stdout.get()

    async def read_stderr(self) -> bytes:
        return await self.stderr.get()

    async def write_stdin(self, data: bytes) -> None:
        await self.stream.write_in(data)

    async def close_stdin(self) -> None:
        # aiodocker's Stream.close() also drops the output; half-close the hijacked socket instead.
        with contextlib.suppress(Exception):
            transport = self.stream._resp.connection.transport
            if transport is not None and transport.can_write_eof():
                transport.write_eof()

    async def resize(self, width: int, height: int) -> None:
        with contextlib.suppress(Exception):
            await self.execution.resize(h=height, w=width)

    async def wait(self) -> int:
        await asyncio.shield(self._reader)
        for _ in range(500):  # the exit code lands a moment after the stream closes
            info = await self.execution.inspect()
            if not info.get("Running"):
                return int(info.get("ExitCode") or 0)
            await asyncio.sleep(0.02)
        return int(info.get("ExitCode") or 0)

    async def kill(self) -> None:
        # The engine has no "kill exec": closing the attached stream hangs it up (SIGHUP with a tty).
        self._reader.cancel()
        with contextlib.suppress(Exception):
            await self.stream.close()


class DockerAttach(DockerExec):
    """kubectl attach: the container's own stdio. `execution` is the container itself, whose
    resize is the tty's; the container's stdin exists only if it was created with OpenStdin."""

    @classmethod
    async def start_attach(cls, container: Any) -> DockerAttach:
        info = await container.show()
        if not (info.get("State") or {}).get("Running"):
            from aiodocker.exceptions import DockerError

            raise DockerError(409, {"message": "container is not running"})
        config = info.get("Config") or {}
        stream = container.attach(stdout=True, stderr=True, stdin=bool(config.get("OpenStdin")), logs=False)
        await stream._init()
        return cls(container, stream)

    async def wait(self) -> int:
        """0 once the output ended: an attach has no exit code of its own."""
        await asyncio.shield(self._reader)
        return 0

    async def kill(self) -> None:
        """Detach (closing the attached stream leaves the container running)."""
        self._reader.cancel()
        with contextlib.suppress(Exception):
            await self.stream.close()
