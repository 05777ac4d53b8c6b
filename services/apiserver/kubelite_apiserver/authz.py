"""Authorization of HTTP requests: system:masters, then RBAC (kubelite.auth.rbac).

The roles and bindings come from etcd informers held by this apiserver process (one
watch per RBAC resource), so a decision is a walk over memory. An aggregated
ClusterRole's rules are computed from the roles it selects when first asked for,
and kept until any ClusterRole changes.
`--authorization-mode AlwaysAllow` skips all of it (benchmarks' baseline only).
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any, Protocol

from kubelite import errors
from kubelite.api.rbac_v1 import (
    CLUSTER_ROLE_BINDINGS,
    CLUSTER_ROLES,
    GROUP,
    ROLE_BINDINGS,
    ROLES,
    ClusterRole,
    ClusterRoleBinding,
    Role,
    RoleBinding,
)
from kubelite.auth import rbac
from kubelite.auth.rbac import Attributes, Decision
from kubelite.auth.user import (
    AUTHENTICATED,
    MASTERS,
    SERVICE_ACCOUNT_PREFIX,
    SERVICE_ACCOUNTS,
    UserInfo,
)
from kubelite.errors import APIError
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
        self._aggregated: dict[str, ClusterRole] = {}  # name -> role with its computed rules
        forget = self._aggregated.clear
        self.cluster_roles.add_handler(on_add=lambda _r: forget(), on_update=lambda _o, _n: forget(),
                                       on_delete=lambda _r: forget())
        self._generation = 0  # counts changes to any of the four: see rbac.RuleMemo
        for inf in self._all:
            inf.add_handler(on_add=lambda _r: self._changed(), on_update=lambda _o, _n: self._changed(),
                            on_delete=lambda _r: self._changed())

    def _changed(self) -> None:
        # Called after the informer's cache holds the change, so an answer computed before
        # this from the new state is forgotten too (harmless), never one from the old kept.
        self._generation += 1

    def generation(self) -> int:
        return self._generation

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
        if role is None or role.aggregationRule is None:
            return role
        cached = self._aggregated.get(name)
        if cached is None or cached.metadata is not role.metadata:
            rules = rbac.aggregated_rules(role, self.cluster_roles.list())
            cached = self._aggregated[name] = ClusterRole(metadata=role.metadata, rules=rules)
        return cached

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

    def generation(self) -> int:
        return 0  # fixed objects


def bootstrap_source() -> StaticSource:
    from kubelite.auth import policy

    return StaticSource(policy.cluster_roles(), policy.cluster_role_bindings())


class ChangingSource(rbac.RBACSource, Protocol):
    """An RBACSource that tells when its objects change (RBACCache, StaticSource)."""

    def generation(self) -> int: ...


class Authorizer:
    def __init__(self, mode: str, source: ChangingSource) -> None:
        self.mode = mode
        self.source = source
        self.rules = rbac.RuleMemo(source, source.generation)

    def authorize(self, attrs: Attributes) -> Decision:
        if self.unrestricted(attrs.user):
            return Decision(True, "")
        return rbac.decide(self.rules.rules(attrs.user, attrs.namespace), attrs)

    def unrestricted(self, user: UserInfo) -> bool:
        return self.mode == ALWAYS_ALLOW or MASTERS in user.groups


def impersonate(authorizer: Authorizer, user: UserInfo, headers: Any) -> UserInfo:
    """`Impersonate-User` / `Impersonate-Group` (kubectl --as, --as-group): each needs the
    `impersonate` verb on that user (or service account) and group, else 403; the request
    then runs as the impersonated user, who is also in system:authenticated."""
    wanted_user, wanted_groups = "", []
    for name, value in headers:
        if name == b"impersonate-user":
            wanted_user = value.decode("latin-1")
        elif name == b"impersonate-group":
            wanted_groups.append(value.decode("latin-1"))
    if not wanted_user:
        if wanted_groups:
            raise errors.bad_request("requested impersonation of groups without impersonating a user")
        return user
    targets = [_impersonated_user(user, wanted_user)]
    targets += [Attributes(user, "impersonate", "", "", "groups", name=g) for g in wanted_groups]
    for attrs in targets:
        if not authorizer.authorize(attrs).allowed:
            raise rbac.forbidden(attrs)
    groups = tuple(wanted_groups)
    if wanted_user.startswith(SERVICE_ACCOUNT_PREFIX):
        ns = wanted_user[len(SERVICE_ACCOUNT_PREFIX):].split(":", 1)[0]
        groups = (*groups, SERVICE_ACCOUNTS, f"{SERVICE_ACCOUNTS}:{ns}")
    return UserInfo(wanted_user, (*groups, AUTHENTICATED) if AUTHENTICATED not in groups else groups)


def _impersonated_user(user: UserInfo, wanted: str) -> Attributes:
    if wanted.startswith(SERVICE_ACCOUNT_PREFIX):
        ns, _, name = wanted[len(SERVICE_ACCOUNT_PREFIX):].partition(":")
        return Attributes(user, "impersonate", ns, "", "serviceaccounts", name=name)
    return Attributes(user, "impersonate", "", "", "users", name=wanted)


# The user of the request being served, for admission checks deeper down (escalation
# guard, node restriction). Set by `admit` for HTTP and NATS requests alike.
CURRENT_USER: ContextVar[UserInfo | None] = ContextVar("kubelite_user", default=None)


def admit(authorizer: Authorizer, user: UserInfo, info: RequestInfo) -> None:
    """Authorize `user` for `info` (403 in Kubernetes' words when not) and make them the
    request's CURRENT_USER. The one gate every request passes, over HTTPS or NATS."""
    attrs = attributes(user, info)
    if not authorizer.authorize(attrs).allowed:
        raise rbac.forbidden(attrs)
    CURRENT_USER.set(user)

_ROLE_KINDS = {"Role": "roles", "ClusterRole": "clusterroles"}


def escalation_guard(authorizer: Authorizer) -> Any:
    """The RBAC escalation check (pkg/registry/rbac: ConfirmNoEscalation, BindingAuthorized),
    run on every write of a role or binding: a user may only grant what they hold, unless
    they have `escalate` on that role (writing roles) or `bind` on the role a binding names."""

    def check(info: Any, obj: Any) -> None:
        user = CURRENT_USER.get()
        if info.group != GROUP or user is None or authorizer.unrestricted(user):
            return
        ns = obj.metadata.namespace or ""
        if info.kind in _ROLE_KINDS:
            verb, role_kind, role_name, wanted = "escalate", info.kind, obj.metadata.name or "", obj.rules or []
        elif info.kind in ("RoleBinding", "ClusterRoleBinding") and obj.roleRef is not None:
            role_kind, role_name = obj.roleRef.kind or "", obj.roleRef.name or ""
            role = (authorizer.source.cluster_role(role_name) if role_kind == "ClusterRole"
                    else authorizer.source.role(ns, role_name))
            verb, wanted = "bind", (role.rules or []) if role is not None else []
        else:
            return
        plural = _ROLE_KINDS.get(role_kind, "roles")
        if authorizer.authorize(Attributes(user, verb, ns, GROUP, plural, name=role_name)).allowed:
            return
        held = [rule for _, _, rule in rbac.visit_rules(authorizer.source, user, ns)]
        missing = rbac.uncovered(held, wanted)
        if missing:
            raise escalation_forbidden(info, obj.metadata.name or "", user, missing)

    return check


def escalation_forbidden(info: Any, name: str, user: UserInfo, missing: list[Any]) -> APIError:
    """Kubernetes' wording: the user, their groups and every permission they lack."""
    groups = " ".join(f'"{g}"' for g in user.groups)
    lines = "\n".join(_rule_text(r) for r in missing)
    return errors.forbidden_error(
        info.group_resource, name,
        f'user "{user.name}" (groups=[{groups}]) is attempting to grant RBAC permissions not currently held:\n{lines}')


def _rule_text(r: Any) -> str:
    if r.nonResourceURLs:
        return f"{{NonResourceURLs:{_list(r.nonResourceURLs)}, Verbs:{_list(r.verbs)}}}"
    names = f", ResourceNames:{_list(r.resourceNames)}" if r.resourceNames else ""
    return f"{{APIGroups:{_list(r.apiGroups)}, Resources:{_list(r.resources)}{names}, Verbs:{_list(r.verbs)}}}"


def _list(items: Any) -> str:
    return "[" + " ".join(f'"{i}"' for i in items or []) + "]"
