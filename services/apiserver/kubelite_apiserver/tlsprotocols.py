"""uvicorn protocols that tell the app who is on the other end of the TLS connection.

uvicorn verifies a client certificate against --client-ca-file (ssl CERT_OPTIONAL:
a client may also come with a bearer token, or as nobody) but does not put it in
the ASGI scope. These subclasses read it once per connection and add the ASGI TLS
extension, `scope["extensions"]["tls"]`, with our parsed identity under
"client_identity": (user, groups) from CN and O, or None.

ASGI has no raw HTTP upgrades besides websockets, but kubectl ≤1.29 (exec, cp, attach) and
≤1.30 (port-forward) upgrade to `SPDY/3.1`. The HTTP protocol therefore offers the app
`scope["extensions"][UPGRADE]`: a callable that writes the app's `101 Switching Protocols`
head and hands the connection to a `RawStream`, which the app then reads and writes itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from kubelite.pki import peer_identity as pki_peer_identity


def peer_identity(transport: asyncio.BaseTransport) -> tuple[str, tuple[str, ...]] | None:
    """(user, groups) of the verified client certificate, None without one."""
    return pki_peer_identity(transport.get_extra_info("ssl_object"))


UPGRADE = "kubelite.upgrade"


class RawStream(asyncio.Protocol):
    """The bytes of a connection after an upgrade: an async iterator in, `write` out."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self._chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._writable = asyncio.Event()
        self._writable.set()

    def data_received(self, data: bytes) -> None:
        self._chunks.put_nowait(data)

    def eof_received(self) -> bool | None:
        self._chunks.put_nowait(None)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._chunks.put_nowait(None)
        self._writable.set()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def __aiter__(self) -> RawStream:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self._chunks.get()
        if chunk is None:
            self._chunks.put_nowait(None)  # every later read ends too
            raise StopAsyncIteration
        return chunk

    async def write(self, data: bytes) -> None:
        """Write, then wait while the transport's buffer is over its high-water mark."""
        if self.transport.is_closing():
            raise ConnectionResetError("the client closed the connection")
        self.transport.write(data)
        await self._writable.wait()

    def close(self) -> None:
        self.transport.close()


class TLSHttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._tls: dict[str, Any] = {"client_identity": peer_identity(transport)}

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {"tls": self._tls, UPGRADE: self._take_over}  # type: ignore[typeddict-unknown-key]

    def _unsupported_upgrade_warning(self) -> None:
        """An upgrade other than websocket reaches the app as a plain request (SPDY: see above)."""

    def _take_over(self, head: bytes) -> RawStream:
        """Answer the current request with `head` (a 101) and give its connection to a RawStream."""
        cycle = self.cycle
        cycle.response_started = cycle.response_complete = True  # uvicorn sends nothing more
        self.connections.discard(self)
        self._unset_keepalive_if_required()
        raw = RawStream(self.transport)
        self.transport.set_protocol(raw)
        self.transport.write(head)
        self.transport.resume_reading()
        return raw


class TLSWebSocketProtocol(WebSocketsSansIOProtocol):  # what uvicorn's ws="auto" picks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._tls: dict[str, Any] = {"client_identity": peer_identity(transport)}

    async def run_asgi(self) -> None:
        self.scope.setdefault("extensions", {})["tls"] = self._tls  # type: ignore[union-attr]
        await super().run_asgi()
