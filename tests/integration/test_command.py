"""kubelite.command.run_command under uvloop, the loop every service runs on.

The proxy once died in CI: `nft list table` had exited before asyncio's communicate() wrote its
(empty) input, and uvloop raises RuntimeError for a write to a closed pipe where asyncio's own
loop raises BrokenPipeError and swallows it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import uvloop

from kubelite.command import Completed, run_command

T = TypeVar("T")


def _on_uvloop(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return uvloop.run(coro_fn())


def test_communicate_fails_this_way_under_uvloop() -> None:
    """The failure the helper exists for: if this stops raising, uvloop fixed it."""

    async def main() -> str:
        proc = await asyncio.create_subprocess_exec("true", stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE)
        await proc.wait()  # exited before we write
        try:
            await proc.communicate(b"")
        except RuntimeError as exc:
            return str(exc)
        return ""

    assert "closed" in _on_uvloop(main)


def test_a_command_that_exits_before_reading_its_input() -> None:
    async def main() -> list[Completed]:
        # `true` never reads: empty input, and more input than a pipe holds (64 KiB)
        return [await run_command("true", stdin=data) for data in ("", "x" * 1_000_000, "") for _ in range(5)]

    assert {r.code for r in _on_uvloop(main)} == {0}


def test_input_output_and_exit_code() -> None:
    async def main() -> Completed:
        return await run_command("sh", "-c", "cat; echo oops >&2; exit 3", stdin="hello\n")

    assert _on_uvloop(main) == Completed(3, "hello\n", "oops\n")


def test_large_input_and_output_do_not_deadlock() -> None:
    """cat writes its stdout while we are still feeding it: both pipes are read concurrently."""

    async def main() -> Completed:
        return await asyncio.wait_for(run_command("cat", stdin="y" * 2_000_000), 30)

    done = _on_uvloop(main)
    assert (done.code, len(done.stdout), done.stderr) == (0, 2_000_000, "")


def test_without_input_stdin_is_empty() -> None:
    async def main() -> Completed:
        return await asyncio.wait_for(run_command("cat"), 30)  # would hang on an open pipe

    assert _on_uvloop(main) == Completed(0, "", "")


def test_exec_stdin_to_a_command_that_has_exited() -> None:
    """`kubectl exec -i POD -- true < big-file`: the node agent goes on writing what the client
    sends after the command has exited; that must end the stream, not fail it."""
    from kubelite_nodeagent.runtime.process_exec import SubprocessExec

    async def main() -> int:
        proc = await SubprocessExec.start(["true"], {}, None, tty=False, stdin=True)
        code = await proc.wait()
        await proc.write_stdin(b"x" * 200_000)
        await proc.close_stdin()
        return code

    assert _on_uvloop(main) == 0
