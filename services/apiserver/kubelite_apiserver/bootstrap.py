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


async def ensure_bootstrap_policy(reg: Registry) -> None:
    """Kubernetes' default ClusterRoles and ClusterRoleBindings (kubelite.auth.policy): created
    when missing; when present and not annotated autoupdate=false, missing rules and subjects
    are added back (what a user added stays), as the apiserver's RBAC reconciliation does."""
    from kubelite.api.rbac_v1 import CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES
    from kubelite.auth import policy

    for info, wanted in ((CLUSTER_ROLES, policy.cluster_roles()),
                         (CLUSTER_ROLE_BINDINGS, policy.cluster_role_bindings())):
        for obj in wanted:
            try:
                await _reconcile_one(reg, info, obj)
            except errors.APIError as exc:
                if exc.code != 409:  # another replica got there first
                    raise


async def _reconcile_one(reg: Registry, info, wanted) -> None:
    from kubelite.auth.policy import AUTOUPDATE

    name = wanted.metadata.name
    try:
        current = await reg.get(info, "", name)
    except errors.APIError as exc:
        if exc.code != 404:
            raise
        await reg.create(info, "", wanted)
        log.info("created %s %s", info.kind, name)
        return
    if (current.metadata.annotations or {}).get(AUTOUPDATE) == "false":
        return
    field = "rules" if info.kind == "ClusterRole" else "subjects"
    have = list(getattr(current, field) or [])
    missing = [x for x in getattr(wanted, field) or [] if x not in have]
    agg_differs = info.kind == "ClusterRole" and current.aggregationRule != wanted.aggregationRule
    if missing or agg_differs:
        setattr(current, field, have + missing)
        if agg_differs:
            current.aggregationRule = wanted.aggregationRule
        await reg.update(info, "", name, current)
        log.info("reconciled %s %s (%d added)", info.kind, name, len(missing))
