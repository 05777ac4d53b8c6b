"""One readable line per bus message, for `kubelite events -f` (pure)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from kubelite.bus.subjects import PREFIX, untoken

JSON = dict[str, Any]
RPC_PREFIX = f"{PREFIX}.api."  # API request-reply traffic: not events, never shown


def is_shown(subject: str) -> bool:
    return subject.startswith(PREFIX + ".") and not subject.startswith(RPC_PREFIX)


class Heartbeats:
    """What `events -f` hides unless asked (--all): the messages that say "still here", not
    "something happened". Lease renewals (node heartbeats, leader election), the node agents'
    metrics reports, the proxies' acknowledgements, node sessions, the per-node copy of every pod
    change, and a Node update that leaves its summary (Ready, terminating) as it was."""

    QUIET = (f"{PREFIX}.changes.leases.", f"{PREFIX}.proxy.")

    def __init__(self) -> None:
        self._nodes: dict[str, str] = {}  # node subject -> last summary shown (without rv)

    def is_heartbeat(self, subject: str, payload: bytes) -> bool:
        if subject.startswith(self.QUIET):
            return True
        tokens = subject.split(".")
        if len(tokens) >= 4 and tokens[1] == "node" and tokens[3] in ("metrics", "pods", "session"):
            return True
        if len(tokens) == 5 and tokens[1] == "changes" and tokens[2] == "nodes":
            body = _decode(payload)
            if not isinstance(body, dict) or not isinstance(body.get("object"), dict):
                return False
            summary = " ".join(w for w in object_summary(body["object"]).split() if not w.startswith("rv="))
            summary += f" {body.get('type')}" if body.get("type") != "MODIFIED" else ""
            if self._nodes.get(subject) == summary:
                return True
            self._nodes[subject] = summary
        return False


def _decode(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return payload.decode(errors="replace")


def object_summary(obj: JSON) -> str:
    """A few words about an object's state, by kind."""
    kind = obj.get("kind")
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    meta = obj.get("metadata") or {}
    parts: list[str] = []
    if kind == "Pod":
        parts.append(st.get("phase") or "Pending")
        if spec.get("nodeName"):
            parts.append(f"on {spec['nodeName']}")
        if st.get("podIP"):
            parts.append(f"ip={st['podIP']}")
    elif kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        parts.append(f"ready {st.get('readyReplicas', 0)}/{spec.get('replicas', 1)}")
    elif kind == "Node":
        ready = next((c.get("status") for c in st.get("conditions") or []
                      if c.get("type") == "Ready"), "Unknown")
        parts.append(f"Ready={ready}")
    elif kind == "Event":
        parts.append(f"{obj.get('reason', '')}: {obj.get('message', '')}")
    if meta.get("deletionTimestamp"):
        parts.append("terminating")
    if meta.get("resourceVersion"):
        parts.append(f"rv={meta['resourceVersion']}")
    return " ".join(parts)


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _ref(ns_tok: str, name_tok: str) -> str:
    ns, name = untoken(ns_tok), untoken(name_tok)
    return f"{ns}/{name}" if ns else name


def _decision_summary(body: Any) -> tuple[str, str]:
    if not isinstance(body, dict):
        return "DECISION", _short(body)
    etype = str(body.get("type") or body.get("action") or body.get("decision") or "DECISION")
    text = body.get("message") or body.get("reason") or body.get("summary")
    return etype, _short(text if text else {k: v for k, v in body.items() if k != "type"})


def format_message(subject: str, payload: bytes, when: datetime) -> str:
    """'02:31:05  pods default/web-1  MODIFIED  Running on node-1 rv=12'."""
    stamp = when.strftime("%H:%M:%S")
    tokens = subject.split(".")
    body = _decode(payload)
    if len(tokens) == 5 and tokens[1] == "changes":
        what = f"{tokens[2]} {_ref(tokens[3], tokens[4])}"
        if isinstance(body, dict) and isinstance(body.get("object"), dict):
            return f"{stamp}  {what}  {body.get('type', '?')}  {object_summary(body['object'])}"
        return f"{stamp}  {what}  CHANGE  {_short(body)}"
    if len(tokens) == 4 and tokens[1] == "node" and tokens[3] == "pods":
        node = untoken(tokens[2])
        if isinstance(body, dict) and isinstance(body.get("object"), dict):
            meta = body["object"].get("metadata") or {}
            ref = _ref(meta.get("namespace") or "-", meta.get("name") or "-")
            return (f"{stamp}  node/{node} pod {ref}  {body.get('type', '?')}  "
                    f"{object_summary(body['object'])}")
        return f"{stamp}  node/{node} pods  -  {_short(body)}"
    if len(tokens) == 5 and tokens[1] == "decisions":
        etype, summary = _decision_summary(body)
        return f"{stamp}  {tokens[2]} {_ref(tokens[3], tokens[4])}  {etype}  {summary}"
    return f"{stamp}  {subject}  -  {_short(body)}"
