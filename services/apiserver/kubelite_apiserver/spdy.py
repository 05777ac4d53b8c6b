"""SPDY/3.1 framing, as much as kubectl port-forward needs (it tunnels SPDY inside a websocket).

kubectl ≥1.31 speaks `SPDY/3.1+portforward.k8s.io` over a websocket: the
binary messages carry a plain SPDY/3.1 byte stream.  The client opens streams
(SYN_STREAM with name/value headers compressed by zlib with the SPDY/3
dictionary, one compression context per direction), the server answers each
with SYN_REPLY and both sides send DATA frames, FIN ending a direction.  PING
is echoed.  Flow control (WINDOW_UPDATE) is not enforced by the Go client
(moby/spdystream), so it is ignored here; the NATS session bounds buffering.
Pure: bytes in, frames out.
"""

from __future__ import annotations

import struct
import zlib

import msgspec

VERSION = 3
SYN_STREAM = 1
SYN_REPLY = 2
RST_STREAM = 3
SETTINGS = 4
PING = 6
GOAWAY = 7
HEADERS = 8
WINDOW_UPDATE = 9
FLAG_FIN = 0x01
RST_CANCEL = 5

# The zlib dictionary of SPDY/3 header blocks (the protocol's constant, 1423 bytes).
HEADER_DICTIONARY = (
    b'\x00\x00\x00\x07options\x00\x00\x00\x04head\x00\x00\x00\x04p'
    b'ost\x00\x00\x00\x03put\x00\x00\x00\x06delete\x00\x00\x00\x05trac'
    b'e\x00\x00\x00\x06accept\x00\x00\x00\x0eaccept-charset\x00\x00\x00'
    b'\x0faccept-encoding\x00\x00\x00\x0faccept-language\x00\x00\x00\ra'
    b'ccept-ranges\x00\x00\x00\x03age\x00\x00\x00\x05allow\x00\x00\x00\r'
    b'authorization\x00\x00\x00\rcache-control\x00\x00\x00\nconnection'
    b'\x00\x00\x00\x0ccontent-base\x00\x00\x00\x10content-encoding'
    b'\x00\x00\x00\x10content-language\x00\x00\x00\x0econtent-leng'
    b'th\x00\x00\x00\x10content-location\x00\x00\x00\x0bcontent-md'
    b'5\x00\x00\x00\rcontent-range\x00\x00\x00\x0ccontent-type\x00\x00'
    b'\x00\x04date\x00\x00\x00\x04etag\x00\x00\x00\x06expect'
    b'\x00\x00\x00\x07expires\x00\x00\x00\x04from\x00\x00\x00\x04h'
    b'ost\x00\x00\x00\x08if-match\x00\x00\x00\x11if-modified-since'
    b'\x00\x00\x00\rif-none-match\x00\x00\x00\x08if-range\x00\x00\x00'
    b'\x13if-unmodified-since\x00\x00\x00\rlast-modified\x00\x00\x00'
    b'\x08location\x00\x00\x00\x0cmax-forwards\x00\x00\x00\x06pragma\x00'
    b'\x00\x00\x12proxy-authenticate\x00\x00\x00\x13proxy-authorization'
    b'\x00\x00\x00\x05range\x00\x00\x00\x07referer\x00\x00\x00\x0bretr'
    b'y-after\x00\x00\x00\x06server\x00\x00\x00\x02te\x00\x00\x00\x07t'
    b'railer\x00\x00\x00\x11transfer-encoding\x00\x00\x00\x07upgra'
    b'de\x00\x00\x00\nuser-agent\x00\x00\x00\x04vary\x00\x00\x00\x03'
    b'via\x00\x00\x00\x07warning\x00\x00\x00\x10www-authenticate\x00\x00'
    b'\x00\x06method\x00\x00\x00\x03get\x00\x00\x00\x06statu'
    b's\x00\x00\x00\x06200 OK\x00\x00\x00\x07version\x00\x00\x00\x08HT'
    b'TP/1.1\x00\x00\x00\x03url\x00\x00\x00\x06public\x00\x00\x00\nset-c'
    b'ookie\x00\x00\x00\nkeep-alive\x00\x00\x00\x06origin100101201202205'
    b'2063003023033043053063074024054064074084094104114124134144154164'
    b'17502504505203 Non-Authoritative Information204 No Content301 Mo'
    b'ved Permanently400 Bad Request401 Unauthorized403 Forbidden404 N'
    b'ot Found500 Internal Server Error501 Not Implemented503 Service '
    b'UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:0'
    b'0:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,ima'
    b'ge/png,image/jpg,image/gif,application/xml,application/xhtml+xml'
    b',text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sd'
    b'chcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.')


class Frame(msgspec.Struct):
    """One frame: control frames have `type` > 0; data frames type 0."""

    type: int
    stream_id: int = 0
    flags: int = 0
    headers: dict[str, str] = {}
    data: bytes = b""


def _parse_headers(block: bytes) -> dict[str, str]:
    (count,) = struct.unpack_from(">I", block, 0)
    pos, headers = 4, {}
    for _ in range(count):
        (n,) = struct.unpack_from(">I", block, pos)
        name = block[pos + 4 : pos + 4 + n].decode("latin-1")
        pos += 4 + n
        (n,) = struct.unpack_from(">I", block, pos)
        headers[name.lower()] = block[pos + 4 : pos + 4 + n].decode("latin-1").split("\x00")[0]
        pos += 4 + n
    return headers


def _header_block(headers: dict[str, str]) -> bytes:
    out = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        n, v = name.lower().encode(), value.encode()
        out += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
    return b"".join(out)


class SpdyConnection:
    """Server side framing state of one SPDY/3.1 connection."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._inflate = zlib.decompressobj(zdict=HEADER_DICTIONARY)
        self._deflate = zlib.compressobj(level=zlib.Z_DEFAULT_COMPRESSION, zdict=HEADER_DICTIONARY)

    def feed(self, data: bytes) -> list[Frame]:
        """The complete frames `data` finishes (partial ones wait for more bytes)."""
        self._buf += data
        frames = []
        while len(self._buf) >= 8:
            length = int.from_bytes(self._buf[5:8], "big")
            if len(self._buf) < 8 + length:
                break
            head, body = bytes(self._buf[:8]), bytes(self._buf[8 : 8 + length])
            del self._buf[: 8 + length]
            flags = head[4]
            if head[0] & 0x80:
                ftype = int.from_bytes(head[2:4], "big")
                frame = self._control(ftype, flags, body)
                if frame is not None:
                    frames.append(frame)
            else:
                sid = int.from_bytes(head[0:4], "big") & 0x7FFFFFFF
                frames.append(Frame(0, sid, flags, data=body))
        return frames

    def _control(self, ftype: int, flags: int, body: bytes) -> Frame | None:
        if ftype == SYN_STREAM:
            sid = int.from_bytes(body[0:4], "big") & 0x7FFFFFFF
            headers = _parse_headers(self._inflate.decompress(body[10:]))
            return Frame(ftype, sid, flags, headers=headers)
        if ftype in (SYN_REPLY, HEADERS):
            sid = int.from_bytes(body[0:4], "big") & 0x7FFFFFFF
            self._inflate.decompress(body[4:])  # keep the shared zlib context in step
            return Frame(ftype, sid, flags)
        if ftype in (RST_STREAM, WINDOW_UPDATE):
            return Frame(ftype, int.from_bytes(body[0:4], "big") & 0x7FFFFFFF, flags, data=body[4:8])
        if ftype in (PING, GOAWAY):
            return Frame(ftype, 0, flags, data=body)
        return None  # SETTINGS and anything newer: nothing to do

    @staticmethod
    def _control_frame(ftype: int, flags: int, body: bytes) -> bytes:
        return struct.pack(">HHI", 0x8000 | VERSION, ftype, (flags << 24) | len(body)) + body

    def syn_reply(self, stream_id: int, fin: bool = False) -> bytes:
        block = self._deflate.compress(_header_block({})) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        return self._control_frame(SYN_REPLY, FLAG_FIN if fin else 0, struct.pack(">I", stream_id) + block)

    def ping(self, body: bytes) -> bytes:
        return self._control_frame(PING, 0, body)

    def rst_stream(self, stream_id: int, status: int = RST_CANCEL) -> bytes:
        return self._control_frame(RST_STREAM, 0, struct.pack(">II", stream_id, status))

    def goaway(self, last_stream_id: int = 0) -> bytes:
        return self._control_frame(GOAWAY, 0, struct.pack(">II", last_stream_id, 0))

    @staticmethod
    def data(stream_id: int, payload: bytes, fin: bool = False) -> bytes:
        return struct.pack(">II", stream_id, ((FLAG_FIN if fin else 0) << 24) | len(payload)) + payload
