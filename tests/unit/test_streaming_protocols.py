"""Pure parts of exec/port-forward: query parsing, subprotocol choice, exit Status, SPDY framing."""

from __future__ import annotations

import struct
import zlib

import msgspec
import pytest

from kubelite import codec
from kubelite.bus.streaming import exit_status
from kubelite.errors import APIError
from kubelite_apiserver import spdy
from kubelite_apiserver.streaming import choose_protocol, exec_request, ports_of


def test_exec_query_keeps_repeated_commands_in_order() -> None:
    query = [("command", "sh"), ("command", "-c"), ("command", "echo a b"), ("container", "main"),
             ("stdin", "true"), ("stdout", "true"), ("stderr", "false"), ("tty", "1")]  # fmt: skip
    req = exec_request("ns", "web", query)
    assert req.command == ["sh", "-c", "echo a b"]
    assert (req.container, req.stdin, req.stdout, req.stderr, req.tty) == ("main", True, True, False, True)
    assert exec_request("ns", "web", [("command", "true")]).stdin is False


def test_ports_repeat_or_comma_separated_and_are_validated() -> None:
    assert ports_of([("ports", "8080,9090"), ("ports", "53")]) == [8080, 9090, 53]
    for bad in ("0", "70000", "http"):
        with pytest.raises(APIError) as err:
            ports_of([("ports", bad)])
        assert err.value.code == 400


def test_subprotocol_choice_prefers_ours_in_order() -> None:
    offered = "v4.channel.k8s.io, v5.channel.k8s.io"
    assert choose_protocol(offered, ("v5.channel.k8s.io", "v4.channel.k8s.io")) == "v5.channel.k8s.io"
    assert choose_protocol("v3.channel.k8s.io", ("v5.channel.k8s.io",)) is None


def test_exit_status_is_what_kubectl_decodes() -> None:
    ok = msgspec.json.decode(codec.encode(exit_status(0)))
    assert ok["status"] == "Success"
    failed = msgspec.json.decode(codec.encode(exit_status(3)))
    assert failed["status"] == "Failure" and failed["reason"] == "NonZeroExitCode"
    assert failed["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]


def _client_syn_stream(deflate: zlib._Compress, stream_id: int, headers: dict[str, str]) -> bytes:
    block = struct.pack(">I", len(headers))
    for k, v in headers.items():
        block += struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode()
    compressed = deflate.compress(block) + deflate.flush(zlib.Z_SYNC_FLUSH)
    body = struct.pack(">IIBB", stream_id, 0, 0, 0) + compressed
    return struct.pack(">HHI", 0x8003, spdy.SYN_STREAM, len(body)) + body


def test_spdy_frames_split_anywhere_and_headers_share_one_zlib_context() -> None:
    assert len(spdy.HEADER_DICTIONARY) == 1423
    client = zlib.compressobj(zdict=spdy.HEADER_DICTIONARY)
    wire = (
        _client_syn_stream(client, 1, {"streamtype": "error", "port": "8080", "requestid": "0"})
        + _client_syn_stream(client, 3, {"streamtype": "data", "port": "8080", "requestid": "0"})
        + spdy.SpdyConnection.data(3, b"GET / HTTP/1.0\r\n\r\n", fin=True)
        + struct.pack(">HHII", 0x8003, spdy.PING, 4, 7)
    )
    conn = spdy.SpdyConnection()
    frames = [f for i in range(0, len(wire), 5) for f in conn.feed(wire[i : i + 5])]
    assert [(f.type, f.stream_id) for f in frames] == [(1, 1), (1, 3), (0, 3), (spdy.PING, 0)]
    assert frames[1].headers == {"streamtype": "data", "port": "8080", "requestid": "0"}
    assert frames[2].data == b"GET / HTTP/1.0\r\n\r\n" and frames[2].flags & spdy.FLAG_FIN
    assert conn.ping(frames[3].data) == wire[-12:]  # echoed unchanged

    # Our SYN_REPLYs decode with the peer's single decompression context.
    inflate = zlib.decompressobj(zdict=spdy.HEADER_DICTIONARY)
    for sid in (1, 3):
        reply = conn.syn_reply(sid)
        assert struct.unpack(">HHI", reply[:8])[:2] == (0x8003, spdy.SYN_REPLY)
        assert struct.unpack(">I", reply[8:12])[0] == sid
        assert inflate.decompress(reply[12:]) == b"\0\0\0\0"
