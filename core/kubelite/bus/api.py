"""The API over NATS: request-reply on kubelite.api.<kind>.<name>.<verb>.<plural>.

The first two tokens name the caller (kubelite.bus.identity builds and parses them);
NATS lets each certificate publish only under its own, so the apiserver authorizes
each request as that caller, as it would over HTTPS.

Node components (which hold no etcd credentials) and controllers write through
this; every apiserver replica serves it in the queue group `QUEUE`, so each
request is answered by exactly one. The answer's body is byte-for-byte what
HTTP would have answered (a Kubernetes Status on errors).
"""

from __future__ import annotations

from typing import Any

import msgspec

from kubelite.bus.subjects import PREFIX

QUEUE = "kubelite-apiserver"

# Short names the clients take for `patch_type` -> the request's content type.
PATCH_CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
ALL = f"{PREFIX}.api.>"


class APIRequest(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A resource request: the same shape on HTTP (built by the apiserver) and on NATS."""

    verb: str
    resource: str
    group: str = ""
    version: str = "v1"
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    params: dict[str, str] = {}
    # The request body as JSON (absent for get/list/delete). Raw keeps it undecoded.
    body: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    contentType: str = "application/json"
    # HTTP only: the default field manager is the User-Agent's product name.
    userAgent: str = ""


def body_bytes(req: APIRequest) -> bytes:
    return b"" if isinstance(req.body, msgspec.UnsetType) else bytes(req.body)


class APIResponse(msgspec.Struct, kw_only=True):
    """The reply: the HTTP status code and the body HTTP would have sent."""

    code: int
    body: msgspec.Raw


_encoder = msgspec.json.Encoder()
request_decoder = msgspec.json.Decoder(APIRequest)
response_decoder = msgspec.json.Decoder(APIResponse)


def encode_request(req: APIRequest) -> bytes:
    return _encoder.encode(req)


def encode_response(code: int, body: bytes) -> bytes:
    return _encoder.encode(APIResponse(code=code, body=msgspec.Raw(body)))


def raw_body(body: Any, encode: Any) -> msgspec.Raw | msgspec.UnsetType:
    """A request body as Raw JSON: bytes as they are, anything else through `encode`."""
    if body is None:
        return msgspec.UNSET
    return msgspec.Raw(bytes(body) if isinstance(body, bytes | bytearray) else encode(body))
