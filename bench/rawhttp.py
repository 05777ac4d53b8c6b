"""A minimal HTTP/1.1 client for a bench's hot path (imported as `rawhttp`: the scripts run
from bench/): one keep-alive connection, plain or TLS, requests with Content-Length or
chunked answers, and a line stream for `?watch=true`.

Why not httpx there: a bench shares this machine's two cores with the cluster it measures,
and httpx (h11, anyio, its models) spends ≈ 1.5 CPU-ms of this process per request. In a
burst of 50 pod creates plus their watch that was 120–140 CPU-ms of the ≈ 1,100 the whole
machine spent from the first create to the last pod Ready (pod_startup_bench.py): CPU the
cluster lacked, and a cost no client on another machine would put there (clusterloader2
runs beside the cluster, not on its nodes). This client writes the request line and headers
itself and lets the ssl module and asyncio's streams do the rest.

It does what the benches need and no more: no redirects, no proxies, no compression, no
HTTP/2. Setup, listing and cleanup in the benches stay on httpx.
"""

from __future__ import annotations

import asyncio
import contextlib
import json as jsonlib
import ssl
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any


class HTTPError(Exception):
    """An answer outside 2xx where the caller asked for success (raise_for_status)."""


class Response:
    def __init__(self, status_code: int, headers: dict[str, str], body: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = body

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    def raise_for_status(self) -> None:
        if not 200 <= self.status_code < 300:
            raise HTTPError(f"HTTP {self.status_code}: {self.text[:300]}")


def _ssl_of(scheme: str, verify: ssl.SSLContext | bool) -> ssl.SSLContext | None:
    """The TLS context for `scheme`: the caller's (the kubeconfig's CA and client certificate),
    or the system's with `verify=True`. There is no way to turn verification off."""
    if scheme == "http":
        return None
    if isinstance(verify, ssl.SSLContext):
        return verify
    if not verify:
        raise ValueError("rawhttp always verifies the server: pass an ssl.SSLContext or True")
    return ssl.create_default_context()


class Connection:
    """One keep-alive connection to `base_url` (opened on first use, again after the server
    closed it). Requests on it are serialised: use one Connection per concurrent request."""

    def __init__(self, base_url: str, *, verify: ssl.SSLContext | bool = True, timeout: float = 30.0) -> None:
        url = urllib.parse.urlsplit(base_url)
        self._host = url.hostname or "localhost"
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._ssl = _ssl_of(url.scheme, verify)
        self._host_header = url.netloc
        self._timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    async def _streams(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._reader.at_eof():
            await self.aclose()
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port, ssl=self._ssl)
        return self._reader, self._writer

    def _head(self, method: str, path: str, params: dict[str, str] | None, body: bytes | None) -> bytes:
        target = f"{path}?{urllib.parse.urlencode(params)}" if params else path
        lines = f"{method} {target} HTTP/1.1\r\nHost: {self._host_header}\r\nAccept: application/json\r\n"
        if body is not None:
            lines += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        return (lines + "\r\n").encode("latin-1")

    async def request(self, method: str, path: str, *, json: Any = None,
                      params: dict[str, str] | None = None) -> Response:  # fmt: skip
        body = jsonlib.dumps(json, separators=(",", ":")).encode() if json is not None else None
        async with self._lock:
            try:
                return await asyncio.wait_for(self._exchange(self._head(method, path, params, body), body),
                                              self._timeout)
            except BaseException:
                await self.aclose()  # a half-read answer would poison the next request
                raise

    async def _exchange(self, head: bytes, body: bytes | None) -> Response:
        reader, writer = await self._streams()
        writer.write(head + body if body else head)
        status, headers = await _read_head(reader)
        answer = b"".join([piece async for piece in _body(reader, headers)])
        if headers.get("connection", "").lower() == "close":
            await self.aclose()
        return Response(status, headers, answer)

    async def get(self, path: str, *, params: dict[str, str] | None = None) -> Response:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, *, json: Any) -> Response:
        return await self.request("POST", path, json=json)

    @contextlib.asynccontextmanager
    async def stream_lines(self, path: str, *, params: dict[str, str] | None = None) -> AsyncIterator[AsyncIterator[bytes]]:
        """GET `path` and yield its body line by line as it arrives (a watch); the connection
        is closed when the block ends, as nothing else can follow an endless answer."""
        async with self._lock:
            try:
                reader, writer = await self._streams()
                writer.write(self._head("GET", path, params, None))
                status, headers = await asyncio.wait_for(_read_head(reader), self._timeout)
                if not 200 <= status < 300:
                    raise HTTPError(f"HTTP {status} from GET {path}")
                yield _lines(_body(reader, headers))
            finally:
                await self.aclose()

    async def aclose(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, asyncio.TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    raw = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = raw[:-4].decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ConnectionError(f"not an HTTP/1.x answer: {status_line[:80]!r}")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> AsyncIterator[bytes]:
    """The answer's body in pieces as they arrive: chunked, Content-Length, or to the close."""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers from the apiserver
                return
            chunk = await reader.readexactly(size + 2)
            yield chunk[:-2]
    elif "content-length" in headers:
        length = int(headers["content-length"])
        if length:
            yield await reader.readexactly(length)
    else:
        yield await reader.read()


async def _lines(pieces: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    pending = b""
    async for piece in pieces:
        pending += piece
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line
    if pending:
        yield pending
