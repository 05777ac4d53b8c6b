"""uvicorn protocols that tell the app who is on the other end of the TLS connection.

uvicorn verifies a client certificate against --client-ca-file (ssl CERT_OPTIONAL:
a client may also come with a bearer token, or as nobody) but does not put it in
the ASGI scope. These subclasses read it once per connection and add the ASGI TLS
extension, `scope["extensions"]["tls"]`, with our parsed identity under
"client_identity": (user, groups) from CN and O, or None.
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


class TLSHttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._tls: dict[str, Any] = {"client_identity": peer_identity(transport)}

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {"tls": self._tls}  # type: ignore[typeddict-unknown-key]


class TLSWebSocketProtocol(WebSocketsSansIOProtocol):  # what uvicorn's ws="auto" picks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._tls: dict[str, Any] = {"client_identity": peer_identity(transport)}

    async def run_asgi(self) -> None:
        self.scope.setdefault("extensions", {})["tls"] = self._tls  # type: ignore[union-attr]
        await super().run_asgi()
