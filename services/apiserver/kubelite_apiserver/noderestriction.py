"""Node restriction (Kubernetes' NodeRestriction admission plugin, and the part of its Node
authorizer kubelite needs): RBAC lets every node write nodes, leases and pods; this holds
`system:node:<name>` to its own Node, its own Lease and the pods bound to it, so one
compromised node cannot take over another's work or mark another node down.

Example: node n1 may update the status of pod web-1 with spec.nodeName n1; the same
request for a pod on n2 is 403 `node "n1" can only update pods bound to it`.
"""

from __future__ import annotations

from typing import Any

from kubelite import errors
from kubelite.auth.user import NODE_PREFIX, NODES, UserInfo
from kubelite_apiserver.authz import CURRENT_USER

_OWN_NAME = {"Node": "nodes", "Lease": "leases"}


def node_of(user: UserInfo | None) -> str:
    """The node a user is (`system:node:<name>` in group system:nodes), else ""."""
    if user is None or NODES not in user.groups or not user.name.startswith(NODE_PREFIX):
        return ""
    return user.name[len(NODE_PREFIX):]


def _check(action: str, info: Any, obj: Any) -> None:
    node = node_of(CURRENT_USER.get())
    if not node:
        return
    if info.kind in _OWN_NAME and (info.kind != "Lease" or obj.metadata.namespace == "kube-node-lease"):
        if obj.metadata.name != node:
            raise errors.forbidden_error(info.group_resource, obj.metadata.name or "",
                                         f'node "{node}" is not allowed to {action} {info.plural} other than its own')
    elif info.kind == "Pod":
        bound = obj.spec.nodeName if obj.spec is not None else ""
        if bound != node:
            raise errors.forbidden_error(info.group_resource, obj.metadata.name or "",
                                         f'node "{node}" can only {action} pods bound to it')


def on_write(info: Any, obj: Any) -> None:
    _check("modify", info, obj)


def on_delete(info: Any, obj: Any) -> None:
    _check("delete", info, obj)


def on_token_request(bound_kind: str, bound: Any) -> None:
    """A node may ask only for tokens bound to a pod bound to it (the kubelet's projected
    token volumes); an unbound token, or one for another node's pod, is a 403."""
    node = node_of(CURRENT_USER.get())
    if not node:
        return
    if bound_kind != "Pod" or bound is None or (bound.spec.nodeName if bound.spec else "") != node:
        raise errors.forbidden_error("serviceaccounts", "",
                                     f'node "{node}" can only request tokens bound to pods scheduled to it')
