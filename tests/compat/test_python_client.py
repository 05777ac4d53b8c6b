"""The official `kubernetes` Python client against kubelite: CRUD for every served
type, watch resuming from a resourceVersion, typed objects with kubelite's fields."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.compat.conftest import wait_for

pytest.importorskip("kubernetes")
from kubernetes import client, watch
from kubernetes.client.rest import ApiException


@pytest.fixture
def core(k8s) -> client.CoreV1Api:
    return client.CoreV1Api(k8s)


@pytest.fixture
def apps(k8s) -> client.AppsV1Api:
    return client.AppsV1Api(k8s)


@pytest.fixture
def pyns(core) -> Iterator[str]:
    name = "py-" + uuid.uuid4().hex[:8]
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    try:
        core.delete_namespace(name)
    except ApiException:
        pass


def meta(name: str, **labels: str) -> client.V1ObjectMeta:
    return client.V1ObjectMeta(name=name, labels=labels or {"app": name})


def pod_spec(image: str = "busybox") -> client.V1PodSpec:
    return client.V1PodSpec(containers=[client.V1Container(name="main", image=image, command=["sleep", "3600"])])


@dataclass
class Kind:
    """How the client does create/read/list/patch/delete for one type."""

    name: str
    body: Callable[[str, str], Any]  # (name, namespace) -> typed object
    api: str  # "core" | "apps" | "coord"
    method: str  # the client's suffix: namespaced_config_map, node, ...
    namespaced: bool = True
    patch: dict | None = None
    check: Callable[[Any], None] | None = None


def _deployment(name: str, _ns: str = "") -> client.V1Deployment:
    return client.V1Deployment(
        metadata=meta(name),
        spec=client.V1DeploymentSpec(
            replicas=0, selector=client.V1LabelSelector(match_labels={"app": name}),
            template=client.V1PodTemplateSpec(metadata=meta(name), spec=pod_spec())))


def _replicaset(name: str, _ns: str = "") -> client.V1ReplicaSet:
    return client.V1ReplicaSet(
        metadata=meta(name),
        spec=client.V1ReplicaSetSpec(
            replicas=0, selector=client.V1LabelSelector(match_labels={"app": name}),
            template=client.V1PodTemplateSpec(metadata=meta(name), spec=pod_spec())))


KINDS = [
    Kind("ConfigMap", lambda n, ns: client.V1ConfigMap(metadata=meta(n), data={"a": "1"}), "core",
         "namespaced_config_map", check=lambda o: o.data == {"a": "1"}),
    Kind("Secret", lambda n, ns: client.V1Secret(metadata=meta(n), string_data={"pw": "x"}), "core",
         "namespaced_secret", check=lambda o: o.data == {"pw": "eA=="} and o.type == "Opaque"),
    Kind("Service", lambda n, ns: client.V1Service(metadata=meta(n), spec=client.V1ServiceSpec(
        selector={"app": n}, ports=[client.V1ServicePort(port=80, target_port=8080)])), "core",
        "namespaced_service",
        check=lambda o: o.spec.cluster_ip and o.spec.ports[0].protocol == "TCP"
        and o.spec.ports[0].target_port == 8080 and o.spec.type == "ClusterIP"),
    Kind("Pod", lambda n, ns: client.V1Pod(metadata=meta(n), spec=pod_spec()), "core", "namespaced_pod",
         check=lambda o: o.spec.restart_policy == "Always" and o.status.qos_class == "BestEffort"
         and o.spec.containers[0].image_pull_policy == "Always"),
    Kind("Endpoints", lambda n, ns: client.V1Endpoints(metadata=meta(n), subsets=[client.V1EndpointSubset(
        addresses=[client.V1EndpointAddress(ip="10.0.0.1")], ports=[client.CoreV1EndpointPort(port=80)])]),
        "core", "namespaced_endpoints", check=lambda o: o.subsets[0].addresses[0].ip == "10.0.0.1"),
    Kind("Event", lambda n, ns: client.CoreV1Event(
        metadata=meta(n), involved_object=client.V1ObjectReference(kind="Pod", name="x", namespace=ns),
        reason="Tested", message="hello", type="Normal"), "core", "namespaced_event",
        check=lambda o: o.reason == "Tested" and o.involved_object.kind == "Pod"),
    Kind("Node", lambda n, ns: client.V1Node(metadata=meta(n)), "core", "node", namespaced=False,
         check=lambda o: o.metadata.uid),
    Kind("Deployment", _deployment, "apps", "namespaced_deployment",
         check=lambda o: o.spec.strategy.type == "RollingUpdate" and o.spec.revision_history_limit == 10
         and o.metadata.generation == 1),
    Kind("ReplicaSet", _replicaset, "apps", "namespaced_replica_set", check=lambda o: o.spec.replicas == 0),
    Kind("Lease", lambda n, ns: client.V1Lease(metadata=meta(n), spec=client.V1LeaseSpec(
        holder_identity="me", lease_duration_seconds=15)), "coord", "namespaced_lease",
        check=lambda o: o.spec.holder_identity == "me"),
]


@pytest.mark.compat("python client: create/read/list/patch/delete (every served type)")
@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_crud(k8s, pyns, kind: Kind) -> None:
    api = {"core": client.CoreV1Api, "apps": client.AppsV1Api,
           "coord": client.CoordinationV1Api}[kind.api](k8s)
    name = "obj-" + uuid.uuid4().hex[:6]
    ns_args: tuple = (pyns,) if kind.namespaced else ()
    created = getattr(api, f"create_{kind.method}")(*ns_args, kind.body(name, pyns))
    try:
        assert created.metadata.name == name and created.metadata.uid
        assert isinstance(created.metadata.creation_timestamp, dt.datetime)
        assert int(created.metadata.resource_version) > 0
        read = getattr(api, f"read_{kind.method}")(name, *ns_args)
        assert read.metadata.uid == created.metadata.uid
        if kind.check:
            assert kind.check(read), read
        listed = getattr(api, f"list_{kind.method}")(*ns_args, label_selector=f"app={name}")
        assert [i.metadata.name for i in listed.items] == [name]
        assert int(listed.metadata.resource_version) >= int(created.metadata.resource_version)
        patched = getattr(api, f"patch_{kind.method}")(name, *ns_args, {"metadata": {"labels": {"patched": "yes"}}})
        assert patched.metadata.labels == {"app": name, "patched": "yes"}
        with pytest.raises(ApiException) as err:
            getattr(api, f"create_{kind.method}")(*ns_args, kind.body(name, pyns))
        assert err.value.status == 409 and err.value.reason == "Conflict"
    finally:
        getattr(api, f"delete_{kind.method}")(name, *ns_args, grace_period_seconds=0)
    wait_for(lambda: _gone(lambda: getattr(api, f"read_{kind.method}")(name, *ns_args)), 15,
             f"{kind.name} {name} not deleted")


def _gone(read: Callable[[], Any]) -> bool:
    try:
        read()
    except ApiException as exc:
        assert exc.status == 404, exc
        return True
    return False


@pytest.mark.compat("python client: watch.Watch().stream resuming from resourceVersion")
def test_watch_resumes_from_resource_version(core, pyns) -> None:
    first = core.create_namespaced_config_map(pyns, client.V1ConfigMap(metadata=meta("w0")))
    rv = first.metadata.resource_version
    core.create_namespaced_config_map(pyns, client.V1ConfigMap(metadata=meta("w1")))
    core.patch_namespaced_config_map("w1", pyns, {"data": {"k": "v"}})
    core.delete_namespaced_config_map("w0", pyns)
    seen: list[tuple[str, str]] = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, pyns, resource_version=rv, timeout_seconds=10):
        assert isinstance(event["object"], client.V1ConfigMap)
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:
            w.stop()
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w0")]
    # The watch's own resourceVersion bookkeeping lets a second stream continue after the last event.
    last = w.resource_version
    core.create_namespaced_config_map(pyns, client.V1ConfigMap(metadata=meta("w2")))
    w2 = watch.Watch()
    for event in w2.stream(core.list_namespaced_config_map, pyns, resource_version=last, timeout_seconds=10):
        assert (event["type"], event["object"].metadata.name) == ("ADDED", "w2")
        w2.stop()


@pytest.mark.compat("python client: typed objects carry the fields kubelite sets")
def test_typed_objects_carry_status(core, apps, pyns) -> None:
    apps.create_namespaced_deployment(pyns, _deployment("web"))
    apps.patch_namespaced_deployment_scale("web", pyns, {"spec": {"replicas": 2}})
    def available() -> client.V1Deployment | None:
        d = apps.read_namespaced_deployment("web", pyns)
        return d if d.status is not None and d.status.available_replicas == 2 else None

    d = wait_for(available, 60, "deployment never had 2 available replicas")
    assert d.status.ready_replicas == 2 and d.status.observed_generation == d.metadata.generation
    conds = {c.type: c for c in d.status.conditions}
    assert conds["Available"].status == "True" and isinstance(conds["Available"].last_transition_time, dt.datetime)
    scale = apps.read_namespaced_deployment_scale("web", pyns)
    assert scale.spec.replicas == 2 and scale.status.selector == "app=web"
    pods = core.list_namespaced_pod(pyns, label_selector="app=web").items
    assert len(pods) == 2
    for p in pods:
        assert p.spec.node_name and p.status.phase == "Running" and p.status.pod_ip
        assert p.status.qos_class == "BestEffort" and p.status.host_ip
        assert {c.type for c in p.status.conditions} >= {"PodScheduled", "Ready"}
        cs = p.status.container_statuses[0]
        assert cs.ready and cs.state.running and isinstance(cs.state.running.started_at, dt.datetime)
        owner = p.metadata.owner_references[0]
        assert owner.kind == "ReplicaSet" and owner.controller
    node = core.read_node(pods[0].spec.node_name)
    assert node.status.node_info.kubelet_version and node.status.allocatable["pods"]
    assert any(a.type == "InternalIP" for a in node.status.addresses)


@pytest.mark.compat("python client: delete_collection with a label selector")
def test_delete_collection(core, pyns) -> None:
    for i, tier in enumerate(("a", "a", "b")):
        core.create_namespaced_config_map(pyns, client.V1ConfigMap(metadata=meta(f"c{i}", tier=tier)))
    status = core.delete_collection_namespaced_config_map(pyns, label_selector="tier=a")
    assert status.status == "Success"
    left = core.list_namespaced_config_map(pyns).items
    assert [c.metadata.name for c in left] == ["c2", "kube-root-ca.crt"]
