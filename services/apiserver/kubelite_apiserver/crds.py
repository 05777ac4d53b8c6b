"""CustomResourceDefinitions in the apiserver: what apiextensions-apiserver's controllers do.

Every apiserver watches the CRDs in etcd and installs each one's resources in its scheme the
moment it sees it (kubelite.api.crd.registration), so any replica serves them; a CRD this
apiserver creates is installed before the create returns. The reconcile loop then:
- names: if another resource already uses the plural, NamesAccepted=False and nothing is served;
- status: acceptedNames, storedVersions, and the conditions NamesAccepted and Established;
- deletion: a CRD being deleted is Terminating; its objects are deleted (their own finalizers
  honoured, so this may take several passes), then the customresourcecleanup finalizer is lifted,
  the CRD goes and its resources are no longer served.
Every replica may reconcile; the writes are compare-and-swap, and a repeat is a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kubelite import codec
from kubelite.api.apiextensions_v1 import CUSTOMRESOURCEDEFINITIONS, CustomResourceDefinition
from kubelite.api.crd import registration
from kubelite.api.defaults import CRD_CLEANUP
from kubelite.api.scheme import by_plural
from kubelite.errors import APIError
from kubelite.reconcile.controller import Controller
from kubelite.reconcile.informer import Informer
from kubelite.timefmt import rfc3339
from kubelite_apiserver.params import ListOptions

log = logging.getLogger("kubelite.apiserver.crds")
CLEANUP_RETRY_SECONDS = 1.0


def _condition(type_: str, status: str, reason: str, message: str, now: str) -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": now}


def desired_status(crd: dict[str, Any], conflict: str, now: str) -> dict[str, Any]:
    """The status a CRD should have (pure): accepted names unless `conflict`, and the stored versions."""
    spec, status = crd["spec"], dict(crd.get("status") or {})
    old = {c["type"]: c for c in status.get("conditions") or []}
    if conflict:
        wanted = [_condition("NamesAccepted", "False", "NameConflict", conflict, now),
                  _condition("Established", "False", "NotAccepted", "not all names are accepted", now)]
    else:
        wanted = [_condition("NamesAccepted", "True", "NoConflicts", "no conflicts found", now),
                  _condition("Established", "True", "InitialNamesAccepted", "the initial names have been accepted", now)]
        status["acceptedNames"] = spec["names"]
    if (crd.get("metadata") or {}).get("deletionTimestamp"):
        wanted.append(_condition("Terminating", "True", "InstanceDeletionInProgress",
                                 "CustomResource deletion is in progress", now))
    conditions = []
    for c in wanted:  # keep the transition time of a condition whose status did not change
        prev = old.get(c["type"])
        conditions.append({**c, "lastTransitionTime": prev["lastTransitionTime"]}
                          if prev and prev.get("status") == c["status"] and prev.get("lastTransitionTime") else c)
    status["conditions"] = conditions
    storage = registration.storage_version(crd)
    stored = list(status.get("storedVersions") or [])
    if storage and storage not in stored:
        stored.append(storage)
    status["storedVersions"] = stored
    return status


class CRDController(Controller):
    name = "customresourcedefinitions"

    def __init__(self, reg: Any, store: Any, *, on_change: Callable[[], None] = lambda: None) -> None:
        super().__init__()
        self.reg = reg
        self.on_change = on_change  # e.g. drop cached OpenAPI documents
        self.crds = Informer(store, CUSTOMRESOURCEDEFINITIONS, resync_seconds=60)
        self.crds.add_handler(on_add=self.install, on_update=lambda _old, new: self.install(new),
                              on_delete=self.forget)
        self.watch(self.crds, lambda crd: crd.metadata.name)

    # -- immediate: what this process serves ------------------------------------------------
    def install(self, crd: CustomResourceDefinition) -> None:
        """Serve the CRD's resources now (unless its plural belongs to someone else)."""
        doc = codec.to_builtins(crd)
        if self.conflict(doc):
            return
        before = registration.installed(crd.metadata.name or "")
        try:
            custom = registration.install(doc)
        except Exception:  # a CRD validation let through must not stop the informer
            log.exception("cannot serve CRD %s", crd.metadata.name)
            return
        if custom is not before:  # a status write changes nothing served: the documents stay
            self.on_change()

    def forget(self, crd: CustomResourceDefinition) -> None:
        registration.uninstall(crd.metadata.name or "")
        self.on_change()

    def conflict(self, crd: dict[str, Any]) -> str:
        spec = crd["spec"]
        info = by_plural(spec["group"], spec["names"]["plural"])
        mine = registration.installed(crd["metadata"]["name"])
        if info is not None and (mine is None or mine.info is not info):
            return f"\"{spec['names']['plural']}\" is already in use"
        return ""

    async def after_create(self, info: Any, obj: Any) -> None:
        """Registry hook: a CRD this apiserver stored is served before its create returns."""
        if info is CUSTOMRESOURCEDEFINITIONS:
            self.install(obj)

    # -- reconcile: status and deletion -------------------------------------------------------
    async def reconcile(self, key: Any) -> None:
        crd = self.crds.get("", key)
        if crd is None:
            registration.uninstall(key)
            return
        doc = codec.to_builtins(crd)
        if crd.metadata.deletionTimestamp:
            await self._write_status(crd, doc, "")
            await self._clean_up(crd, doc)
            return
        await self._write_status(crd, doc, self.conflict(doc))

    async def _write_status(self, crd: CustomResourceDefinition, doc: dict[str, Any], conflict: str) -> None:
        status = desired_status(doc, conflict, rfc3339())
        if status == (doc.get("status") or {}):
            return
        new = codec.convert({**doc, "status": status}, CustomResourceDefinition)
        try:
            await self.reg.update(CUSTOMRESOURCEDEFINITIONS, "", crd.metadata.name, new, subresource="status")
        except APIError as exc:
            if exc.code not in (404, 409):
                raise
            self.queue.add(crd.metadata.name)  # changed meanwhile: look again

    async def _clean_up(self, crd: CustomResourceDefinition, doc: dict[str, Any]) -> None:
        """Delete every object of the CRD; once none is left, lift the finalizer."""
        custom = registration.installed(crd.metadata.name or "")
        if custom is not None:
            info = custom.info
            listed = (await self.reg.list(info, "", ListOptions())).items
            decode = codec.decoder_for(info.type).decode
            for raw in listed:
                obj = decode(raw)
                if obj.metadata.deletionTimestamp:
                    continue
                try:
                    await self.reg.delete(info, obj.metadata.namespace or "", obj.metadata.name or "")
                except APIError as exc:
                    if exc.code != 404:
                        raise
            if listed:
                self.queue.add_after(crd.metadata.name, CLEANUP_RETRY_SECONDS)
                return
        finalizers = [f for f in crd.metadata.finalizers or [] if f != CRD_CLEANUP]
        if finalizers == (crd.metadata.finalizers or []):
            return
        new = codec.convert({**doc, "metadata": {**doc["metadata"], "finalizers": finalizers or None}},
                            CustomResourceDefinition)
        try:
            await self.reg.update(CUSTOMRESOURCEDEFINITIONS, "", crd.metadata.name, new)
        except APIError as exc:
            if exc.code not in (404, 409):
                raise
            self.queue.add(crd.metadata.name)
