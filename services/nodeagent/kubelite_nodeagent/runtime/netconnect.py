"""TCP connections into a pod's network namespace (kubectl port-forward's 127.0.0.1:<port>).

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

CLONE_NEWNET = 0x40000000


def _socket_in_netns(netns_path: str) -> socket.socket:
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(netns_path, os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns({netns_path}): {os.strerror(err)}")
            try:
                return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            finally:
                # This thread ends right after; going back anyway keeps it harmless if reused.
                libc.setns(own, CLONE_NEWNET)
        finally:
            os.close(target)
    finally:
        os.close(own)


async def _in_fresh_thread(netns_path: str) -> socket.socket:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[socket.socket] = loop.create_future()

    def settle(result: socket.socket | None, error: BaseException | None) -> None:
        if future.done():
            if result is not None:
                result.close()
        elif error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            sock = _socket_in_netns(netns_path)
        except Exception as exc:  # handed to the awaiting task
            loop.call_soon_threadsafe(settle, None, exc)
            return
        loop.call_soon_threadsafe(settle, sock, None)

    threading.Thread(target=run, name="netns-connect", daemon=True).start()
    return await future


async def connect(
    host: str, port: int, netns_path: str = "", timeout: float = 10.0  # noqa: ASYNC109
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to host:port, from inside `netns_path` when given (needs CAP_SYS_ADMIN)."""
    if not netns_path:
        return await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    sock = await _in_fresh_thread(netns_path)
    try:
        sock.setblocking(False)
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, port)), timeout)
        return await asyncio.open_connection(sock=sock)
    except BaseException:
        sock.close()
        raise
