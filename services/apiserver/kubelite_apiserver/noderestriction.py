"""Node restriction (Kubernetes' NodeRestriction admission plugin, and the part of its Node
authorizer kubelite needs): RBAC lets every node write nodes, leases and pods; this holds
`system:node:<name>` to its own Node, its own Lease and the pods bound to it, so one
compromised node cannot take over another's work or mark another node down.

Example: node n1 may update the status of pod web-1 with spec.nodeName n1; the same
request for a pod on n2 is 403 `node "n1" can only update pods bound to it`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubelite import codec, errors
from kubelite.api.core_v1 import PersistentVolume, Pod
from kubelite.api.podrefs import referenced_claims, referenced_config
from kubelite.auth.user import NODE_PREFIX, NODES, UserInfo
from kubelite_apiserver.authz import CURRENT_USER

# A GET the graph does not allow waits this long for the cache to catch up with etcd, as long as
# a consistent LIST waits (podcache.CONSISTENT_TIMEOUT, Kubernetes' cacher): the agent hears of a
# binding on the bus, often before this cache has it. With 1 s, a fill of 150,000 pods got 1,663
# denials, each sending the agent into its retry backoff (up to 10 s) for a pod it did run.
GRAPH_CATCH_UP_SECONDS = 3.0
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


def token_allowed(bound_kind: str, bound: Any) -> bool:
    """on_token_request's rule, as a yes or no: a caller that is not a node may ask for any."""
    node = node_of(CURRENT_USER.get())
    if not node:
        return True
    return bound_kind == "Pod" and bound is not None and (bound.spec.nodeName if bound.spec else "") == node


def on_token_request(bound_kind: str, bound: Any) -> None:
    """A node may ask only for tokens bound to a pod bound to it (the kubelet's projected
    token volumes); an unbound token, or one for another node's pod, is a 403."""
    if not token_allowed(bound_kind, bound):
        node = node_of(CURRENT_USER.get())
        raise errors.forbidden_error("serviceaccounts", "",
                                     f'node "{node}" can only request tokens bound to pods scheduled to it')


Ref = tuple[str, str, str]  # (namespace, resource, name)


def pod_refs(pod: Any) -> frozenset[Ref]:
    """What a node running `pod` may read. Example: pod shop/web with a projected
    kube-root-ca.crt and envFrom Secret db gives {(shop, configmaps, kube-root-ca.crt),
    (shop, secrets, db)}."""
    ns = pod.metadata.namespace or ""
    return frozenset((ns, resource, name) for resource in ("secrets", "configmaps", "persistentvolumeclaims")
                     for name in _names(pod, resource))


class NodeGraph:
    """node -> what its pods refer to, kept by a pods informer (Kubernetes' Node authorizer
    graph): a `get` is one dict lookup instead of a list of the namespace's pods from etcd.
    Example: pods a and b on n1 both mount ConfigMap shop/cfg: the ref counts 2; deleting a
    leaves n1 allowed; deleting b too removes it."""

    def __init__(self, refs_of: Callable[[Any], frozenset[Ref]] = pod_refs) -> None:
        """`refs_of`: a pod's refs (pod_refs; the apiserver's pod cache has them computed)."""
        self.refs_of = refs_of
        self.refs: dict[str, dict[Ref, int]] = {}
        self._pods: dict[str, tuple[str, frozenset[Ref]]] = {}  # ns/name -> (node, refs)

    def set_pod(self, pod: Any) -> None:
        key = f"{pod.metadata.namespace}/{pod.metadata.name}"
        node = (pod.spec.nodeName if pod.spec is not None else "") or ""
        entry = (node, self.refs_of(pod)) if node else None
        if self._pods.get(key) == entry:
            return
        self.remove_pod(pod)
        if entry is not None:
            self._pods[key] = entry
            counts = self.refs.setdefault(node, {})
            for ref in entry[1]:
                counts[ref] = counts.get(ref, 0) + 1

    def remove_pod(self, pod: Any) -> None:
        old = self._pods.pop(f"{pod.metadata.namespace}/{pod.metadata.name}", None)
        if old is None:
            return
        counts = self.refs.get(old[0], {})
        for ref in old[1]:
            if counts.get(ref, 0) <= 1:
                counts.pop(ref, None)
            else:
                counts[ref] -= 1
        if not counts:
            self.refs.pop(old[0], None)

    def allows(self, node: str, ref: Ref) -> bool:
        return ref in self.refs.get(node, ())


class NodeReferences:
    """The Node authorizer's graph, as far as kubelite needs it: RBAC gives nodes `get` on
    Secrets, ConfigMaps, PersistentVolumeClaims and PersistentVolumes, and this narrows it to
    those a pod bound to that node refers to (env, envFrom, volumes, projected sources; a
    volume through the claim bound to it). Example: node n1 may get Secret db in shop while
    pod shop/web on n1 mounts it; the same get from n2 is a 403.

    The graph answers; what it does not allow yet (its informer may be a few milliseconds
    behind a pod just bound) is asked again once the cache has caught up with etcd. Without a
    synced cache, the namespace's pods are read from etcd instead."""

    def __init__(self, store: Any, pods: Any = None, refs_of: Callable[[Any], frozenset[Ref]] = pod_refs) -> None:
        """`pods`: the informer of the apiserver's pod cache, which keeps the graph; `refs_of`
        reads a cached pod's refs."""
        self.store = store
        self.graph = NodeGraph(refs_of)
        self.pods = pods
        if pods is not None:
            pods.add_handler(on_add=self.graph.set_pod, on_update=lambda _old, new: self.graph.set_pod(new),
                             on_delete=self.graph.remove_pod)

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
        ref = (namespace, resource, name)
        if self.graph.allows(node, ref):
            return True
        if self.pods is not None and self.pods.has_synced:
            await self.pods.wait_fresh(GRAPH_CATCH_UP_SECONDS)
            return self.graph.allows(node, ref)
        bound = f'"nodeName":"{node}"'.encode()
        kvs, _, _ = await self.store.list(f"/registry/pods/{namespace}/")
        for kv in kvs:
            if bound in kv.value:  # cheap filter before decoding
                pod = _pod_decoder.decode(kv.value)
                if pod.spec is not None and pod.spec.nodeName == node and name in _names(pod, resource):
                    return True
        return False
