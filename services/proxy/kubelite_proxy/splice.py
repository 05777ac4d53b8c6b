"""Zero-copy forwarding with splice(2): socket -> pipe -> socket, bytes never enter Python.

One `_Direction` per direction owns a pipe; on readable it splices up to
CHUNK bytes from the source socket into the pipe and then from the pipe into
the destination socket. When the destination is full, reading the source
stops until the destination is writable again (backpressure is the pipe).
EOF is forwarded as shutdown(SHUT_WR); the connection is closed when both
directions have ended, or at once (RST-like) on an error in either.

Driven by loop.add_reader/add_writer on raw non-blocking sockets, so it
works on asyncio and uvloop alike. Linux only (os.splice, Python >= 3.10).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
from collections.abc import Callable
from typing import Any

from kubelite_proxy.metrics import TO_BACKEND, TO_CLIENT

AVAILABLE = hasattr(os, "splice") and hasattr(os, "SPLICE_F_MOVE")
CHUNK = 1 << 20
PIPE_SIZE = 1 << 20
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_FLAGS = (os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK) if AVAILABLE else 0


class _Direction:
    __slots__ = ("conn", "counter", "dst", "eof", "loop", "pending", "r", "src", "w")

    def __init__(self, conn: SplicedConnection, src: socket.socket, dst: socket.socket, counter: Any) -> None:
        self.conn = conn
        self.counter = counter  # a prometheus Counter child: bytes this direction forwarded
        self.loop = conn.loop
        self.src = src.fileno()
        self.dst = dst.fileno()
        self.r, self.w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        with contextlib.suppress(OSError):  # a smaller default pipe still works, just slower
            fcntl.fcntl(self.w, _F_SETPIPE_SZ, PIPE_SIZE)
        self.pending = 0  # bytes sitting in the pipe
        self.eof = False

    def start(self) -> None:
        self.loop.add_reader(self.src, self._readable)

    def _readable(self) -> None:
        try:
            n = os.splice(self.src, self.w, CHUNK, flags=_FLAGS)
        except BlockingIOError:
            return
        except OSError as exc:
            self.conn.abort(exc)
            return
        if n == 0:
            self.loop.remove_reader(self.src)
            self.eof = True
            if not self.pending:
                self._finish()
            return
        self.pending += n
        self.counter.inc(n)
        self._flush()

    def _flush(self) -> None:
        while self.pending:
            try:
                self.pending -= os.splice(self.r, self.dst, self.pending, flags=_FLAGS)
            except BlockingIOError:
                if not self.eof:
                    self.loop.remove_reader(self.src)
                self.loop.add_writer(self.dst, self._writable)
                return
            except OSError as exc:
                self.conn.abort(exc)
                return

    def _writable(self) -> None:
        self.loop.remove_writer(self.dst)
        self._flush()
        if self.pending or self.conn.closed:
            return
        if self.eof:
            self._finish()
        else:
            self.loop.add_reader(self.src, self._readable)

    def _finish(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.r)
            os.close(self.w)
        self.r = self.w = -1
        self.conn.direction_done(self.dst)

    def stop(self) -> None:
        self.loop.remove_reader(self.src)
        self.loop.remove_writer(self.dst)
        for fd in (self.r, self.w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.r = self.w = -1


class SplicedConnection:
    """Forwards between two connected non-blocking sockets until both directions end."""

    def __init__(
        self, a: socket.socket, b: socket.socket, on_close: Callable[[], None] | None = None
    ) -> None:
        """`a` the client's socket, `b` the backend's."""
        self.loop = asyncio.get_running_loop()
        self.socks = (a, b)
        self.closed = False
        self._done = 0
        self._on_close = on_close
        self._dirs = (_Direction(self, a, b, TO_BACKEND), _Direction(self, b, a, TO_CLIENT))

    def start(self) -> None:
        for d in self._dirs:
            d.start()

    def direction_done(self, dst_fd: int) -> None:
        sock = self.socks[0] if self.socks[0].fileno() == dst_fd else self.socks[1]
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        self._done += 1
        if self._done == 2:
            self.close()

    def abort(self, _exc: BaseException | None = None) -> None:
        for sock in self.socks:  # linger 0: the peers see a reset, as they would from the other end
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for d in self._dirs:
            d.stop()
        for sock in self.socks:
            sock.close()
        if self._on_close is not None:
            self._on_close()
