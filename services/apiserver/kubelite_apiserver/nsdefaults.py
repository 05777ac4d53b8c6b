"""What a new namespace gets at once, written by the apiserver right after the namespace:
its `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap (the cluster CA, which
pods' projected token volumes carry as ca.crt).

Kubernetes leaves both to controllers (serviceaccount, root-ca-cert-publisher), so a pod
created a moment after its namespace is refused ("error looking up service account").
kubelite writes them with the namespace, and the controller-manager's controllers
still repair them if they are deleted or changed (docs/security.md).
"""

from __future__ import annotations

import logging
from typing import Any

from kubelite import errors
from kubelite.api.scheme import by_kind
from kubelite.api.serviceaccounts import default_service_account, root_ca_configmap

log = logging.getLogger("kubelite.apiserver.nsdefaults")


class NamespaceDefaults:
    def __init__(self, reg: Any, *, root_ca_pem: str) -> None:
        self.reg = reg
        self.root_ca_pem = root_ca_pem
        self.accounts = by_kind("v1", "ServiceAccount")
        self.configmaps = by_kind("v1", "ConfigMap")

    def objects(self, namespace: str) -> list[tuple[Any, Any]]:
        out: list[tuple[Any, Any]] = [(self.accounts, default_service_account(namespace))]
        if self.root_ca_pem:
            out.append((self.configmaps, root_ca_configmap(namespace, self.root_ca_pem)))
        return out

    async def __call__(self, info: Any, obj: Any) -> None:
        """After a Namespace is created: its defaults (an existing one is left as it is)."""
        if info.kind == "Namespace":
            await self.ensure(obj.metadata.name or "")

    async def ensure(self, namespace: str) -> None:
        for res, obj in self.objects(namespace):
            try:
                await self.reg.create(res, namespace, obj)
            except errors.APIError as exc:
                if exc.code != 409:  # 409: already there (another replica, or a restart)
                    log.warning("namespace %s: could not create %s: %s", namespace, res.plural, exc)
