"""A UDP socket on the wildcard address that answers from the address it was asked on.

A reply sent from a socket bound to 0.0.0.0 gets the source address routing
picks, which is not always the address the client sent to (a pod asking its
node's bridge address 10.244.1.1 may get the answer from 192.0.2.2 and drop
it). As dnsmasq does, each datagram's destination is read with IP_PKTINFO and
the reply's source is set with the same option. IPv4; driven by add_reader,
so it works on asyncio and uvloop alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Callable

log = logging.getLogger(__name__)

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
_PKTINFO_SIZE = 12  # struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr; }
_ANC_SIZE = socket.CMSG_SPACE(_PKTINFO_SIZE)

OnDatagram = Callable[[bytes, tuple[str, int], str], None]  # (data, client, local address)


def is_wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "")


class PktinfoUDP:
    def __init__(self, host: str, port: int, on_datagram: OnDatagram, *, reuse_port: bool = True) -> None:
        self.host = host or "0.0.0.0"
        self.port = port
        self.on_datagram = on_datagram
        self.reuse_port = reuse_port
        self.sock: socket.socket | None = None

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            if self.reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            sock.bind((self.host, self.port))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self.port = sock.getsockname()[1]
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        sock = self.sock
        for _ in range(64):  # bounded: other work gets its turn
            if sock is None:
                return
            try:
                data, anc, _flags, addr = sock.recvmsg(65535, _ANC_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP errors reported on the socket
                log.debug("udp %s:%d: %s", self.host, self.port, exc)
                continue
            local = ""
            for level, kind, cdata in anc:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(cdata) >= _PKTINFO_SIZE:
                    local = socket.inet_ntoa(cdata[8:12])  # ipi_addr: where the client sent it
            self.on_datagram(data, addr, local)
            sock = self.sock

    def sendto(self, data: bytes, addr: tuple[str, int], local: str) -> None:
        sock = self.sock
        if sock is None:
            return
        try:
            if local:
                info = struct.pack("=i4s4s", 0, socket.inet_aton(local), b"\0\0\0\0")
                sock.sendmsg([data], [(socket.IPPROTO_IP, IP_PKTINFO, info)], 0, addr)
            else:
                sock.sendto(data, addr)
        except OSError as exc:  # full buffer or gone: UDP may drop
            log.debug("udp %s:%d: reply to %s dropped: %s", self.host, self.port, addr, exc)

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()
