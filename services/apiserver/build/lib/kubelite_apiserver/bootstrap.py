"""Objects that exist from the start: namespaces default, kube-system, kube-public, kube-node-lease."""

from __future__ import annotations

import logging

from kubelite import errors
from kubelite.api.scheme import by_kind
from kubelite_apiserver.registry import Registry

log = logging.getLogger("kubelite.apiserver")

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


async def ensure_system_namespaces(reg: Registry) -> None:
    info = by_kind("v1", "Namespace")
    for name in SYSTEM_NAMESPACES:
        if await reg.store.get(info.key(None, name)) is not None:
            continue
        obj = _namespace(info, name)
        try:
            await reg.create(info, "", obj)
            log.info("created namespace %s", name)
        except errors.APIError as exc:
            if exc.code != 409:  # another replica made it first
                raise


def _namespace(info, name: str):
    from kubelite import codec

    return codec.convert({"metadata": {"name": name}}, info.type)
