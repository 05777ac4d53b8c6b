"""The process runtime's file watch against the real kernel's inotify, in a temporary directory."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from kubelite_nodeagent.runtime.filewatch import FileWatch


def rename_in(directory: Path, name: str, text: str = "{}") -> None:
    """As the supervisor writes its files: a temporary file renamed over the final name."""
    tmp = directory / f".{name}.tmp"
    tmp.write_text(text)
    os.replace(tmp, directory / name)


async def test_a_waiter_wakes_when_its_file_is_renamed_in(tmp_path: Path) -> None:
    files = FileWatch()
    assert files.start(), "inotify is available on Linux"
    try:
        target = tmp_path / "started.json"
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, rename_in, tmp_path, "started.json")
        began = time.monotonic()
        assert await files.wait(target, timeout=30.0), "the file appeared but wait() says it did not"
        waited = time.monotonic() - began
        assert waited < 10.0, f"woke after {waited:.1f} s: the rename did not wake the waiter"
        # present already: no wait at all, and nothing left watched afterwards
        assert await files.wait(target, timeout=30.0)
        assert files._dir_wd == {} and files._users == {}, "a finished wait left its directory watched"
        assert not await files.wait(tmp_path / "exit.json", timeout=0.01), "absent file reported present"
    finally:
        files.close()


async def test_listeners_hear_files_in_held_directories_only(tmp_path: Path) -> None:
    files = FileWatch()
    assert files.start()
    heard: list[str | None] = []
    got = asyncio.Event()

    def on_exit(directory: str | None) -> None:
        heard.append(directory)
        got.set()

    files.listen("exit.json", on_exit)
    held, other = tmp_path / "held", tmp_path / "other"
    held.mkdir()
    other.mkdir()
    try:
        files.hold(held)
        rename_in(other, "exit.json")  # not watched: never heard
        rename_in(held, "exit.json")
        await asyncio.wait_for(got.wait(), 30.0)
        assert heard == [str(held)], heard
        files.release(held)
        assert files._dir_wd == {}, "released directory still watched"
    finally:
        files.close()


async def test_without_inotify_wait_polls(tmp_path: Path) -> None:
    files = FileWatch()  # never started: the fallback
    target = tmp_path / "exit.json"
    assert not await files.wait(target, timeout=5.0), "absent file reported present"
    rename_in(tmp_path, "exit.json")
    assert await files.wait(target, timeout=5.0)
