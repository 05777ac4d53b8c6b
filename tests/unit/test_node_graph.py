"""The Node authorizer's graph (apiserver noderestriction.NodeGraph): what each node may read."""

from __future__ import annotations

import msgspec

from kubelite.api.core_v1 import Pod
from kubelite_apiserver.noderestriction import NodeGraph


def pod(name: str, node: str | None, *, configmaps: tuple[str, ...] = (), secret_env: str = "",
        claim: str = "", namespace: str = "shop") -> Pod:
    volumes = [{"name": f"v{i}", "configMap": {"name": c}} for i, c in enumerate(configmaps)]
    if claim:
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": claim}})
    env = [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": secret_env, "key": "pw"}}}] if secret_env else []
    return msgspec.convert({"metadata": {"name": name, "namespace": namespace},
                            "spec": {"nodeName": node, "volumes": volumes,
                                     "containers": [{"name": "c", "image": "x", "env": env}]}},
                           Pod)


def test_a_node_may_read_what_its_pods_refer_to_and_nothing_else() -> None:
    g = NodeGraph()
    g.set_pod(pod("web", "n1", configmaps=("cfg",), secret_env="db", claim="data"))
    assert g.allows("n1", ("shop", "configmaps", "cfg"))
    assert g.allows("n1", ("shop", "secrets", "db"))
    assert g.allows("n1", ("shop", "persistentvolumeclaims", "data"))
    assert not g.allows("n2", ("shop", "configmaps", "cfg"))
    assert not g.allows("n1", ("other", "configmaps", "cfg"))
    assert not g.allows("n1", ("shop", "secrets", "cfg"))


def test_shared_refs_are_counted_and_moves_and_deletes_forget() -> None:
    g = NodeGraph()
    a, b = pod("a", "n1", configmaps=("cfg",)), pod("b", "n1", configmaps=("cfg",))
    g.set_pod(a)
    g.set_pod(b)
    g.remove_pod(a)
    assert g.allows("n1", ("shop", "configmaps", "cfg")), "b still mounts it"
    g.set_pod(pod("b", "n1", configmaps=("other",)))  # an update changes what b refers to
    assert not g.allows("n1", ("shop", "configmaps", "cfg"))
    assert g.allows("n1", ("shop", "configmaps", "other"))
    g.remove_pod(b)
    assert g.refs == {}


def test_an_unbound_pod_grants_nothing() -> None:
    g = NodeGraph()
    g.set_pod(pod("pending", None, configmaps=("cfg",)))
    assert g.refs == {}
