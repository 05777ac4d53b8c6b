"""ServiceAccount tokens for the pods on this node: requested through the API
(`serviceaccounts/<name>/token`, bound to the pod, so they die with it) and refreshed
as the kubelet does, once 80 % of their lifetime has passed.

Example: a token of 3607 s fetched at t=0 is used until t=2886 (80 %), then replaced;
the pod's projected volume is rewritten in place, so a client that re-reads its token
file (as the official clients do) never holds an expired one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec

from kubelite.api.core_v1 import Pod
from kubelite.api.scheme import by_kind
from kubelite_nodeagent.projected import token_keys

REFRESH_AT = 0.8  # of a token's lifetime


class _Issued(msgspec.Struct):
    token: bytes
    refresh_at: float


class _Answer(msgspec.Struct):
    status: dict[str, Any] = {}


def refresh_time(issued_at: float, seconds: int) -> float:
    """When a token issued at `issued_at` for `seconds` is replaced: 3607 s at 0 -> 2885.6."""
    return issued_at + REFRESH_AT * seconds


class PodTokens:
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._issued: dict[tuple[str, str, int], _Issued] = {}  # (pod uid, audience, seconds)
        self._accounts = by_kind("v1", "ServiceAccount")

    def due(self, pod: Pod) -> bool:
        """Some token of the pod is missing or past its refresh time."""
        uid, now = pod.metadata.uid or "", self.clock()
        return any((issued := self._issued.get((uid, *key))) is None or now >= issued.refresh_at
                   for key in token_keys(pod))

    def next_refresh(self, pod: Pod) -> float | None:
        uid = pod.metadata.uid or ""
        times = [i.refresh_at for key in token_keys(pod) if (i := self._issued.get((uid, *key))) is not None]
        return min(times) if times else None

    async def tokens(self, api: Any, pod: Pod) -> dict[tuple[str, int], bytes]:
        """Every token the pod's volumes need, fetching the missing and the due ones (APIError
        when the apiserver refuses: no such ServiceAccount, the pod is gone, ...)."""
        uid = pod.metadata.uid or ""
        out: dict[tuple[str, int], bytes] = {}
        for key in token_keys(pod):
            issued = self._issued.get((uid, *key))
            if issued is None or self.clock() >= issued.refresh_at:
                issued = await self._request(api, pod, *key)
                self._issued[(uid, *key)] = issued
            out[key] = issued.token
        return out

    async def _request(self, api: Any, pod: Pod, audience: str, seconds: int) -> _Issued:
        meta, spec = pod.metadata, pod.spec
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"expirationSeconds": seconds, **({"audiences": [audience]} if audience else {}),
                         "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": meta.name, "uid": meta.uid}}}
        issued_at = self.clock()
        _, raw = await api.call("create", self._accounts, namespace=meta.namespace or "",
                                name=(spec.serviceAccountName if spec else None) or "default",
                                subresource="token", body=body)
        token = str(msgspec.json.decode(raw, type=_Answer).status.get("token", ""))
        return _Issued(token.encode(), refresh_time(issued_at, seconds))

    def forget(self, uid: str) -> None:
        for key in [k for k in self._issued if k[0] == uid]:
            del self._issued[key]
