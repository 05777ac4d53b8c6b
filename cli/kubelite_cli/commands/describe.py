"""`kubelite describe RESOURCE NAME...`: readable sections plus the object's Events."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from kubelite.api.scheme import ResourceInfo
from kubelite.errors import APIError
from kubelite_cli.describe_fmt import describe_text
from kubelite_cli.session import Session

JSON = dict[str, Any]


def events_for(session: Session, obj: JSON, info: ResourceInfo) -> list[JSON]:
    """Events whose involvedObject is `obj` (server-side field selector, client-side fallback)."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace") or None
    selector = f"involvedObject.name={meta.get('name')},involvedObject.kind={info.kind}"
    if ns:
        selector += f",involvedObject.namespace={ns}"
    try:
        items = session.api.list("events", ns, field_selector=selector).get("items") or []
    except APIError as exc:
        if exc.code != 400:  # a server without these field selectors: filter here
            raise
        items = session.api.list("events", ns).get("items") or []
    uid = meta.get("uid")

    def matches(event: JSON) -> bool:
        inv = event.get("involvedObject") or {}
        if uid and inv.get("uid") and inv.get("uid") != uid:
            return False
        return inv.get("name") == meta.get("name") and inv.get("kind") == info.kind

    return [e for e in items if matches(e)]


def run(args: argparse.Namespace) -> int:
    session = Session.from_args(args)
    try:
        info = session.resource(args.resource)
        ns = session.namespace if info.namespaced else None
        texts = []
        for name in args.names:
            obj = session.api.get(info, ns, name)
            obj.setdefault("kind", info.kind)
            texts.append(describe_text(obj, events_for(session, obj, info), datetime.now(UTC)))
        print("\n\n".join(texts), flush=True)
    finally:
        session.close()
    return 0
