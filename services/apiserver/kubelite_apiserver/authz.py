"""Authorization of HTTP requests: system:masters, then RBAC (kubelite.auth.rbac).

The roles and bindings come from etcd informers held by this apiserver process (one
watch per RBAC resource), so a decision is a walk over memory. An aggregated
ClusterRole's rules are computed from the roles it selects at decision time.
`--authorization-mode AlwaysAllow` skips all of it (benchmarks' baseline only).
"""

from __future__ import annotations

import logging
from typing import Any

from kubelite.api.rbac_v1 import (
    CLUSTER_ROLE_BINDINGS,
    CLUSTER_ROLES,
    ROLE_BINDINGS,
    ROLES,
    ClusterRole,
    ClusterRoleBinding,
    Role,
    RoleBinding,
)
from kubelite.auth import rbac
from kubelite.auth.rbac import Attributes, Decision
from kubelite.auth.user import MASTERS, UserInfo
from kubelite.reconcile.informer import Informer
from kubelite_apiserver.requestinfo import RequestInfo

log = logging.getLogger("kubelite.apiserver.authz")

ALWAYS_ALLOW = "AlwaysAllow"
RBAC = "RBAC"
MODES = (RBAC, ALWAYS_ALLOW)


def attributes(user: UserInfo, info: RequestInfo) -> Attributes:
    """The request as RBAC sees it. A namespace object is in its own namespace (as
    Kubernetes' RequestInfoFactory has it), so a RoleBinding there may grant `get` on it."""
    if not info.is_resource:
        return Attributes(user, info.verb, path=info.path, resource_request=False)
    namespace = info.name if info.resource == "namespaces" and info.name else info.namespace
    return Attributes(user, info.verb, namespace, info.group, info.resource, info.subresource, info.name)


class RBACCache:
    """An RBACSource over four etcd informers."""

    def __init__(self, store: Any) -> None:
        self.roles = Informer(store, ROLES)
        self.cluster_roles = Informer(store, CLUSTER_ROLES)
        self.role_binds = Informer(store, ROLE_BINDINGS)
        self.cluster_role_binds = Informer(store, CLUSTER_ROLE_BINDINGS)
        self._all = (self.roles, self.cluster_roles, self.role_binds, self.cluster_role_binds)

    async def start(self) -> None:
        for inf in self._all:
            inf.start()
        for inf in self._all:
            await inf.wait_synced()

    async def stop(self) -> None:
        for inf in self._all:
            await inf.stop()

    def cluster_role_bindings(self) -> list[ClusterRoleBinding]:
        return self.cluster_role_binds.list()

    def role_bindings(self, namespace: str) -> list[RoleBinding]:
        return self.role_binds.list(namespace)

    def cluster_role(self, name: str) -> ClusterRole | None:
        role = self.cluster_roles.get("", name)
        if role is not None and role.aggregationRule is not None:
            rules = rbac.aggregated_rules(role, self.cluster_roles.list())
            return ClusterRole(metadata=role.metadata, rules=rules)
        return role

    def role(self, namespace: str, name: str) -> Role | None:
        return self.roles.get(namespace, name)


class StaticSource:
    """An RBACSource over fixed objects: the bootstrap policy, until the informers have synced
    (so /healthz and /readyz answer everyone while the apiserver starts)."""

    def __init__(self, cluster_roles: list[ClusterRole], bindings: list[ClusterRoleBinding]) -> None:
        self._roles = {r.metadata.name: r for r in cluster_roles}
        self._bindings = bindings

    def cluster_role_bindings(self) -> list[ClusterRoleBinding]:
        return self._bindings

    def role_bindings(self, namespace: str) -> list[RoleBinding]:
        return []

    def cluster_role(self, name: str) -> ClusterRole | None:
        return self._roles.get(name)

    def role(self, namespace: str, name: str) -> Role | None:
        return None


def bootstrap_source() -> StaticSource:
    from kubelite.auth import policy

    return StaticSource(policy.cluster_roles(), policy.cluster_role_bindings())


class Authorizer:
    def __init__(self, mode: str, source: rbac.RBACSource) -> None:
        self.mode = mode
        self.source = source

    def authorize(self, attrs: Attributes) -> Decision:
        if self.mode == ALWAYS_ALLOW or MASTERS in attrs.user.groups:
            return Decision(True, "")
        return rbac.authorize(self.source, attrs)
