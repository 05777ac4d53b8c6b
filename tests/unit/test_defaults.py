"""Kubernetes defaulting (pkg/apis/core/v1/defaults.go, pkg/apis/apps/v1/defaults.go)."""

from __future__ import annotations

import time

import msgspec
import msgspec.yaml
import pytest

from kubelite.api.apps_v1 import Deployment, ReplicaSet
from kubelite.api.coordination_v1 import Lease
from kubelite.api.core_v1 import (
    ConfigMap,
    Endpoints,
    Event,
    Namespace,
    Node,
    Pod,
    Secret,
    Service,
)
from kubelite.api.defaults import apply_defaults, image_pull_policy_for, normalize_quantity


def _pod(spec: dict, **top) -> Pod:
    return msgspec.convert({"metadata": {"name": "p"}, "spec": spec, **top}, Pod)


def _doc(obj) -> dict:
    return msgspec.json.decode(msgspec.json.encode(obj))


# --------------------------------------------------------------------------- Pod


def test_pod_spec_defaults():
    p = _pod({"containers": [{"name": "c", "image": "nginx:1.25"}]})
    apply_defaults(p)
    assert p.apiVersion == "v1" and p.kind == "Pod"
    s = p.spec
    assert s.restartPolicy == "Always"
    assert s.terminationGracePeriodSeconds == 30
    assert s.dnsPolicy == "ClusterFirst"
    assert s.schedulerName == "default-scheduler"
    assert s.enableServiceLinks is True
    assert _doc(p)["spec"]["securityContext"] == {}
    c = s.containers[0]
    assert c.imagePullPolicy == "IfNotPresent"
    assert c.terminationMessagePath == "/dev/termination-log"
    assert c.terminationMessagePolicy == "File"


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.25", "IfNotPresent"),
        ("registry.k8s.io/pause:3.9", "IfNotPresent"),
        ("localhost:5000/app", "Always"),  # the port is not a tag
        ("localhost:5000/app:v2", "IfNotPresent"),
        ("localhost:5000/app:latest", "Always"),
        ("busybox@sha256:" + "a" * 64, "IfNotPresent"),
        ("busybox:latest@sha256:" + "a" * 64, "Always"),
        ("busybox:1.36@sha256:" + "a" * 64, "IfNotPresent"),
    ],
)
def test_image_pull_policy_from_tag(image, policy):
    assert image_pull_policy_for(image) == policy
    p = _pod({"containers": [{"name": "c", "image": image}]})
    apply_defaults(p)
    assert p.spec.containers[0].imagePullPolicy == policy


def test_pod_user_values_are_kept():
    p = _pod({
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 0,
        "dnsPolicy": "Default",
        "schedulerName": "mine",
        "enableServiceLinks": False,
        "securityContext": {"runAsUser": 1000},
        "containers": [{
            "name": "c", "image": "nginx", "imagePullPolicy": "Never",
            "terminationMessagePath": "/tmp/t", "terminationMessagePolicy": "FallbackToLogsOnError",
            "ports": [{"containerPort": 53, "protocol": "UDP"}],
            "livenessProbe": {"httpGet": {"path": "/hz", "port": 80, "scheme": "HTTPS"},
                              "timeoutSeconds": 5, "periodSeconds": 7, "successThreshold": 1,
                              "failureThreshold": 9},
        }],
    })
    before = _doc(p)
    apply_defaults(p)
    after = _doc(p)
    s = p.spec
    assert (s.restartPolicy, s.terminationGracePeriodSeconds, s.dnsPolicy, s.schedulerName) == (
        "Never", 0, "Default", "mine")
    assert s.enableServiceLinks is False
    assert s.securityContext.runAsUser == 1000
    c = s.containers[0]
    assert c.imagePullPolicy == "Never"
    assert c.terminationMessagePath == "/tmp/t"
    assert c.terminationMessagePolicy == "FallbackToLogsOnError"
    assert c.ports[0].protocol == "UDP"
    assert (before["spec"]["containers"][0]["livenessProbe"]
            == after["spec"]["containers"][0]["livenessProbe"])


def test_container_ports_and_probes():
    p = _pod({
        "containers": [{
            "name": "c", "image": "i",
            "ports": [{"containerPort": 80}],
            "livenessProbe": {"httpGet": {"port": 8080}},
            "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 3},
            "startupProbe": {"exec": {"command": ["true"]}},
            "lifecycle": {"preStop": {"httpGet": {"port": 80}}},
        }],
        "initContainers": [{"name": "i", "image": "busybox:1.36", "ports": [{"containerPort": 1}]}],
    })
    apply_defaults(p)
    c = p.spec.containers[0]
    assert c.ports[0].protocol == "TCP"
    lp = c.livenessProbe
    assert (lp.timeoutSeconds, lp.periodSeconds, lp.successThreshold, lp.failureThreshold) == (
        1, 10, 1, 3)
    assert (lp.httpGet.path, lp.httpGet.scheme) == ("/", "HTTP")
    assert c.readinessProbe.periodSeconds == 3 and c.readinessProbe.timeoutSeconds == 1
    assert c.startupProbe.failureThreshold == 3
    assert c.lifecycle.preStop.httpGet.path == "/"
    i = p.spec.initContainers[0]
    assert i.imagePullPolicy == "IfNotPresent" and i.ports[0].protocol == "TCP"
    assert i.terminationMessagePath == "/dev/termination-log"


def test_volumes_default_mode_and_empty_source():
    p = _pod({
        "containers": [{"name": "c", "image": "i"}],
        "volumes": [
            {"name": "cm", "configMap": {"name": "x"}},
            {"name": "sec", "secret": {"secretName": "s"}},
            {"name": "sec2", "secret": {"secretName": "s", "defaultMode": 0o400}},
            {"name": "nothing"},
            {"name": "ed", "emptyDir": {"sizeLimit": 1}},
            {"name": "dapi", "downwardAPI": {"items": [
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
            {"name": "proj", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}},
        ],
    })
    apply_defaults(p)
    v = {vol.name: vol for vol in p.spec.volumes}
    assert v["cm"].configMap.defaultMode == 420
    assert v["sec"].secret.defaultMode == 420
    assert v["sec2"].secret.defaultMode == 0o400
    assert v["nothing"].emptyDir is not None
    assert v["ed"].emptyDir.sizeLimit == "1"
    assert v["dapi"].downwardAPI.defaultMode == 420
    assert v["dapi"].downwardAPI.items[0].fieldRef.apiVersion == "v1"
    assert v["proj"].projected.defaultMode == 420
    assert v["proj"].projected.sources[0].serviceAccountToken.expirationSeconds == 3600


def test_env_field_ref_api_version():
    p = _pod({"containers": [{"name": "c", "image": "i", "env": [
        {"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "B", "value": "b"}]}]})
    apply_defaults(p)
    assert p.spec.containers[0].env[0].valueFrom.fieldRef.apiVersion == "v1"


def test_quantities_from_yaml_numbers_become_strings():
    p = msgspec.yaml.decode("""
metadata: {name: q}
spec:
  overhead: {cpu: 0.25}
  containers:
  - name: c
    image: i
    resources:
      requests: {cpu: 0.5, memory: 1024}
      limits: {cpu: 1, memory: "1Gi", nvidia.com/gpu: 2.0}
""", type=Pod)
    apply_defaults(p)
    r = p.spec.containers[0].resources
    assert r.requests == {"cpu": "0.5", "memory": "1024", "nvidia.com/gpu": "2"}
    assert r.limits == {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "2"}
    assert p.spec.overhead == {"cpu": "0.25"}
    assert [normalize_quantity(x) for x in (3, 0.1, 2.0, "100m")] == ["3", "0.1", "2", "100m"]


def test_pod_requests_default_to_limits():
    p = _pod({"containers": [
        {"name": "a", "image": "i", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
        {"name": "b", "image": "i", "resources": {"limits": {"cpu": "2", "memory": "2Gi"},
                                                  "requests": {"cpu": "500m"}}},
    ]})
    apply_defaults(p)
    a, b = p.spec.containers
    assert a.resources.requests == {"cpu": "1", "memory": "1Gi"}
    assert b.resources.requests == {"cpu": "500m", "memory": "2Gi"}
    # The request map is a separate dict, not an alias of limits.
    assert a.resources.requests is not a.resources.limits


def test_host_network_ports():
    p = _pod({"hostNetwork": True, "containers": [
        {"name": "c", "image": "i", "ports": [{"containerPort": 8080}, {"containerPort": 9,
                                                                       "hostPort": 19}]}]})
    apply_defaults(p)
    assert [x.hostPort for x in p.spec.containers[0].ports] == [8080, 19]


def test_pod_without_spec_gets_one():
    p = Pod()
    apply_defaults(p)
    assert p.spec.restartPolicy == "Always" and p.spec.containers is None


def test_defaulting_is_idempotent():
    p = _pod({"containers": [{"name": "c", "image": "nginx",
                              "livenessProbe": {"httpGet": {"port": 80}}}]})
    apply_defaults(p)
    once = msgspec.json.encode(p)
    apply_defaults(p)
    assert msgspec.json.encode(p) == once


# ------------------------------------------------------------------ Deployment


NGINX = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: nginx-deployment, labels: {app: nginx}}
spec:
  replicas: 3
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports:
        - containerPort: 80
"""


def test_deployment_defaults():
    d = msgspec.yaml.decode(NGINX, type=Deployment)
    apply_defaults(d)
    s = d.spec
    assert s.replicas == 3  # user value kept
    assert s.strategy.type == "RollingUpdate"
    assert (s.strategy.rollingUpdate.maxSurge, s.strategy.rollingUpdate.maxUnavailable) == (
        "25%", "25%")
    assert s.revisionHistoryLimit == 10
    assert s.progressDeadlineSeconds == 600
    t = s.template.spec
    assert (t.restartPolicy, t.dnsPolicy, t.schedulerName, t.terminationGracePeriodSeconds) == (
        "Always", "ClusterFirst", "default-scheduler", 30)
    c = t.containers[0]
    assert c.imagePullPolicy == "IfNotPresent"
    assert c.ports[0].protocol == "TCP"
    # Pod-only defaults (SetDefaults_Pod) are not applied to templates, as in Kubernetes.
    assert t.enableServiceLinks is None


def test_deployment_replicas_and_user_strategy():
    d = msgspec.convert({"spec": {"strategy": {"type": "Recreate"}, "revisionHistoryLimit": 0,
                                  "progressDeadlineSeconds": 60,
                                  "template": {"spec": {"containers": [{"name": "c",
                                                                        "image": "i"}]}}}},
                        Deployment)
    apply_defaults(d)
    assert d.spec.replicas == 1
    assert d.spec.strategy.type == "Recreate" and d.spec.strategy.rollingUpdate is None
    assert d.spec.revisionHistoryLimit == 0
    assert d.spec.progressDeadlineSeconds == 60
    d2 = msgspec.convert({"spec": {"replicas": 0, "strategy": {"rollingUpdate": {"maxSurge": 1}}}},
                         Deployment)
    apply_defaults(d2)
    assert d2.spec.replicas == 0
    assert d2.spec.strategy.rollingUpdate.maxSurge == 1
    assert d2.spec.strategy.rollingUpdate.maxUnavailable == "25%"
    assert d2.apiVersion == "apps/v1" and d2.kind == "Deployment"


def test_replicaset_defaults():
    rs = msgspec.convert({"metadata": {"name": "r"}, "spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": "i:latest"}]}}}}, ReplicaSet)
    apply_defaults(rs)
    assert rs.spec.replicas == 1
    assert rs.spec.template.spec.containers[0].imagePullPolicy == "Always"
    assert rs.spec.template.spec.restartPolicy == "Always"
    rs0 = msgspec.convert({"spec": {"replicas": 0}}, ReplicaSet)
    apply_defaults(rs0)
    assert rs0.spec.replicas == 0


# --------------------------------------------------------------------- Service


def test_service_defaults():
    s = msgspec.convert({"metadata": {"name": "s"}, "spec": {
        "selector": {"app": "a"}, "ports": [{"port": 80}, {"port": 53, "protocol": "UDP",
                                                          "targetPort": "dns"}]}}, Service)
    apply_defaults(s)
    sp = s.spec
    assert sp.type == "ClusterIP"
    assert sp.sessionAffinity == "None"
    assert sp.ports[0].protocol == "TCP" and sp.ports[0].targetPort == 80
    assert sp.ports[1].protocol == "UDP" and sp.ports[1].targetPort == "dns"
    assert sp.internalTrafficPolicy == "Cluster"
    assert sp.ipFamilies == ["IPv4"] and sp.ipFamilyPolicy == "SingleStack"
    assert sp.externalTrafficPolicy is None
    assert sp.sessionAffinityConfig is None


def test_service_nodeport_and_loadbalancer():
    s = msgspec.convert({"spec": {"type": "NodePort", "ports": [{"port": 80, "targetPort": 8080,
                                                                 "nodePort": 30007}]}}, Service)
    apply_defaults(s)
    assert s.spec.externalTrafficPolicy == "Cluster"
    assert s.spec.ports[0].targetPort == 8080 and s.spec.ports[0].nodePort == 30007
    lb = msgspec.convert({"spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local"}},
                         Service)
    apply_defaults(lb)
    assert lb.spec.allocateLoadBalancerNodePorts is True
    assert lb.spec.externalTrafficPolicy == "Local"


def test_service_session_affinity_client_ip():
    s = msgspec.convert({"spec": {"sessionAffinity": "ClientIP"}}, Service)
    apply_defaults(s)
    assert s.spec.sessionAffinityConfig.clientIP.timeoutSeconds == 10800
    s2 = msgspec.convert({"spec": {"sessionAffinity": "ClientIP", "sessionAffinityConfig": {
        "clientIP": {"timeoutSeconds": 60}}}}, Service)
    apply_defaults(s2)
    assert s2.spec.sessionAffinityConfig.clientIP.timeoutSeconds == 60


def test_service_external_name_has_no_ip_families():
    s = msgspec.convert({"spec": {"type": "ExternalName", "externalName": "example.com"}},
                        Service)
    apply_defaults(s)
    assert s.spec.ipFamilies is None and s.spec.ipFamilyPolicy is None
    assert s.spec.internalTrafficPolicy is None


def test_service_user_values_kept():
    s = msgspec.convert({"spec": {"type": "ClusterIP", "sessionAffinity": "None",
                                  "internalTrafficPolicy": "Local", "ipFamilyPolicy":
                                  "PreferDualStack", "ipFamilies": ["IPv6"]}}, Service)
    apply_defaults(s)
    assert s.spec.internalTrafficPolicy == "Local"
    assert s.spec.ipFamilyPolicy == "PreferDualStack" and s.spec.ipFamilies == ["IPv6"]


# --------------------------------------------------------------- other kinds


def test_secret_type():
    s = msgspec.convert({"metadata": {"name": "s"}, "data": {"a": "YQ=="}}, Secret)
    apply_defaults(s)
    assert s.type == "Opaque"
    t = msgspec.convert({"type": "kubernetes.io/tls"}, Secret)
    apply_defaults(t)
    assert t.type == "kubernetes.io/tls"


def test_namespace_defaults():
    ns = msgspec.convert({"metadata": {"name": "team-a"}}, Namespace)
    apply_defaults(ns)
    assert ns.spec.finalizers == ["kubernetes"]
    assert ns.status.phase == "Active"
    assert ns.metadata.labels == {"kubernetes.io/metadata.name": "team-a"}
    mine = msgspec.convert({"metadata": {"name": "b", "labels": {"x": "y"}},
                            "spec": {"finalizers": ["example.com/f"]}}, Namespace)
    apply_defaults(mine)
    assert mine.spec.finalizers == ["example.com/f"]
    assert mine.metadata.labels == {"x": "y", "kubernetes.io/metadata.name": "b"}


def test_namespace_finalizer_not_readded_while_terminating():
    ns = msgspec.convert({"metadata": {"name": "gone", "deletionTimestamp": "2024-01-01T00:00:00Z"},
                          "spec": {}}, Namespace)
    apply_defaults(ns)
    assert ns.spec.finalizers is None
    emptied = msgspec.convert({"metadata": {"name": "x"}, "spec": {"finalizers": []}}, Namespace)
    apply_defaults(emptied)
    assert emptied.spec.finalizers == []


def test_node_allocatable_from_capacity():
    n = msgspec.convert({"metadata": {"name": "n"}, "status": {"capacity": {"cpu": 4,
                                                                            "memory": "8Gi"}}},
                        Node)
    apply_defaults(n)
    assert n.status.capacity == {"cpu": "4", "memory": "8Gi"}
    assert n.status.allocatable == {"cpu": "4", "memory": "8Gi"}
    assert n.status.allocatable is not n.status.capacity


def test_endpoints_port_protocol():
    ep = msgspec.convert({"subsets": [{"ports": [{"port": 80}, {"port": 53,
                                                                "protocol": "UDP"}]}]}, Endpoints)
    apply_defaults(ep)
    assert [p.protocol for p in ep.subsets[0].ports] == ["TCP", "UDP"]


@pytest.mark.parametrize(("typ", "av", "kind"), [
    (ConfigMap, "v1", "ConfigMap"), (Event, "v1", "Event"),
    (Lease, "coordination.k8s.io/v1", "Lease"),
])
def test_kinds_without_defaults_only_get_type_meta(typ, av, kind):
    obj = typ()
    apply_defaults(obj)
    assert (obj.apiVersion, obj.kind) == (av, kind)
    doc = _doc(obj)
    assert set(doc) == {"apiVersion", "kind", "metadata"}


def test_defaulting_is_cheap():
    raw = msgspec.json.encode(msgspec.yaml.decode(NGINX, type=Deployment).spec.template)
    body = b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"app":"nginx"}},' \
           b'"spec":' + raw[raw.index(b'"spec":') + 7:-1] + b"}"
    dec = msgspec.json.Decoder(Pod)
    enc = msgspec.json.Encoder()
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        p = dec.decode(body)
        apply_defaults(p)
        enc.encode(p)
    per_sec = n / (time.perf_counter() - t0)
    # Decode + default + encode must leave the apiserver ample room for 1,000 creates/s.
    assert per_sec > 5000, per_sec
