"""The root CA publisher (Kubernetes' pkg/controller/certificates/rootcacertpublisher):
every active namespace has the ConfigMap `kube-root-ca.crt` whose `ca.crt` is the cluster
CA (`--root-ca-file`, or `cluster-ca.crt` in `--pki-dir`), so a pod's projected token
volume can carry it. A deleted or edited one is put back.

Keys are namespace names: a namespace change, or any change of a `kube-root-ca.crt`,
queues its namespace; the reconcile creates or corrects the ConfigMap.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kubelite.api.core_v1 import CONFIGMAPS, NAMESPACES, ConfigMap
from kubelite.api.serviceaccounts import ROOT_CA_CONFIGMAP, root_ca_configmap
from kubelite.errors import APIError
from kubelite.reconcile.controller import Controller

log = logging.getLogger(__name__)



class RootCACertPublisher(Controller):
    name = "root-ca-cert-publisher"

    def __init__(self, informers: Any, api: Any, *, ca_pem: str, workers: int = 2) -> None:
        super().__init__(workers=workers, name=self.name)
        self.api = api
        self.ca_pem = ca_pem
        self.namespaces = informers.get(NAMESPACES)
        self.configmaps = informers.get(CONFIGMAPS)
        self.watch(self.namespaces, key_fn=lambda ns: ns.metadata.name)
        requeue = self._configmap_changed
        self.configmaps.add_handler(on_add=requeue, on_update=lambda _old, new: requeue(new), on_delete=requeue)
        self.informers.append(self.configmaps)

    def _configmap_changed(self, cm: ConfigMap) -> None:
        if cm.metadata.name == ROOT_CA_CONFIGMAP:
            self.queue.add(cm.metadata.namespace or "")

    async def reconcile(self, key: Any) -> None:
        ns = self.namespaces.get("", key)
        if ns is None or ns.metadata.deletionTimestamp or (ns.status and ns.status.phase == "Terminating"):
            return
        current = self.configmaps.get(key, ROOT_CA_CONFIGMAP)
        if current is not None and (current.data or {}).get("ca.crt") == self.ca_pem:
            return
        try:
            if current is None:
                await self.api.create(root_ca_configmap(key, self.ca_pem))
            else:
                current.data = {**(current.data or {}), "ca.crt": self.ca_pem}
                await self.api.update(current)
            log.info("published %s in %s", ROOT_CA_CONFIGMAP, key)
        except APIError as exc:
            if exc.code in (403, 404, 409):  # namespace going away, or a concurrent write: the next event retries
                return
            raise


def new_controller(ctx: Any) -> RootCACertPublisher | None:
    path = ctx.options.root_ca_file or (str(Path(ctx.options.pki_dir) / "cluster-ca.crt") if ctx.options.pki_dir
                                        else "")
    if not path or not Path(path).is_file():
        log.warning("root-ca-cert-publisher is off: no --root-ca-file (or --pki-dir with cluster-ca.crt)")
        return None
    return RootCACertPublisher(ctx.informers, ctx.api, ca_pem=Path(path).read_text())
