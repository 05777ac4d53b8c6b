"""Authentication's pure parts: the static token file, the order of credentials, and
kubeconfig TLS material (data and file forms) as kubectl reads them."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from kubelite.client.kubeconfig import KubeconfigError, kubeconfig_document, parse_kubeconfig
from kubelite.credentials import admin_credentials, ensure_credentials
from kubelite.errors import APIError
from kubelite_apiserver.authn import Authenticator, load_token_file


def scope(*, identity=None, authorization: str | None = None) -> dict:
    headers = [(b"authorization", authorization.encode())] if authorization is not None else []
    return {"headers": headers, "extensions": {"tls": {"client_identity": identity}}}


def test_token_file(tmp_path: Path) -> None:
    f = tmp_path / "tokens.csv"
    f.write_text('# comment\nt1,alice,u1,"g1,g2"\nt2,bob,u2\n')
    tokens = load_token_file(f)
    assert tokens["t1"].name == "alice" and tokens["t1"].groups == ("g1", "g2") and tokens["t1"].uid == "u1"
    assert tokens["t2"].groups == ()
    f.write_text("t3,carol\n")
    with pytest.raises(ValueError, match=r"tokens\.csv:1: want token,user,uid"):
        load_token_file(f)


async def test_certificate_then_token_then_anonymous() -> None:
    authn = Authenticator(tokens=load_token_file_from({"tok": ("robot", ("bots",))}))
    by_cert = await authn.authenticate(scope(identity=("jane", ("dev",)), authorization="Bearer tok"))
    assert (by_cert.name, by_cert.groups) == ("jane", ("dev", "system:authenticated"))
    by_token = await authn.authenticate(scope(authorization="Bearer tok"))
    assert (by_token.name, by_token.groups) == ("robot", ("bots", "system:authenticated"))
    anon = await authn.authenticate(scope())
    assert (anon.name, anon.groups) == ("system:anonymous", ("system:unauthenticated",))
    for bad in ("Bearer nope", "Bearer", "Basic abc", "tok"):
        with pytest.raises(APIError) as exc:
            await authn.authenticate(scope(authorization=bad))
        assert (exc.value.code, exc.value.reason) == (401, "Unauthorized")
    with pytest.raises(APIError):
        await Authenticator(anonymous_auth=False).authenticate(scope())


def load_token_file_from(entries: dict[str, tuple[str, tuple[str, ...]]]) -> dict:
    from kubelite.auth.user import UserInfo

    return {t: UserInfo(name, groups) for t, (name, groups) in entries.items()}


def test_kubeconfig_embeds_and_reads_tls(tmp_path: Path) -> None:
    admin = admin_credentials(ensure_credentials(tmp_path))
    doc = kubeconfig_document("https://127.0.0.1:6443", None, admin)
    cfg = parse_kubeconfig(doc, path=str(tmp_path / "kc"))
    assert (cfg.ca_pem, cfg.client_cert_pem, cfg.client_key_pem) == (admin.ca_pem, admin.cert_pem, admin.key_pem)
    assert cfg.ssl_context() is not None
    assert parse_kubeconfig(kubeconfig_document("http://x:1", None), path="kc").ssl_context() is None


def test_kubeconfig_file_references_are_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    pki = ensure_credentials(tmp_path)
    doc = kubeconfig_document("https://127.0.0.1:6443", None)
    doc["clusters"][0]["cluster"]["certificate-authority"] = "pki/cluster-ca.crt"
    doc["users"][0]["user"] = {"client-certificate": "pki/admin.crt", "client-key": "pki/admin.key"}
    cfg = parse_kubeconfig(doc, path=str(tmp_path / "kubeconfig"))
    assert cfg.ca_pem == pki.crt("cluster-ca").read_bytes() and cfg.client_key_pem == pki.key("admin").read_bytes()
    doc["users"][0]["user"] = {"client-certificate-data": "not base64!"}
    with pytest.raises(KubeconfigError, match="client-certificate-data is not valid base64"):
        parse_kubeconfig(doc, path=str(tmp_path / "kubeconfig"))
    doc["users"][0]["user"] = {"client-certificate": "missing.crt"}
    with pytest.raises(KubeconfigError, match="cannot read client-certificate"):
        parse_kubeconfig(doc, path=str(tmp_path / "kubeconfig"))
    assert base64.b64decode(kubeconfig_document("https://h", None, admin_credentials(pki))["users"][0]["user"]
                            ["client-certificate-data"]) == pki.crt("admin").read_bytes()
