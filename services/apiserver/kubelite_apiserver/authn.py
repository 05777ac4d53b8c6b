"""Authentication: who is asking, from the TLS client certificate or a bearer token.

Order as Kubernetes': a verified x509 client certificate (CN user, O groups), then
a bearer token: a ServiceAccount JWT (kubelite.auth.tokens, checked against the
ServiceAccount and bound object that still exist) or a token from --token-auth-file
(CSV: token,user,uid,"group1,group2"); then, with --anonymous-auth (the default),
system:anonymous in system:unauthenticated.
A bearer token that matches nothing is a 401, never anonymous. Every authenticated
user is also in system:authenticated.
"""

from __future__ import annotations

import csv
import hmac
from pathlib import Path
from typing import Any

from kubelite.auth.tokens import looks_like_jwt
from kubelite.auth.user import AUTHENTICATED, UserInfo, anonymous
from kubelite.errors import APIError

UNAUTHORIZED = APIError(401, "Unauthorized", "Unauthorized")


def load_token_file(path: str | Path) -> dict[str, UserInfo]:
    """Kubernetes' static token file: one `token,user,uid[,"g1,g2"]` per line."""
    tokens: dict[str, UserInfo] = {}
    with open(path, newline="") as f:
        for n, row in enumerate(csv.reader(f), 1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) < 3 or not row[0] or not row[1]:
                raise ValueError(f"{path}:{n}: want token,user,uid[,groups]")
            groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
            tokens[row[0]] = UserInfo(row[1], groups, row[2])
    return tokens


def _with_authenticated(user: UserInfo) -> UserInfo:
    if AUTHENTICATED in user.groups:
        return user
    return UserInfo(user.name, (*user.groups, AUTHENTICATED), user.uid, user.extra)


class Authenticator:
    def __init__(self, *, tokens: dict[str, UserInfo] | None = None, anonymous_auth: bool = True,
                 service_accounts: Any = None) -> None:
        self.tokens = tokens or {}
        self.anonymous_auth = anonymous_auth
        self.service_accounts = service_accounts  # a ServiceAccountTokens, or None

    async def authenticate(self, scope: dict[str, Any]) -> UserInfo:
        """The request's user; raises the 401 Status for a bad or missing credential."""
        identity = ((scope.get("extensions") or {}).get("tls") or {}).get("client_identity")
        if identity is not None and identity[0]:
            return _with_authenticated(UserInfo(identity[0], identity[1]))
        token = _bearer(scope)
        if token is not None:
            return _with_authenticated(await self.token_user(token))
        if self.anonymous_auth:
            return anonymous()
        raise UNAUTHORIZED

    async def token_user(self, token: str) -> UserInfo:
        """Whose bearer token this is (also TokenReview's question); 401 when nobody's."""
        if self.service_accounts is not None and looks_like_jwt(token):
            user = await self.service_accounts.user(token)
            if user is not None:
                return user
        for known, user in self.tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):  # constant time per candidate
                return user
        raise UNAUTHORIZED


def _bearer(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            if kind.lower() == "bearer" and token.strip():
                return token.strip()
            return ""  # a malformed Authorization header is a bad credential, not anonymous
    return None
