"""What the scheduler keeps of a pod (podrecord.keep): a bound pod's skeleton must count on its
node exactly as the whole pod did, and a pod still to place is kept whole."""

from __future__ import annotations

from typing import Any

import msgspec

from kubelite.api.core_v1 import Pod
from kubelite_scheduler.podinfo import pod_info
from kubelite_scheduler.podrecord import keep

TERM = {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}


def rich_pod(node: str = "") -> Pod:
    body: dict[str, Any] = {
        "metadata": {
            "name": "web-1", "namespace": "shop", "uid": "u-1", "resourceVersion": "42",
            "labels": {"app": "web"}, "annotations": {"note": "x" * 200},
            "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": "u-cm"},
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "u-rs", "controller": True},
            ],
        },
        "spec": {
            "nodeName": node or None,
            "schedulerName": "default-scheduler",
            "overhead": {"cpu": "50m", "memory": "10Mi"},
            "initContainers": [{"name": "init", "image": "i", "resources": {"requests": {"cpu": "2", "memory": "1Gi"}}}],
            "containers": [
                {"name": "a", "image": "a", "command": ["sleep", "1"], "env": [{"name": "K", "value": "V"}],
                 "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "1"}},
                 "ports": [{"containerPort": 80, "hostPort": 8080, "protocol": "TCP"}, {"containerPort": 9090}]},
                {"name": "b", "image": "b"},
            ],
            "affinity": {
                "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}},
                "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [TERM]},
                "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 5, "podAffinityTerm": TERM}]},
            },
            "tolerations": [{"key": "k", "operator": "Exists"}],
            "volumes": [{"name": "v", "emptyDir": {}}],
        },
        "status": {"phase": "Running", "podIP": "10.0.0.5", "conditions": [{"type": "Ready", "status": "True"}]},
    }
    return msgspec.convert(body, Pod)


def counted(pod: Pod) -> tuple[Any, ...]:
    """What a node's accounting and the inter-pod rules read of an existing pod."""
    info = pod_info(pod)
    terms = [(len(t), [(sorted(x.namespaces), x.topology_key, x.weight) for x in t]) for t in (
        info.affinity_required, info.anti_affinity_required, info.affinity_preferred, info.anti_affinity_preferred)]
    return (info.key, info.uid, info.node_name, info.labels, info.cpu, info.memory, info.nonzero_cpu,
            info.nonzero_memory, info.host_ports, info.owner_uid, info.terminal, terms)


def test_a_bound_pod_counts_the_same_as_its_skeleton() -> None:
    whole = rich_pod("node-7")
    kept = keep(rich_pod("node-7"))
    assert counted(kept) == counted(whole)
    assert pod_info(whole).cpu == 2050  # the init container's 2 CPUs dominate, plus the overhead


def test_the_skeleton_drops_what_the_scheduler_never_reads() -> None:
    kept = keep(rich_pod("node-7"))
    assert kept.metadata.annotations is None and kept.metadata.managedFields is None
    assert [r.uid for r in kept.metadata.ownerReferences] == ["u-rs"]
    assert kept.spec.volumes is None and kept.spec.tolerations is None
    assert kept.spec.affinity.nodeAffinity is None and kept.spec.affinity.podAntiAffinity is not None
    a = kept.spec.containers[0]
    assert a.command is None and a.env is None and a.resources.limits is None
    assert [(p.hostPort, p.containerPort) for p in a.ports] == [(8080, None)]
    assert kept.spec.containers[1].resources is None and kept.spec.containers[1].ports is None
    assert kept.status.phase == "Running" and kept.status.podIP is None
    assert kept.metadata.resourceVersion == "42"


def test_a_pod_to_place_is_kept_whole_but_managed_fields() -> None:
    kept = keep(rich_pod())
    whole = rich_pod()
    whole.metadata.managedFields = None
    assert msgspec.to_builtins(kept) == msgspec.to_builtins(whole)


def test_a_confirmed_assumption_keeps_nothing_of_the_pending_pod() -> None:
    """The PodInfo of a pod the scheduler bound stays counted after the watch confirms the
    bind; it must not keep the whole pending pod (or its placement rules) alive."""
    import gc

    from kubelite_scheduler.cache import SchedulerCache

    pending = rich_pod()
    info = pod_info(pending)
    cache = SchedulerCache()
    cache.assume(info, "node-7")
    assert cache.confirm(info.key, info.uid, "node-7")
    kept = cache.nodes["node-7"].pods[info.key]
    assert (kept.tolerations, kept.node_selector, kept.required_node_terms, kept.preferred_node_terms) == (
        (), {}, None, [])
    assert kept.cpu == 2050 and kept.anti_affinity_required  # still counted, still constrains others
    assert not any(isinstance(ref, Pod) or ref is pending.spec for ref in gc.get_referents(kept))
