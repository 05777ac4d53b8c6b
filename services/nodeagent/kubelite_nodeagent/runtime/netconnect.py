"""TCP connections into a pod's network namespace (kubectl port-forward's 127.0.0.1:<port>),
and a look at its listening sockets' accept queues (the drain before SIGTERM).

A socket belongs to the network namespace of the thread that created it, so a
short-lived thread joins the pod's namespace (setns), creates the socket and
leaves; the connect and all I/O then happen on the event loop as usual.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000


def _in_netns(netns_path: str, work: Callable[[], T]) -> T:
    """Run `work` on this thread inside `netns_path`'s network namespace, then come back."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(netns_path, os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns({netns_path}): {os.strerror(err)}")
            try:
                return work()
            finally:
                # This thread ends right after; going back anyway keeps it harmless if reused.
                libc.setns(own, CLONE_NEWNET)
        finally:
            os.close(target)
    finally:
        os.close(own)


async def _in_fresh_thread(netns_path: str, work: Callable[[], T], discard: Callable[[T], None]) -> T:
    """`work()` in a new thread that joined `netns_path` (a reused pool thread could be left
    in the wrong namespace); `discard` cleans up a result nobody waits for any more."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            if result is not None:
                discard(result)
        elif error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result = _in_netns(netns_path, work)
        except Exception as exc:  # handed to the awaiting task
            loop.call_soon_threadsafe(settle, None, exc)
            return
        loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=run, name="netns-connect", daemon=True).start()
    return await future


async def connect(
    host: str, port: int, netns_path: str = "", timeout: float = 10.0  # noqa: ASYNC109
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to host:port, from inside `netns_path` when given (needs CAP_SYS_ADMIN)."""
    if not netns_path:
        return await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    sock = await _in_fresh_thread(netns_path, lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM),
                                  lambda s: s.close())
    try:
        sock.setblocking(False)
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, port)), timeout)
        return await asyncio.open_connection(sock=sock)
    except BaseException:
        sock.close()
        raise


LISTEN = "0A"  # st column of /proc/net/tcp for a socket in LISTEN state


def listen_queue_lengths(table: str) -> int:
    """Connections completed but not yet accept()ed, summed over the LISTEN sockets of a
    /proc/net/tcp(6) table (for a listener, rx_queue is its accept queue's length)."""
    waiting = 0
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 4 and fields[3] == LISTEN:
            waiting += int(fields[4].partition(":")[2], 16)
    return waiting


def _read_accept_queues() -> int:
    total = 0
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/thread-self/net/{name}") as f:
                total += listen_queue_lengths(f.read())
        except FileNotFoundError:  # no IPv6 in this namespace
            continue
    return total


async def accept_queue(netns_path: str) -> int:
    """Connections waiting in the accept queues of the listening sockets in `netns_path`."""
    return await _in_fresh_thread(netns_path, _read_accept_queues, lambda _n: None)
