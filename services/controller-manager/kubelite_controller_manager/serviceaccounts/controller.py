"""The ServiceAccounts controller (Kubernetes' pkg/controller/serviceaccount): every
active namespace has a ServiceAccount named `default`; deleting it brings it back.

Keys are namespace names: a namespace change, or a deleted `default` account, queues
its namespace; the reconcile creates the account when the namespace is Active and
has none (AlreadyExists from a race is success).
"""

from __future__ import annotations

import logging
from typing import Any

from kubelite.api.core_v1 import NAMESPACES
from kubelite.api.serviceaccounts import (
    DEFAULT_ACCOUNT,
    SERVICE_ACCOUNTS,
    ServiceAccount,
    default_service_account,
)
from kubelite.errors import APIError
from kubelite.reconcile.controller import Controller

log = logging.getLogger(__name__)



class ServiceAccountsController(Controller):
    name = "serviceaccount"

    def __init__(self, informers: Any, api: Any, *, workers: int = 2) -> None:
        super().__init__(workers=workers, name="serviceaccount")
        self.api = api
        self.namespaces = informers.get(NAMESPACES)
        self.accounts = informers.get(SERVICE_ACCOUNTS)
        self.watch(self.namespaces, key_fn=lambda ns: ns.metadata.name)
        self.accounts.add_handler(on_delete=self._account_deleted)
        self.informers.append(self.accounts)

    def _account_deleted(self, sa: ServiceAccount) -> None:
        if sa.metadata.name == DEFAULT_ACCOUNT:
            self.queue.add(sa.metadata.namespace or "")

    async def reconcile(self, key: Any) -> None:
        ns = self.namespaces.get("", key)
        if ns is None or ns.metadata.deletionTimestamp or (ns.status and ns.status.phase == "Terminating"):
            return
        if self.accounts.get(key, DEFAULT_ACCOUNT) is not None:
            return
        sa = default_service_account(key)
        try:
            await self.api.create(sa)
            log.info("created serviceaccount %s/%s", key, DEFAULT_ACCOUNT)
        except APIError as exc:
            if exc.code == 409 and exc.reason == "AlreadyExists":
                return
            if exc.code in (403, 404):  # the namespace is going away, or gone
                return
            raise


def new_controller(ctx: Any) -> ServiceAccountsController:
    return ServiceAccountsController(ctx.informers, ctx.api)
