"""ServiceAccount tokens at the apiserver: issuing them (the serviceaccounts/token
subresource, `kubectl create token`) and recognising them on requests.

A token is good while its signature, issuer, audience and time window hold
(kubelite.auth.tokens) and the ServiceAccount it names still exists with the same
uid (from an informer cache), and, for a token bound to a Pod or Secret, that object
too (read from etcd: bound tokens are rarer and must die with their pod).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from kubelite import codec, errors
from kubelite.api.core_v1 import PODS
from kubelite.api.meta import ObjectMeta
from kubelite.api.scheme import by_kind
from kubelite.api.serviceaccounts import SERVICE_ACCOUNTS, TokenRequest, TokenRequestStatus
from kubelite.auth import tokens
from kubelite.auth.user import UserInfo, service_account_user
from kubelite.reconcile.informer import Informer
from kubelite.timefmt import rfc3339
from kubelite_apiserver import noderestriction

log = logging.getLogger("kubelite.apiserver.satokens")

BOUND_KINDS = ("Pod", "Secret")


def is_token_request(resource: str, subresource: str, verb: str) -> bool:
    """POST .../serviceaccounts/NAME/token: answered here, never stored."""
    return (resource, subresource, verb) == ("serviceaccounts", "token", "create")


async def serve_token_request(tokens: ServiceAccountTokens | None, namespace: str, name: str, body: bytes,
                              content_type: str) -> tuple[int, bytes]:
    if tokens is None:
        raise errors.service_unavailable("ServiceAccount tokens are not configured")
    return await tokens.request(namespace, name, body, content_type)


class ServiceAccountTokens:
    def __init__(self, store: Any, reg: Any, *, signing_key: Path | None, public_key: Path) -> None:
        self.reg = reg
        self.public = tokens.load_public(public_key.read_bytes())
        self.private = tokens.load_private(signing_key.read_bytes()) if signing_key else None
        self.accounts = Informer(store, SERVICE_ACCOUNTS)

    async def start(self) -> None:
        self.accounts.start()
        await self.accounts.wait_synced()

    async def stop(self) -> None:
        await self.accounts.stop()

    # ---- recognising ------------------------------------------------------------------
    async def user(self, token: str) -> UserInfo | None:
        try:
            claims = tokens.verify(self.public, token)
        except tokens.TokenError as exc:
            log.debug("service account token refused: %s", exc)
            return None
        sa = self.accounts.get(claims.namespace, claims.name)
        if sa is None or sa.metadata.uid != claims.uid:
            return None  # deleted (or deleted and re-created): its tokens die with it
        if claims.bound_kind and not await self._bound_alive(claims):
            return None
        return service_account_user(claims.namespace, claims.name, claims.uid)

    async def _bound_alive(self, claims: tokens.TokenClaims) -> bool:
        info = by_kind("v1", claims.bound_kind)
        try:
            obj = await self.reg.get(info, claims.namespace, claims.bound_name)
        except errors.APIError:
            return False
        return obj.metadata.uid == claims.bound_uid and obj.metadata.deletionTimestamp is None

    # ---- issuing: POST .../serviceaccounts/NAME/token ----------------------------------
    async def request(self, namespace: str, name: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        if self.private is None:
            raise errors.service_unavailable("this apiserver has no --service-account-signing-key-file")
        req = codec.decode_body(body, content_type, TokenRequest) if body else TokenRequest()
        # the informer's copy first, as kube-apiserver's token getter reads its listers first
        sa = self.accounts.get(namespace, name) or await self.reg.get(SERVICE_ACCOUNTS, namespace, name)  # 404
        spec = req.spec
        seconds = (spec.expirationSeconds if spec and spec.expirationSeconds is not None
                   else tokens.DEFAULT_SECONDS)
        if seconds < tokens.MIN_SECONDS:
            raise errors.invalid_object("TokenRequest", name, [errors.invalid(
                "spec.expirationSeconds", seconds, f"may not specify a duration less than {tokens.MIN_SECONDS // 60} "
                "minutes")], "authentication.k8s.io")
        audiences = tuple(spec.audiences) if spec and spec.audiences else (tokens.AUDIENCE,)
        bound = await self._bound(namespace, spec.boundObjectRef if spec else None)
        expires = int(time.time()) + seconds
        claims = tokens.TokenClaims(namespace, name, sa.metadata.uid or "", audiences, expires, *bound)
        req.apiVersion, req.kind = "authentication.k8s.io/v1", "TokenRequest"
        req.metadata = ObjectMeta(name=name, namespace=namespace, creationTimestamp=rfc3339())
        req.status = TokenRequestStatus(token=tokens.issue(self.private, claims),
                                        expirationTimestamp=rfc3339(expires))
        return 201, codec.encode(req)

    async def _bound(self, namespace: str, ref: Any) -> tuple[str, str, str]:
        if ref is None or not ref.kind:
            noderestriction.on_token_request("", None)
            return "", "", ""
        if ref.kind not in BOUND_KINDS:
            raise errors.invalid_object("TokenRequest", ref.name or "", [errors.not_supported(
                "spec.boundObjectRef.kind", ref.kind, list(BOUND_KINDS))], "authentication.k8s.io")
        obj = self._cached_pod(namespace, ref.name or "", ref.uid or "") if ref.kind == "Pod" else None
        if obj is None:
            obj = await self.reg.get(by_kind("v1", ref.kind), namespace, ref.name or "")
        if ref.uid and ref.uid != obj.metadata.uid:
            raise errors.conflict(f"{ref.kind.lower()}s", ref.name or "", "the bound object's uid does not match")
        noderestriction.on_token_request(ref.kind, obj)
        return ref.kind, ref.name or "", obj.metadata.uid or ""

    def _cached_pod(self, namespace: str, name: str, uid: str) -> Any | None:
        """The bound pod from the apiserver's pod cache when its copy already grants the request
        (the uid asked for and, for a node, bound to that node); else None, and etcd decides.
        A node agent asks for a token for each pod it starts: two etcd reads (the pod and the
        ServiceAccount) per pod start, saved when the caches answer."""
        cache = self.reg.caches.get(PODS.group_resource)
        if cache is None or not cache.informer.has_synced:
            return None
        record = cache.latest(namespace, name)  # with its own latest write (a binding just made)
        if record is None or (uid and uid != record.metadata.uid) or not noderestriction.token_allowed("Pod", record):
            return None
        return record
