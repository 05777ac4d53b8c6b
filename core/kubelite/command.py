"""Run a short host command (`nft`, `ip`, `conntrack`, `iptables`) from asyncio and collect
its exit code and output.

Why not `proc.communicate(data)`: under uvloop, writing to the stdin of a command that has
already exited raises RuntimeError ("the handler is closed") instead of BrokenPipeError, which
asyncio would have swallowed. A loaded machine makes that likely for a command that never reads
its input (`nft list table` given b""), and it killed the proxy once in CI. Here stdin is a pipe
only when there is input, and a command that exits without reading all of it is not an error of
ours: its exit code and stderr say what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

# What writing to (or closing) the stdin pipe of a command that has exited raises: asyncio's
# own loop raises BrokenPipeError/ConnectionResetError, uvloop RuntimeError.
PIPE_CLOSED = (ConnectionError, RuntimeError)


@dataclass(frozen=True)
class Completed:
    code: int
    stdout: str
    stderr: str


async def run_command(*argv: str, stdin: str | None = None) -> Completed:
    """Run `argv` to completion; `stdin`, when given, is written to it and then closed."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    # read both pipes while feeding stdin: a command that fills its stdout pipe before it has
    # read all its input would otherwise wait on us while we wait on it
    _, out, err = await asyncio.gather(_feed(proc, stdin), proc.stdout.read(), proc.stderr.read())
    code = await proc.wait()
    return Completed(code, out.decode(errors="replace"), err.decode(errors="replace"))


async def _feed(proc: asyncio.subprocess.Process, data: str | None) -> None:
    if data is None or proc.stdin is None:
        return
    with contextlib.suppress(*PIPE_CLOSED):
        if data:
            proc.stdin.write(data.encode())
            await proc.stdin.drain()
    with contextlib.suppress(*PIPE_CLOSED):
        proc.stdin.close()
