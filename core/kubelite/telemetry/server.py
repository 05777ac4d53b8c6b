"""The `/metrics` endpoint of a kubelite process: HTTPS, client certificates, a group check.

Kubernetes' scheduler, controller-manager and kubelet serve `/metrics` on a secure port and ask
the apiserver (SubjectAccessReview) whether the caller may `get` that path. kubelite's node
components speak only NATS, so the check is made here, from the client certificate alone: a
certificate from the cluster's client CA whose groups include `system:masters` (the admin) or
`system:monitoring` (the `monitoring` credential `kubelite certs` writes for a Prometheus) may
read; any other certificate gets 403, none at all 401. These are the groups Kubernetes' default
RBAC grants `/metrics` to, so the same credential reads the apiserver's `/metrics` too.

The serving certificate is the process's own bus certificate (kubelite.credentials issues it for
both client and server use, with this host's names), so `curl --cacert pki/cluster-ca.crt` checks
it. `--metrics-bind-address off` serves nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from kubelite.pki import peer_identity

log = logging.getLogger("kubelite.telemetry")

READER_GROUPS = frozenset({"system:masters", "system:monitoring"})
_MAX_HEAD = 16 * 1024  # request line + headers; a scraper sends a few hundred bytes
_READ_TIMEOUT = 10.0


@dataclass(frozen=True)
class BindAddress:
    host: str
    port: int  # 0: the OS picks one (logged, and what `url` reports once serving)


def parse_bind_address(value: str) -> BindAddress | None:
    """`HOST:PORT`, `:PORT` (127.0.0.1) or `off` (None). Port 0 lets the OS choose."""
    if value.strip().lower() in ("off", "", "0"):
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"invalid metrics bind address {value!r}: want HOST:PORT, :PORT or off")
    return BindAddress(host.strip("[]") or "127.0.0.1", int(port))


def add_metrics_flags(parser: argparse.ArgumentParser, *, default_port: int) -> None:
    """--metrics-bind-address, with the port Kubernetes' counterpart of this component uses."""
    parser.add_argument(
        "--metrics-bind-address", type=parse_bind_address, default=BindAddress("127.0.0.1", default_port),
        metavar="HOST:PORT",
        help=f"serve Prometheus metrics over HTTPS here (default 127.0.0.1:{default_port}; port 0: any free "
             "port; off: none); readers need a client certificate in group system:masters or system:monitoring")


def server_tls(cert_file: str | Path, key_file: str | Path, client_ca_file: str | Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(client_ca_file))
    ctx.load_cert_chain(str(cert_file), str(key_file))
    ctx.verify_mode = ssl.CERT_OPTIONAL  # no certificate: a readable 401 instead of a failed handshake
    return ctx


def route(method: str, path: str, peer: tuple[str, tuple[str, ...]] | None) -> tuple[int, str, bytes]:
    """(status, content type, body) for one request from `peer`, the (user, groups) of its
    client certificate (pure, but for the registry it reads)."""
    path = path.split("?", 1)[0]
    if path in ("/healthz", "/livez", "/readyz"):
        return 200, "text/plain; charset=utf-8", b"ok"
    if not peer:
        return 401, "text/plain; charset=utf-8", b"Unauthorized: a client certificate from the cluster's client CA is required\n"
    user, groups = peer
    if path != "/metrics":
        return 404, "text/plain; charset=utf-8", b"404 page not found\n"
    if method not in ("GET", "HEAD"):
        return 405, "text/plain; charset=utf-8", b"method not allowed\n"
    if not READER_GROUPS.intersection(groups):
        msg = f'forbidden: User "{user}" cannot get path "/metrics" (needs group system:monitoring or system:masters)\n'
        return 403, "text/plain; charset=utf-8", msg.encode()
    return 200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY)


class MetricsServer:
    """Serves `route` over TLS at `address` until `stop()`; `url` once started."""

    def __init__(self, address: BindAddress, *, tls: ssl.SSLContext) -> None:
        self.address = address
        self.tls = tls
        self.server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> str:
        # Bind the socket here: uvloop's Server.sockets can hold None for a listening socket
        # (seen once in CI), and the port chosen for port 0 is what the URL needs.
        family = socket.AF_INET6 if ":" in self.address.host else socket.AF_INET
        sock = socket.create_server((self.address.host, self.address.port), family=family)
        port = sock.getsockname()[1]
        self.server = await asyncio.start_server(self._handle, sock=sock, ssl=self.tls)
        host = self.address.host if ":" not in self.address.host else f"[{self.address.host}]"
        self.url = f"https://{host}:{port}/metrics"
        log.info("metrics on %s", self.url)
        return self.url

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            method, path, *_ = head[:_MAX_HEAD].split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            ssl_object = writer.get_extra_info("ssl_object")
            code, ctype, body = route(method, path, peer_identity(ssl_object))
            reason = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}.get(code, "Error")
            writer.write(f"HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                         f"Connection: close\r\n\r\n".encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError,
                ConnectionError, ssl.SSLError):
            pass  # a scanner, a dropped scrape: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def serve_metrics(address: BindAddress | None, *, cert_file: str | Path, key_file: str | Path,
                        client_ca_file: str | Path) -> MetricsServer | None:
    """Start the endpoint (None when `address` is off)."""
    if address is None:
        return None
    server = MetricsServer(address, tls=server_tls(cert_file, key_file, client_ca_file))
    try:
        await server.start()
    except OSError as exc:  # a port in use (a second node agent on the default): run on, unmeasured
        log.error("no metrics endpoint on %s:%d: %s (--metrics-bind-address HOST:PORT, port 0 for any)",
                  address.host, address.port, exc.strerror or exc)
        return None
    return server


async def serve_process_metrics(address: BindAddress | None, *, pki_dir: str | Path,
                                file_name: str) -> MetricsServer | None:
    """A component's endpoint with its serving certificate `<pki_dir>/<file_name>-serving.crt`
    (kubelite.credentials writes one per scheduler, controller-manager, node agent and proxy).
    Without one, a warning and no endpoint: metrics never keep a component from running."""
    from kubelite.pki import ClusterPKI

    if address is None:
        return None
    pki = ClusterPKI(pki_dir)
    serving = f"{file_name}-serving"
    if not str(pki_dir) or not pki.has(serving):
        log.warning("no metrics endpoint: no serving certificate %s.crt in %s (`kubelite certs` writes it)",
                    serving, pki.root)
        return None
    return await serve_metrics(address, cert_file=pki.crt(serving), key_file=pki.key(serving),
                               client_ca_file=pki.crt("client-ca"))
