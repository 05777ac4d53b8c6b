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
import struct
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000


_LIBC = ctypes.CDLL(None, use_errno=True)  # for setns(2), which the os module lacks


def _in_netns(netns_path: str, work: Callable[[], T]) -> T:
    """Run `work` on this thread inside `netns_path`'s network namespace, then come back."""
    libc = _LIBC
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


async def _in_fresh_thread(
    netns_path: str, work: Callable[[], T], discard: Callable[[T], None]
) -> T:
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
    host: str,
    port: int,
    netns_path: str = "",
    timeout: float = 10.0,  # noqa: ASYNC109
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to host:port, from inside `netns_path` when given (needs CAP_SYS_ADMIN)."""
    if not netns_path:
        async with asyncio.timeout(timeout):
            return await asyncio.open_connection(host, port)
    sock = await _in_fresh_thread(
        netns_path, lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM), lambda s: s.close()
    )
    try:
        sock.setblocking(False)
        async with asyncio.timeout(timeout):
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
        return await asyncio.open_connection(sock=sock)
    except BaseException:
        sock.close()
        raise


# sock_diag (netlink), as `ss -lt` asks: reading /proc/net/tcp walks every TCP socket of the
# machine and cost ~11 ms of kernel time per call even in an empty namespace; a dump of the
# LISTEN state looks at listening sockets only.
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
TCP_LISTEN = 10
NLMSG_HEADER = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
DIAG_REQUEST = struct.Struct("=BBBxI48x")  # family, protocol, extensions, states; any socket id
DIAG_RQUEUE = struct.Struct("=I")  # inet_diag_msg.idiag_rqueue, after family…id and expires
DIAG_RQUEUE_OFFSET = 4 + 48 + 4


def diag_request(family: int, sequence: int) -> bytes:
    """A dump request for the TCP sockets of `family` in LISTEN state."""
    body = DIAG_REQUEST.pack(family, socket.IPPROTO_TCP, 0, 1 << TCP_LISTEN)
    return (
        NLMSG_HEADER.pack(
            NLMSG_HEADER.size + len(body),
            SOCK_DIAG_BY_FAMILY,
            NLM_F_REQUEST | NLM_F_DUMP,
            sequence,
            0,
        )
        + body
    )


def listen_queue_lengths(data: bytes) -> tuple[int, bool]:
    """(connections completed but not yet accept()ed, whether the dump ended) summed over the
    inet_diag messages in one netlink read (for a listener, idiag_rqueue is its accept queue)."""
    waiting, offset = 0, 0
    while offset + NLMSG_HEADER.size <= len(data):
        length, kind, _flags, _seq, _port = NLMSG_HEADER.unpack_from(data, offset)
        if kind == NLMSG_DONE:
            return waiting, True
        if kind == NLMSG_ERROR:
            (errno,) = struct.unpack_from("=i", data, offset + NLMSG_HEADER.size)
            raise OSError(-errno, f"sock_diag: {os.strerror(-errno)}")
        if kind == SOCK_DIAG_BY_FAMILY:
            waiting += DIAG_RQUEUE.unpack_from(
                data, offset + NLMSG_HEADER.size + DIAG_RQUEUE_OFFSET
            )[0]
        offset += max(NLMSG_HEADER.size, (length + 3) & ~3)
    return waiting, False


def _read_accept_queues() -> int:
    total = 0
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as nl:
        for sequence, family in enumerate((socket.AF_INET, socket.AF_INET6), start=1):
            nl.send(diag_request(family, sequence))
            done = False
            while not done:
                waiting, done = listen_queue_lengths(nl.recv(65536))
                total += waiting
    return total


async def accept_queue(netns_path: str) -> int:
    """Connections waiting in the accept queues of the listening sockets in `netns_path`."""
    return await _in_fresh_thread(netns_path, _read_accept_queues, lambda _n: None)
