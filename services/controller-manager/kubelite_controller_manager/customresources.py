"""The controller-manager's view of CustomResourceDefinitions: each established CRD's resources are
installed in this process's scheme (kubelite.api.crd.registration), so the namespace controller
deletes custom objects with their namespace and the garbage collector follows owner references to
and from them; controllers that care are told about each new resource."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kubelite import codec
from kubelite.api.apiextensions_v1 import CUSTOMRESOURCEDEFINITIONS
from kubelite.api.crd import registration
from kubelite.api.scheme import ResourceInfo

log = logging.getLogger(__name__)


def established(crd: Any) -> bool:
    return any(c.type == "Established" and c.status == "True"
               for c in ((crd.status.conditions if crd.status else None) or ()))


class CustomResources:
    def __init__(self, informers: Any) -> None:
        self.crds = informers.get(CUSTOMRESOURCEDEFINITIONS)
        self._listeners: list[Callable[[ResourceInfo], None]] = []
        self.crds.add_handler(on_add=self._install, on_update=lambda _old, new: self._install(new),
                              on_delete=lambda crd: registration.uninstall(crd.metadata.name or ""))

    def subscribe(self, listener: Callable[[ResourceInfo], None]) -> None:
        """Call `listener(info)` for every custom resource installed from now on (and the ones already are)."""
        self._listeners.append(listener)
        for crd in self.crds.list():
            custom = registration.installed(crd.metadata.name or "")
            if custom is not None:
                listener(custom.info)

    async def start(self) -> None:
        self.crds.start()
        await self.crds.wait_synced()

    def _install(self, crd: Any) -> None:
        if not established(crd) or crd.metadata.deletionTimestamp:
            return
        before = registration.installed(crd.metadata.name or "")
        try:
            custom = registration.install(codec.to_builtins(crd))
        except Exception:
            log.exception("cannot install CRD %s", crd.metadata.name)
            return
        if custom is before:
            return  # a status write (install compares the spec): nothing served changed
        for listener in self._listeners:
            listener(custom.info)
