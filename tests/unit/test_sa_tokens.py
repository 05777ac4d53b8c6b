"""ServiceAccount JWTs (kubelite.auth.tokens): signed, checked, and refused for every
way a token can be wrong."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kubelite.auth import tokens

KEY = ec.generate_private_key(ec.SECP256R1())
NOW = 1_800_000_000


def claims(**kw) -> tokens.TokenClaims:
    base = dict(namespace="web", name="robot", uid="sa-uid", audiences=(tokens.AUDIENCE,), expires=NOW + 3600)
    return tokens.TokenClaims(**{**base, **kw})


def test_round_trip_and_username() -> None:
    t = tokens.issue(KEY, claims(bound_kind="Pod", bound_name="p", bound_uid="pod-uid"), now=NOW)
    got = tokens.verify(KEY.public_key(), t, now=NOW + 10)
    assert got.username == "system:serviceaccount:web:robot"
    assert (got.uid, got.bound_kind, got.bound_name, got.bound_uid) == ("sa-uid", "Pod", "p", "pod-uid")
    header = json.loads(base64.urlsafe_b64decode(t.split(".")[0] + "=="))
    assert header["alg"] == "ES256" and header["kid"] == tokens.key_id(KEY.public_key())


def _tamper_payload(t: str, **changes) -> str:
    head, body, sig = t.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload.update(changes)
    new = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{head}.{new}.{sig}"


@pytest.mark.parametrize(("make", "why"), [
    (lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"), "invalid signature"),
    (lambda t: _tamper_payload(t, sub="system:serviceaccount:kube-system:admin"), "invalid signature"),
    (lambda t: "a.b", "malformed token"),
    (lambda t: "not.a.jwt", "malformed token"),
])
def test_tampered_tokens_are_refused(make, why: str) -> None:
    t = tokens.issue(KEY, claims(), now=NOW)
    with pytest.raises(tokens.TokenError, match=why):
        tokens.verify(KEY.public_key(), make(t), now=NOW)


def test_wrong_key_expiry_and_audience() -> None:
    t = tokens.issue(KEY, claims(), now=NOW)
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(tokens.TokenError, match="invalid signature"):
        tokens.verify(other.public_key(), t, now=NOW)
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.verify(KEY.public_key(), t, now=NOW + 3600 + tokens.LEEWAY + 1)
    tokens.verify(KEY.public_key(), t, now=NOW + 3600 + tokens.LEEWAY - 1)  # clock skew is tolerated
    with pytest.raises(tokens.TokenError, match="not valid yet"):
        tokens.verify(KEY.public_key(), t, now=NOW - tokens.LEEWAY - 5)
    vault = tokens.issue(KEY, claims(audiences=("vault",)), now=NOW)
    with pytest.raises(tokens.TokenError, match="audiences"):
        tokens.verify(KEY.public_key(), vault, now=NOW)
    assert tokens.verify(KEY.public_key(), vault, audiences=("vault",), now=NOW).name == "robot"


def test_keys_load_from_pem() -> None:
    pem = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pub = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    t = tokens.issue(tokens.load_private(pem), claims(), now=NOW)
    assert tokens.verify(tokens.load_public(pub), t, now=NOW).namespace == "web"
