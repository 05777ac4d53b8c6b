"""The generated PKI, checked with real TLS: a server certificate from the cluster CA and
client certificates from the client CA complete a mutual-TLS handshake over loopback; a
certificate from any other CA is refused; files are private and reused across starts."""

from __future__ import annotations

import asyncio
import ssl
import stat
from pathlib import Path

import pytest

from kubelite import pki


def _server_context(p: pki.ClusterPKI) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(p.crt("apiserver"), p.key("apiserver"))
    ctx.load_verify_locations(p.crt("client-ca"))
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _client_context(p: pki.ClusterPKI, name: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=p.crt("cluster-ca"))
    ctx.load_cert_chain(p.crt(name), p.key(name))
    return ctx


@pytest.fixture
def cluster_pki(tmp_path: Path) -> pki.ClusterPKI:
    p = pki.ClusterPKI(tmp_path / "pki")
    p.ensure()
    p.ensure_leaf("apiserver", "cluster-ca", "kube-apiserver", dns_names=["localhost", "kubernetes.default.svc"],
                  ip_addresses=["127.0.0.1"], server=True)
    p.ensure_leaf("admin", "client-ca", "admin", organizations=["system:masters"], client=True)
    return p


async def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, host: str) -> tuple[str, tuple]:
    """Connect once; the identity the server read from its peer's certificate. With TLS 1.3
    a refused client certificate shows on the client only as a closed connection (or an
    alert) after the handshake: that is a ConnectionError here."""
    seen: list[tuple[str, tuple]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        from cryptography import x509

        seen.append(pki.identity_of(x509.load_der_x509_certificate(der)))
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=client_ctx, server_hostname=host), 10)
        try:
            reply = await asyncio.wait_for(reader.read(), 10)
        except ssl.SSLError as exc:
            raise ConnectionError(f"refused: {exc}") from exc
        writer.close()
    finally:
        server.close()
    if reply != b"ok" or not seen:
        raise ConnectionError("the server closed the connection without serving it")
    return seen[0]


async def test_mutual_tls_carries_the_client_identity(cluster_pki: pki.ClusterPKI) -> None:
    user, groups = await _handshake(_server_context(cluster_pki), _client_context(cluster_pki, "admin"), "localhost")
    assert (user, groups) == ("admin", ("system:masters",))
    # the IP SAN serves clients that connect by address
    assert (await _handshake(_server_context(cluster_pki), _client_context(cluster_pki, "admin"), "127.0.0.1"))[0] \
        == "admin"


async def test_a_client_certificate_from_another_ca_is_refused(cluster_pki: pki.ClusterPKI, tmp_path: Path) -> None:
    rogue = pki.ClusterPKI(tmp_path / "rogue")
    rogue.ensure()
    rogue.ensure_leaf("admin", "client-ca", "admin", organizations=["system:masters"], client=True)
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cluster_pki.crt("cluster-ca"))
    ctx.load_cert_chain(rogue.crt("admin"), rogue.key("admin"))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await _handshake(_server_context(cluster_pki), ctx, "localhost")


async def test_a_server_name_outside_the_sans_is_refused(cluster_pki: pki.ClusterPKI) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        await _handshake(_server_context(cluster_pki), _client_context(cluster_pki, "admin"), "evil.example")


def test_files_are_private_and_reused(cluster_pki: pki.ClusterPKI) -> None:
    root = cluster_pki.root
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    for f in root.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    before = {f.name: f.read_bytes() for f in root.iterdir()}
    again = pki.ClusterPKI(root)
    again.ensure()
    again.ensure_leaf("apiserver", "cluster-ca", "kube-apiserver", dns_names=["localhost", "kubernetes.default.svc"],
                      ip_addresses=["127.0.0.1"], server=True)
    assert {f.name: f.read_bytes() for f in root.iterdir()} == before, "a second start changes nothing"
    again.ensure_leaf("apiserver", "cluster-ca", "kube-apiserver", dns_names=["localhost"],
                      ip_addresses=["127.0.0.1", "10.96.0.1"], server=True)
    assert cluster_pki.crt("apiserver").read_bytes() != before["apiserver.crt"], "new SANs: a new certificate"
    assert cluster_pki.crt("cluster-ca").read_bytes() == before["cluster-ca.crt"], "the CA is kept"
