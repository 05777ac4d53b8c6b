"""ServiceAccount tokens: JWTs (ES256) signed with the cluster's `sa.key`, as Kubernetes'
bound service account tokens (pkg/serviceaccount/claims.go).

Claims: iss, sub (system:serviceaccount:<ns>:<name>), aud, iat, nbf, exp, jti and the
private `kubernetes.io` claim naming the namespace, the ServiceAccount (name, uid) and,
for a bound token, the Pod or Secret it belongs to. `verify` checks the signature, the
issuer, the audience and the time window; that the ServiceAccount (and bound object)
still exist with the same uid is the apiserver's check, against its cache.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from kubelite.auth.user import service_account_username

ISSUER = "https://kubernetes.default.svc.cluster.local"
AUDIENCE = ISSUER  # the apiserver's own audience (--api-audiences defaults to the issuer)
DEFAULT_SECONDS = 3600
MIN_SECONDS = 600  # Kubernetes refuses shorter TokenRequests
MAX_SECONDS = 2**32
LEEWAY = 60  # clock skew accepted on nbf/exp


class TokenError(Exception):
    """Not a valid token (the message says why; it never echoes the token)."""


@dataclass(frozen=True)
class TokenClaims:
    namespace: str
    name: str  # ServiceAccount
    uid: str  # ServiceAccount uid
    audiences: tuple[str, ...]
    expires: int
    bound_kind: str = ""  # Pod | Secret
    bound_name: str = ""
    bound_uid: str = ""

    @property
    def username(self) -> str:
        return service_account_username(self.namespace, self.name)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """Kubernetes' kid: the URL-safe SHA-256 of the DER public key."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _b64(hashlib.sha256(der).digest())


@functools.lru_cache(maxsize=8)
def _signing_kid(key: ec.EllipticCurvePrivateKey) -> str:
    """key_id of a signing key's public half, once per key (a DER export and a SHA-256 at every
    token otherwise; a node asks one per pod it starts)."""
    return key_id(key.public_key())


def load_private(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def load_public(pem: bytes) -> ec.EllipticCurvePublicKey:
    key = serialization.load_pem_public_key(pem)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def issue(key: ec.EllipticCurvePrivateKey, claims: TokenClaims, *, now: float | None = None) -> str:
    iat = int(time.time() if now is None else now)
    private: dict[str, Any] = {"namespace": claims.namespace,
                               "serviceaccount": {"name": claims.name, "uid": claims.uid}}
    if claims.bound_kind:
        private[claims.bound_kind.lower()] = {"name": claims.bound_name, "uid": claims.bound_uid}
    payload = {"iss": ISSUER, "sub": claims.username, "aud": list(claims.audiences), "iat": iat, "nbf": iat,
               "exp": claims.expires, "jti": str(uuid.uuid4()), "kubernetes.io": private}
    header = {"alg": "ES256", "kid": _signing_kid(key), "typ": "JWT"}
    signing_input = f"{_b64(msgspec.json.encode(header))}.{_b64(msgspec.json.encode(payload))}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def verify(key: ec.EllipticCurvePublicKey, token: str, *, audiences: tuple[str, ...] = (AUDIENCE,),
           now: float | None = None) -> TokenClaims:
    """The claims of a valid token; TokenError otherwise (bad form, signature, issuer,
    audience, or outside its time window)."""
    try:
        head, body, sig = token.split(".")
        header = msgspec.json.decode(_unb64(head))
        payload = msgspec.json.decode(_unb64(body))
        raw = _unb64(sig)
    except (ValueError, msgspec.DecodeError) as exc:
        raise TokenError("malformed token") from exc
    if not isinstance(header, dict) or header.get("alg") != "ES256" or len(raw) != 64:
        raise TokenError("unsupported token")
    try:
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        key.verify(der, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise TokenError("invalid signature") from None
    return _claims(payload, audiences, time.time() if now is None else now)


def _claims(payload: Any, audiences: tuple[str, ...], now: float) -> TokenClaims:
    if not isinstance(payload, dict) or payload.get("iss") != ISSUER:
        raise TokenError("wrong issuer")
    aud = payload.get("aud")
    aud = [aud] if isinstance(aud, str) else (aud or [])
    if not set(aud) & set(audiences):
        raise TokenError("token audiences do not match")
    exp, nbf = payload.get("exp"), payload.get("nbf", 0)
    if not isinstance(exp, int) or now > exp + LEEWAY:
        raise TokenError("token has expired")
    if isinstance(nbf, int) and now + LEEWAY < nbf:
        raise TokenError("token is not valid yet")
    k8s = payload.get("kubernetes.io") or {}
    sa = k8s.get("serviceaccount") or {}
    bound = next(((kind, k8s[kind]) for kind in ("pod", "secret") if isinstance(k8s.get(kind), dict)), None)
    claims = TokenClaims(
        namespace=str(k8s.get("namespace") or ""), name=str(sa.get("name") or ""), uid=str(sa.get("uid") or ""),
        audiences=tuple(aud), expires=exp,
        bound_kind=bound[0].capitalize() if bound else "", bound_name=str(bound[1].get("name", "")) if bound else "",
        bound_uid=str(bound[1].get("uid", "")) if bound else "")
    if payload.get("sub") != claims.username or not claims.namespace or not claims.name:
        raise TokenError("malformed service account claims")
    return claims
