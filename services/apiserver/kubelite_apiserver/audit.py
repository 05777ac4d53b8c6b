"""The audit log: one JSON line per request, Kubernetes' audit.k8s.io/v1 Event at the
Metadata level (who, what, on which object, the answer's code, when) — never a body,
so no Secret value can reach it. On with --audit-log-path."""

from __future__ import annotations

import time
import uuid
from typing import IO, Any

import msgspec

from kubelite.auth.user import UserInfo
from kubelite.timefmt import micro_time


class ObjectRef(msgspec.Struct, omit_defaults=True):
    resource: str = ""
    namespace: str = ""
    name: str = ""
    apiGroup: str = ""
    apiVersion: str = ""
    subresource: str = ""


class UserRef(msgspec.Struct, omit_defaults=True):
    username: str
    groups: list[str] = []


class ResponseStatus(msgspec.Struct):
    code: int


class AuditEvent(msgspec.Struct, omit_defaults=True):
    kind: str
    apiVersion: str
    level: str
    auditID: str
    stage: str
    requestURI: str
    verb: str
    user: UserRef
    sourceIPs: list[str]
    userAgent: str
    responseStatus: ResponseStatus
    requestReceivedTimestamp: str
    stageTimestamp: str
    objectRef: ObjectRef | None = None
    latencySeconds: float = 0.0  # kubelite's addition: the time to answer


class AuditLog:
    def __init__(self, path: str) -> None:
        self._file: IO[bytes] = open(path, "ab", buffering=0)
        self._encoder = msgspec.json.Encoder()

    def record(self, scope: dict[str, Any], info: Any, user: UserInfo | None, code: int, started: float) -> None:
        now = time.time()
        query = scope.get("query_string", b"").decode("latin-1")
        uri = scope.get("path", "") + (f"?{query}" if query else "")
        client = scope.get("client") or ("", 0)
        agent = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"user-agent"), "")
        who = user or UserInfo("", ())
        ref = None
        if info is not None and info.is_resource:
            ref = ObjectRef(info.resource, info.namespace, info.name, info.group, info.version, info.subresource)
        event = AuditEvent(
            kind="Event", apiVersion="audit.k8s.io/v1", level="Metadata", auditID=str(uuid.uuid4()),
            stage="ResponseComplete", requestURI=uri, verb=info.verb if info is not None else "",
            user=UserRef(who.name, list(who.groups)), sourceIPs=[client[0]] if client[0] else [],
            userAgent=agent, responseStatus=ResponseStatus(code), objectRef=ref,
            requestReceivedTimestamp=micro_time(started), stageTimestamp=micro_time(now),
            latencySeconds=round(now - started, 6),
        )
        self._file.write(self._encoder.encode(event) + b"\n")

    def close(self) -> None:
        self._file.close()
