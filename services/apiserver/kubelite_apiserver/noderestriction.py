"""Node restriction (Kubernetes' NodeRestriction admission plugin, and the part of its Node
authorizer kubelite needs): RBAC lets every node write nodes, leases and pods; this holds
`system:node:<name>` to its own Node, its own Lease and the pods bound to it, so one
compromised node cannot take over another's work or mark another node down.

Example: node n1 may update the status of pod web-1 with spec.nodeName n1; the same
request for a pod on n2 is 403 `node "n1" can only update pods bound to it`.
"""

from __future__ import annotations

from typing import Any

from kubelite import codec, errors
from kubelite.api.core_v1 import PersistentVolume, Pod
from kubelite.api.podrefs import referenced_claims, referenced_config
from kubelite.auth.user import NODE_PREFIX, NODES, UserInfo
from kubelite_apiserver.authz import CURRENT_USER

_OWN_NAME = {"Node": "nodes", "Lease": "leases"}
_REFERENCED = ("secrets", "configmaps", "persistentvolumeclaims", "persistentvolumes")
_pod_decoder = codec.decoder_for(Pod)
_pv_decoder = codec.decoder_for(PersistentVolume)


def _names(pod: Pod, resource: str) -> set[str]:
    if resource == "persistentvolumeclaims":
        return referenced_claims(pod)
    configmaps, secrets = referenced_config(pod)
    return secrets if resource == "secrets" else configmaps


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


class NodeReferences:
    """The Node authorizer's graph, as far as kubelite needs it: RBAC gives nodes `get` on
    Secrets, ConfigMaps, PersistentVolumeClaims and PersistentVolumes, and this narrows it to
    those a pod bound to that node refers to (env, envFrom, volumes, projected sources; a
    volume through the claim bound to it). Example: node n1 may get Secret db in shop while
    pod shop/web on n1 mounts it; the same get from n2 is a 403."""

    def __init__(self, store: Any) -> None:
        self.store = store

    async def check(self, user: UserInfo, info: Any) -> None:
        node = node_of(user)
        if not node or info.verb != "get" or info.resource not in _REFERENCED or info.subresource:
            return
        namespace, resource, name = info.namespace, info.resource, info.name
        if resource == "persistentvolumes":  # through the claim it is bound to
            kv = await self.store.get(f"/registry/persistentvolumes/{name}")
            spec = _pv_decoder.decode(kv.value).spec if kv is not None else None
            ref = spec.claimRef if spec is not None else None
            namespace, resource, name = (ref.namespace, "persistentvolumeclaims", ref.name) if ref else ("", "", "")
        if namespace and await self._referenced(node, namespace, resource, name):
            return
        raise errors.forbidden_error(info.resource, info.name,
                                     f'User "{user.name}" cannot get resource "{info.resource}" in API group "" '
                                     f'in the namespace "{info.namespace}": no relationship found between node '
                                     f"'{node}' and this object")

    async def _referenced(self, node: str, namespace: str, resource: str, name: str) -> bool:
        bound = f'"nodeName":"{node}"'.encode()
        kvs, _, _ = await self.store.list(f"/registry/pods/{namespace}/")
        for kv in kvs:
            if bound in kv.value:  # cheap filter before decoding
                pod = _pod_decoder.decode(kv.value)
                if pod.spec is not None and pod.spec.nodeName == node and name in _names(pod, resource):
                    return True
        return False
