"""Files appearing in directories, told by the kernel (inotify) instead of found by polling.

The process runtime learns that a container started or ended from files its supervisor
writes (started.json, exit.json, each by an atomic rename). Polling for them cost the node
agent one or two stats per container every 10 ms while it started, every 50 ms while it
stopped and every 0.2 s while it ran, and up to that much delay in noticing. With inotify the
waiter wakes when the rename lands. Polling remains, slower, for what no file tells (a
supervisor killed before it could write) and as the whole fallback where inotify is missing.

    files = FileWatch()            # one per runtime; start() on its event loop
    await files.wait(cdir / "started.json", timeout=0.1)   # returns early when it appears
    files.listen("exit.json", on_exit)                     # any watched directory
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import struct
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
_MASK = IN_MOVED_TO | IN_CREATE | IN_ONLYDIR
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then the name)
_READ_SIZE = 64 * 1024
FALLBACK_POLL_SECONDS = 0.01  # wait() without inotify: the old polling interval


class FileWatch:
    """One inotify instance, read on the event loop. Directories are watched while someone
    waits in them (`wait`) or holds them (`hold`/`release`); `listen(name, fn)` calls `fn(dir)`
    whenever a file of that name appears in any watched directory."""

    def __init__(self) -> None:
        self._fd = -1
        self._libc: ctypes.CDLL | None = None
        self._wd_dir: dict[int, str] = {}
        self._dir_wd: dict[str, int] = {}
        self._users: dict[str, int] = {}  # directory -> waiters and holders
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}  # file path -> futures
        self._listeners: dict[str, list[Callable[[str | None], None]]] = {}

    @property
    def active(self) -> bool:
        return self._fd >= 0

    def start(self) -> bool:
        """Open the inotify instance on the running loop; False (polling only) where it fails."""
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError) as exc:
            log.warning("inotify unavailable (%s): the process runtime polls for container files", exc)
            return False
        if fd < 0:
            log.warning("inotify_init1: %s: the process runtime polls for container files",
                        os.strerror(ctypes.get_errno()))
            return False
        self._libc, self._fd = libc, fd
        asyncio.get_running_loop().add_reader(fd, self._read)
        return True

    def close(self) -> None:
        if self._fd < 0:
            return
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().remove_reader(self._fd)
        os.close(self._fd)
        self._fd = -1
        self._wd_dir.clear()
        self._dir_wd.clear()
        self._wake_all()

    def listen(self, name: str, callback: Callable[[str | None], None]) -> None:
        """Call `callback(directory)` when a file `name` appears in a watched directory, and
        `callback(None)` when events were lost (look at every directory again)."""
        self._listeners.setdefault(name, []).append(callback)

    def hold(self, directory: Path) -> None:
        """Watch `directory` until as many `release` calls (a directory that cannot be watched,
        e.g. gone, is left to the caller's polling)."""
        key = str(directory)
        self._users[key] = self._users.get(key, 0) + 1
        if self._fd >= 0 and key not in self._dir_wd:
            assert self._libc is not None
            wd = self._libc.inotify_add_watch(self._fd, key.encode(), _MASK)
            if wd >= 0:
                self._dir_wd[key], self._wd_dir[wd] = wd, key

    def release(self, directory: Path) -> None:
        key = str(directory)
        left = self._users.get(key, 0) - 1
        if left > 0:
            self._users[key] = left
            return
        self._users.pop(key, None)
        wd = self._dir_wd.pop(key, None)
        if wd is not None and self._fd >= 0:
            assert self._libc is not None
            self._libc.inotify_rm_watch(self._fd, wd)  # its IN_IGNORED event drops the wd

    async def wait(self, path: Path, timeout: float) -> bool:  # noqa: ASYNC109 - a poll interval
        """Until `path` exists or `timeout` seconds pass (only FALLBACK_POLL_SECONDS without
        inotify); whether it exists."""
        if self._fd < 0:
            if not path.exists():  # noqa: ASYNC240 - one stat
                await asyncio.sleep(min(timeout, FALLBACK_POLL_SECONDS))
            return path.exists()  # noqa: ASYNC240
        self.hold(path.parent)
        key = str(path)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, []).append(future)
        try:
            if not path.exists():  # after the watch: a rename from now on is seen  # noqa: ASYNC240
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await future
            return path.exists()  # noqa: ASYNC240
        finally:
            waiting = self._waiters.get(key, [])
            if future in waiting:
                waiting.remove(future)
            if not waiting:
                self._waiters.pop(key, None)
            self.release(path.parent)

    def _read(self) -> None:
        try:
            data = os.read(self._fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            log.warning("inotify read: %s; waking every waiter", exc)
            self._wake_all()
            return
        for wd, mask, name in parse_events(data):
            if mask & IN_Q_OVERFLOW:
                self._wake_all()  # events were lost: everyone looks again
            elif mask & IN_IGNORED:
                directory = self._wd_dir.pop(wd, None)
                if directory is not None and self._dir_wd.get(directory) == wd:
                    del self._dir_wd[directory]  # the directory went away
            elif (directory := self._wd_dir.get(wd)) is not None and name:
                self._appeared(directory, name)

    def _appeared(self, directory: str, name: str) -> None:
        for future in self._waiters.get(os.path.join(directory, name), []):
            if not future.done():
                future.set_result(None)
        for callback in self._listeners.get(name, []):
            try:
                callback(directory)
            except Exception:
                log.exception("file watch listener for %s failed", name)

    def _wake_all(self) -> None:
        for futures in self._waiters.values():
            for future in futures:
                if not future.done():
                    future.set_result(None)
        for callbacks in self._listeners.values():
            for callback in callbacks:
                try:
                    callback(None)
                except Exception:
                    log.exception("file watch listener failed")


def parse_events(data: bytes) -> list[tuple[int, int, str]]:
    """(watch descriptor, mask, file name) of each struct inotify_event in one read; the name is
    NUL-padded in the buffer.

    >>> raw = _EVENT.pack(3, IN_MOVED_TO, 0, 16) + b"exit.json".ljust(16, b"\\0")
    >>> parse_events(raw + _EVENT.pack(3, IN_IGNORED, 0, 0))
    [(3, 128, 'exit.json'), (3, 32768, '')]
    """
    events, offset = [], 0
    while offset + _EVENT.size <= len(data):
        wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
        offset += _EVENT.size
        name = data[offset : offset + length].split(b"\0", 1)[0].decode(errors="replace")
        offset += length
        events.append((wd, mask, name))
    return events
