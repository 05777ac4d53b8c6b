"""Unit tests for kubelite.api.validation: Kubernetes' rules, field paths and messages."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from kubelite.api.apps_v1 import Deployment, ReplicaSet
from kubelite.api.coordination_v1 import Lease
from kubelite.api.core_v1 import (
    Binding,
    ConfigMap,
    Endpoints,
    Event,
    Namespace,
    Node,
    Pod,
    Secret,
    Service,
)
from kubelite.api.defaults import apply_defaults
from kubelite.api.meta import ObjectMeta
from kubelite.api.validation import validate, validate_update
from kubelite.api.validation.names import (
    is_c_identifier,
    is_config_map_key,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_env_var_name,
    is_qualified_name,
    is_valid_label_value,
    is_valid_port_name,
    name_is_dns_label,
    name_is_dns_subdomain,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.errors import FieldError, invalid_object

Mutator = Callable[[dict[str, Any]], None]


def build(kind: type, data: dict[str, Any]) -> Any:
    return msgspec.convert(data, type=kind)


def where(errors: list[FieldError]) -> set[tuple[str, str]]:
    return {(e.field, e.type) for e in errors}


def set_path(path: str, value: Any) -> Mutator:
    """A mutator setting a dotted path ("spec.containers.0.name") in a manifest dict."""

    def mutate(d: dict[str, Any]) -> None:
        parts = path.split(".")
        target: Any = d
        for part in parts[:-1]:
            target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
        last = parts[-1]
        if isinstance(target, list):
            target[int(last)] = value
        elif value is _DELETE:
            target.pop(last, None)
        else:
            target[last] = value

    return mutate


_DELETE = object()


def check_rule(kind: type, valid: dict[str, Any], mutate: Mutator, field: str, type_: str) -> None:
    manifest = copy.deepcopy(valid)
    mutate(manifest)
    errors = validate(build(kind, manifest))
    assert (field, type_) in where(errors), [str(e) for e in errors]


# --------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------


def test_dns1123_label_rules_and_messages() -> None:
    assert is_dns1123_label("my-name") == []
    assert is_dns1123_label("123-abc") == []
    assert is_dns1123_label("a.b") == ["must not contain dots"]
    (msg,) = is_dns1123_label("Bad_Name")
    assert msg.startswith("a lowercase RFC 1123 label must consist of lower case alphanumeric")
    assert "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?'" in msg
    assert "must be no more than 63 characters" in is_dns1123_label("a" * 64)
    assert is_dns1123_label("-a") != [] and is_dns1123_label("a-") != []


def test_subdomain_and_dns1035() -> None:
    assert is_dns1123_subdomain("example.com") == []
    assert is_dns1123_subdomain("Example.com") != []
    assert "must be no more than 253 characters" in is_dns1123_subdomain("a" * 254)
    assert is_dns1035_label("abc-123") == []
    (msg,) = is_dns1035_label("1abc")
    assert msg.startswith("a DNS-1035 label must consist of")


def test_qualified_names_and_label_values() -> None:
    assert is_qualified_name("app") == []
    assert is_qualified_name("example.com/My.Name_1") == []
    assert is_qualified_name("a/b/c") != []
    assert is_qualified_name("/x") == ["prefix part must be non-empty"]
    assert is_qualified_name("Bad_Prefix/x") != []
    assert is_valid_label_value("") == []
    assert is_valid_label_value("v1.2_x") == []
    assert is_valid_label_value("-bad") != []
    assert "must be no more than 63 characters" in is_valid_label_value("a" * 64)


def test_identifier_rules() -> None:
    assert is_env_var_name("MY_ENV.name-1") == []
    assert is_env_var_name("1ABC") != []
    assert is_env_var_name("..") == ["must not be '..'"]
    assert is_c_identifier("_ok1") == [] and is_c_identifier("no-dash") != []
    assert is_config_map_key("key.name") == [] and is_config_map_key("a/b") != []
    assert "must not start with '..'" in is_config_map_key("..x")
    assert is_valid_port_name("http") == []
    assert is_valid_port_name("80") == ["must contain at least one letter (a-z)"]
    assert "must not contain consecutive hyphens" in is_valid_port_name("a--b")
    assert "must be no more than 15 characters" in is_valid_port_name("a" * 16)


def test_generate_name_may_end_with_dash() -> None:
    assert name_is_dns_subdomain("web-", True) == []
    assert name_is_dns_subdomain("web-", False) != []


def test_object_meta_name_rules() -> None:
    errors = validate_object_meta(ObjectMeta(name="Bad_Name", namespace="default"), namespaced=True)
    assert where(errors) == {("metadata.name", "Invalid")}
    assert str(errors[0]).startswith(
        'metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist'
    )
    errors = validate_object_meta(ObjectMeta(namespace="default"), namespaced=True)
    assert [str(e) for e in errors] == ["metadata.name: Required value: name or generateName is required"]
    assert validate_object_meta(ObjectMeta(generateName="web-", namespace="ns"), namespaced=True) == []
    errors = validate_object_meta(
        ObjectMeta(generateName="Web_", namespace="ns"), namespaced=True, name_fn=name_is_dns_label
    )
    assert where(errors) == {("metadata.generateName", "Invalid")}


def test_object_meta_namespace_scope() -> None:
    assert where(validate_object_meta(ObjectMeta(name="a"), namespaced=True)) == {
        ("metadata.namespace", "Required")
    }
    assert where(validate_object_meta(ObjectMeta(name="a", namespace="Bad_NS"), namespaced=True)) == {
        ("metadata.namespace", "Invalid")
    }
    errors = validate_object_meta(ObjectMeta(name="a", namespace="x"), namespaced=False)
    assert [str(e) for e in errors] == ["metadata.namespace: Forbidden: not allowed on this type"]


def test_object_meta_labels_annotations_owners_finalizers() -> None:
    meta = build(ObjectMeta, {
        "name": "a",
        "namespace": "ns",
        "labels": {"good": "v", "bad key": "v", "k": "bad value"},
        "annotations": {"Example.COM/Key": "fine", "x": "y" * (256 * 1024)},
        "ownerReferences": [{"apiVersion": "", "kind": "", "name": "", "uid": ""}],
        "finalizers": ["orphan", "foregroundDeletion", "bad finalizer"],
    })
    errors = validate_object_meta(meta, namespaced=True)
    found = where(errors)
    assert [e.value for e in errors if e.field == "metadata.labels"] == ["bad key", "bad value"]
    assert ("metadata.annotations", "TooLong") in found
    assert ("metadata.annotations", "Invalid") not in found  # case does not matter in keys
    for child in ("apiVersion", "kind", "name", "uid"):
        assert (f"metadata.ownerReferences.{child}", "Invalid") in found
    finalizer_errors = [str(e) for e in errors if e.field == "metadata.finalizers"]
    assert len(finalizer_errors) == 2
    assert any("finalizer orphan and foregroundDeletion cannot be both set" in m for m in finalizer_errors)


def test_only_one_controller_owner() -> None:
    ref = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "uid": "u", "controller": True}
    meta = build(
        ObjectMeta,
        {"name": "a", "namespace": "n", "ownerReferences": [{**ref, "name": "x"}, {**ref, "name": "y"}]},
    )
    (error,) = validate_object_meta(meta, namespaced=True)
    assert error.field == "metadata.ownerReferences"
    assert "Only one reference can have Controller set to true" in error.detail
    assert "ReplicaSet/x and ReplicaSet/y" in error.detail


def test_object_meta_update_immutable_fields() -> None:
    old = ObjectMeta(name="a", namespace="n", uid="u1", creationTimestamp="t1", generateName="a-")
    new = ObjectMeta(name="b", namespace="m", uid="u2", creationTimestamp="t2", generateName="zz-")
    errors = validate_object_meta_update(new, old)
    assert where(errors) == {
        ("metadata.name", "Invalid"),
        ("metadata.namespace", "Invalid"),
        ("metadata.uid", "Invalid"),
        ("metadata.creationTimestamp", "Invalid"),
    }
    assert all(e.detail == "field is immutable" for e in errors)
    # Empty uid/creationTimestamp mean "keep" (the apiserver carries them over).
    assert validate_object_meta_update(ObjectMeta(name="a", namespace="n"), old) == []


def test_no_new_finalizers_while_deleting() -> None:
    old = ObjectMeta(name="a", namespace="n", deletionTimestamp="t", finalizers=["x.io/a"])
    new = ObjectMeta(name="a", namespace="n", deletionTimestamp="t", finalizers=["x.io/a", "x.io/b"])
    (error,) = validate_object_meta_update(new, old)
    assert error.field == "metadata.finalizers" and error.type == "Forbidden"
    assert '"x.io/b"' in error.detail
    assert validate_object_meta_update(
        ObjectMeta(name="a", namespace="n", deletionTimestamp="t"), old
    ) == []


# --------------------------------------------------------------------------
# Pod
# --------------------------------------------------------------------------

VALID_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web-0", "namespace": "default", "labels": {"app": "web"}},
    "spec": {
        "volumes": [
            {"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
            {"name": "conf", "configMap": {"name": "web-conf", "items": [{"key": "a", "path": "a.conf"}]}},
            {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
        ],
        "initContainers": [{"name": "init", "image": "busybox", "command": ["true"]}],
        "containers": [
            {
                "name": "web",
                "image": "nginx:1.27",
                "imagePullPolicy": "IfNotPresent",
                "ports": [
                    {"name": "http", "containerPort": 80, "protocol": "TCP"},
                    {"name": "metrics", "containerPort": 9090},
                ],
                "env": [
                    {"name": "MODE", "value": "prod"},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                    {
                        "name": "PASSWORD",
                        "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}},
                    },
                ],
                "envFrom": [{"configMapRef": {"name": "web-env"}}],
                "resources": {
                    "requests": {"cpu": "100m", "memory": "64Mi"},
                    "limits": {"cpu": "1", "memory": "128Mi"},
                },
                "volumeMounts": [
                    {"name": "data", "mountPath": "/data"},
                    {"name": "conf", "mountPath": "/etc/web", "subPath": "sub/dir"},
                ],
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5},
                "readinessProbe": {"tcpSocket": {"port": 80}, "successThreshold": 3},
                "startupProbe": {"exec": {"command": ["true"]}, "failureThreshold": 30},
                "lifecycle": {"preStop": {"sleep": {"seconds": 3}}},
            },
            {"name": "sidecar", "image": "busybox", "volumeMounts": [{"name": "host", "mountPath": "/log"}]},
        ],
        "restartPolicy": "Always",
        "dnsPolicy": "ClusterFirst",
        "topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
             "labelSelector": {"matchLabels": {"app": "web"}}, "minDomains": 2},
            {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway"},
        ],
        "terminationGracePeriodSeconds": 30,
        "activeDeadlineSeconds": 3600,
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"},
            {"operator": "Exists"},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300},
        ],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}
                    ]
                },
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 10, "preference": {"matchExpressions": [{"key": "ssd", "operator": "Exists"}]}}
                ],
            },
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}
                ]
            },
        },
    },
}


def test_valid_pod_passes() -> None:
    assert validate(build(Pod, VALID_POD)) == []


def test_minimal_pod_passes_before_defaulting() -> None:
    pod = build(Pod, {"metadata": {"name": "p", "namespace": "d"},
                      "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    assert validate(pod) == []


POD_RULES = [
    ("no containers", set_path("spec.containers", []), "spec.containers", "Required"),
    ("no spec", set_path("spec", _DELETE), "spec.containers", "Required"),
    ("bad container name", set_path("spec.containers.1.name", "Side_Car"), "spec.containers[1].name", "Invalid"),
    ("missing container name", set_path("spec.containers.1.name", ""), "spec.containers[1].name", "Required"),
    ("duplicate container", set_path("spec.containers.1.name", "web"), "spec.containers[1].name", "Duplicate"),
    ("init duplicates container", set_path("spec.initContainers.0.name", "web"),
     "spec.initContainers[0].name", "Duplicate"),
    ("missing image", set_path("spec.containers.1.image", _DELETE), "spec.containers[1].image", "Required"),
    ("image whitespace", set_path("spec.containers.1.image", " busybox"), "spec.containers[1].image", "Invalid"),
    ("pull policy", set_path("spec.containers.1.imagePullPolicy", "Sometimes"),
     "spec.containers[1].imagePullPolicy", "NotSupported"),
    ("port zero", set_path("spec.containers.0.ports.0.containerPort", 0),
     "spec.containers[0].ports[0].containerPort", "Required"),
    ("port range", set_path("spec.containers.0.ports.0.containerPort", 65536),
     "spec.containers[0].ports[0].containerPort", "Invalid"),
    ("host port range", set_path("spec.containers.0.ports.0.hostPort", -1),
     "spec.containers[0].ports[0].hostPort", "Invalid"),
    ("port name rule", set_path("spec.containers.0.ports.0.name", "HTTP"),
     "spec.containers[0].ports[0].name", "Invalid"),
    ("port name duplicate", set_path("spec.containers.0.ports.1.name", "http"),
     "spec.containers[0].ports[1].name", "Duplicate"),
    ("protocol", set_path("spec.containers.0.ports.0.protocol", "HTTP"),
     "spec.containers[0].ports[0].protocol", "NotSupported"),
    ("env name", set_path("spec.containers.0.env.0.name", "1BAD"), "spec.containers[0].env[0].name", "Invalid"),
    ("env name required", set_path("spec.containers.0.env.0.name", ""),
     "spec.containers[0].env[0].name", "Required"),
    ("value and valueFrom", set_path("spec.containers.0.env.1.value", "x"),
     "spec.containers[0].env[1].valueFrom", "Invalid"),
    ("empty valueFrom", set_path("spec.containers.0.env.1.valueFrom", {}),
     "spec.containers[0].env[1].valueFrom", "Invalid"),
    ("two valueFrom sources", set_path("spec.containers.0.env.1.valueFrom.configMapKeyRef", {"name": "c", "key": "k"}),
     "spec.containers[0].env[1].valueFrom", "Invalid"),
    ("fieldRef path", set_path("spec.containers.0.env.1.valueFrom.fieldRef.fieldPath", "spec.containers"),
     "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath", "NotSupported"),
    ("secretKeyRef key", set_path("spec.containers.0.env.3.valueFrom.secretKeyRef.key", "a/b"),
     "spec.containers[0].env[3].valueFrom.secretKeyRef.key", "Invalid"),
    ("envFrom without source", set_path("spec.containers.0.envFrom.0", {"prefix": "X_"}),
     "spec.containers[0].envFrom[0]", "Invalid"),
    ("bad quantity", set_path("spec.containers.0.resources.limits.memory", "lots"),
     "spec.containers[0].resources.limits[memory]", "Invalid"),
    ("negative quantity", set_path("spec.containers.0.resources.requests.cpu", "-1"),
     "spec.containers[0].resources.requests[cpu]", "Invalid"),
    ("unknown resource", set_path("spec.containers.0.resources.limits.gpu", "1"),
     "spec.containers[0].resources.limits[gpu]", "Invalid"),
    ("request above limit", set_path("spec.containers.0.resources.requests.memory", "1Gi"),
     "spec.containers[0].resources.requests", "Invalid"),
    ("probe without handler", set_path("spec.containers.0.livenessProbe.httpGet", _DELETE),
     "spec.containers[0].livenessProbe", "Required"),
    ("probe with two handlers", set_path("spec.containers.0.livenessProbe.exec", {"command": ["x"]}),
     "spec.containers[0].livenessProbe.httpGet", "Forbidden"),
    ("negative probe timing", set_path("spec.containers.0.readinessProbe.periodSeconds", -1),
     "spec.containers[0].readinessProbe.periodSeconds", "Invalid"),
    ("liveness success threshold", set_path("spec.containers.0.livenessProbe.successThreshold", 2),
     "spec.containers[0].livenessProbe.successThreshold", "Invalid"),
    ("probe port", set_path("spec.containers.0.readinessProbe.tcpSocket.port", 0),
     "spec.containers[0].readinessProbe.tcpSocket.port", "Invalid"),
    ("exec without command", set_path("spec.containers.0.startupProbe.exec.command", []),
     "spec.containers[0].startupProbe.exec.command", "Required"),
    ("probe on init container", set_path("spec.initContainers.0.readinessProbe", {"exec": {"command": ["x"]}}),
     "spec.initContainers[0].readinessProbe", "Forbidden"),
    ("restartPolicy on container", set_path("spec.containers.1.restartPolicy", "Always"),
     "spec.containers[1].restartPolicy", "Forbidden"),
    ("duplicate volume", set_path("spec.volumes.1.name", "data"), "spec.volumes[1].name", "Duplicate"),
    ("bad volume name", set_path("spec.volumes.0.name", "Data"), "spec.volumes[0].name", "Invalid"),
    ("volume without source", set_path("spec.volumes.0", {"name": "data"}), "spec.volumes[0]", "Required"),
    ("volume with two sources", set_path("spec.volumes.0.secret", {"secretName": "s"}),
     "spec.volumes[0].secret", "Forbidden"),
    ("hostPath path", set_path("spec.volumes.2.hostPath.path", ""), "spec.volumes[2].hostPath.path", "Required"),
    ("hostPath type", set_path("spec.volumes.2.hostPath.type", "Dir"), "spec.volumes[2].hostPath.type", "NotSupported"),
    ("configMap name", set_path("spec.volumes.1.configMap.name", _DELETE), "spec.volumes[1].configMap.name", "Required"),
    ("item path escapes", set_path("spec.volumes.1.configMap.items.0.path", "../x"),
     "spec.volumes[1].configMap.items[0].path", "Invalid"),
    ("mount of unknown volume", set_path("spec.containers.0.volumeMounts.0.name", "nope"),
     "spec.containers[0].volumeMounts[0].name", "NotFound"),
    ("mount path required", set_path("spec.containers.0.volumeMounts.0.mountPath", ""),
     "spec.containers[0].volumeMounts[0].mountPath", "Required"),
    ("mount path unique", set_path("spec.containers.0.volumeMounts.1.mountPath", "/data"),
     "spec.containers[0].volumeMounts[1].mountPath", "Invalid"),
    ("absolute subPath", set_path("spec.containers.0.volumeMounts.1.subPath", "/abs"),
     "spec.containers[0].volumeMounts[1].subPath", "Invalid"),
    ("restartPolicy", set_path("spec.restartPolicy", "Sometimes"), "spec.restartPolicy", "NotSupported"),
    ("dnsPolicy", set_path("spec.dnsPolicy", "Cluster"), "spec.dnsPolicy", "NotSupported"),
    ("dnsPolicy None without config", set_path("spec.dnsPolicy", "None"), "spec.dnsConfig", "Required"),
    ("grace period", set_path("spec.terminationGracePeriodSeconds", -1),
     "spec.terminationGracePeriodSeconds", "Invalid"),
    ("deadline", set_path("spec.activeDeadlineSeconds", 0), "spec.activeDeadlineSeconds", "Invalid"),
    ("nodeName", set_path("spec.nodeName", "Node_1"), "spec.nodeName", "Invalid"),
    ("hostname", set_path("spec.hostname", "a.b"), "spec.hostname", "Invalid"),
    ("nodeSelector key", set_path("spec.nodeSelector", {"bad key": "x"}), "spec.nodeSelector", "Invalid"),
    ("nodeSelector value", set_path("spec.nodeSelector", {"k": "bad value"}), "spec.nodeSelector", "Invalid"),
    ("toleration operator", set_path("spec.tolerations.0.operator", "Like"),
     "spec.tolerations[0].operator", "NotSupported"),
    ("toleration effect", set_path("spec.tolerations.0.effect", "NoRun"), "spec.tolerations[0].effect", "NotSupported"),
    ("toleration exists with value", set_path("spec.tolerations.1.value", "x"),
     "spec.tolerations[1].operator", "Invalid"),
    ("toleration empty key needs Exists", set_path("spec.tolerations.1.operator", "Equal"),
     "spec.tolerations[1].operator", "Invalid"),
    ("tolerationSeconds needs NoExecute", set_path("spec.tolerations.2.effect", "NoSchedule"),
     "spec.tolerations[2].effect", "Invalid"),
    ("toleration key", set_path("spec.tolerations.0.key", "bad key"), "spec.tolerations[0].key", "Invalid"),
    ("no node selector terms",
     set_path("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms", []),
     "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms", "Required"),
    ("In without values",
     set_path("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms.0."
              "matchExpressions.0.values", []),
     "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]."
     "matchExpressions[0].values", "Required"),
    ("bad node selector operator",
     set_path("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms.0."
              "matchExpressions.0.operator", "Has"),
     "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]."
     "matchExpressions[0].operator", "Invalid"),
    ("preferred weight",
     set_path("spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution.0.weight", 101),
     "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight", "Invalid"),
    ("Exists with values",
     set_path("spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution.0.preference."
              "matchExpressions.0.values", ["x"]),
     "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference."
     "matchExpressions[0].values", "Forbidden"),
    ("anti-affinity topologyKey",
     set_path("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution.0.topologyKey", ""),
     "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", "Required"),
    ("maxSkew", set_path("spec.topologySpreadConstraints.0.maxSkew", 0),
     "spec.topologySpreadConstraints[0].maxSkew", "Invalid"),
    ("spread topologyKey", set_path("spec.topologySpreadConstraints.0.topologyKey", ""),
     "spec.topologySpreadConstraints[0].topologyKey", "Required"),
    ("whenUnsatisfiable", set_path("spec.topologySpreadConstraints.1.whenUnsatisfiable", "Maybe"),
     "spec.topologySpreadConstraints[1].whenUnsatisfiable", "NotSupported"),
    ("minDomains needs DoNotSchedule", set_path("spec.topologySpreadConstraints.1.minDomains", 2),
     "spec.topologySpreadConstraints[1].minDomains", "Invalid"),
    ("repeated spread constraint",
     set_path("spec.topologySpreadConstraints.1", {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                                   "whenUnsatisfiable": "DoNotSchedule"}),
     "spec.topologySpreadConstraints[1].{topologyKey, whenUnsatisfiable}", "Duplicate"),
    ("terminationMessagePolicy", set_path("spec.containers.0.terminationMessagePolicy", "Logs"),
     "spec.containers[0].terminationMessagePolicy", "NotSupported"),
    ("pod name", set_path("metadata.name", "Bad_Name"), "metadata.name", "Invalid"),
    ("pod namespace", set_path("metadata.namespace", _DELETE), "metadata.namespace", "Required"),
]


@pytest.mark.parametrize(("mutate", "field", "type_"), [r[1:] for r in POD_RULES], ids=[r[0] for r in POD_RULES])
def test_pod_rule(mutate: Mutator, field: str, type_: str) -> None:
    check_rule(Pod, VALID_POD, mutate, field, type_)


def test_pod_messages_match_kubernetes() -> None:
    manifest = copy.deepcopy(VALID_POD)
    manifest["spec"]["containers"][1]["name"] = "web"
    manifest["spec"]["restartPolicy"] = "Sometimes"
    manifest["spec"]["containers"][0]["resources"]["requests"]["memory"] = "1Gi"
    manifest["spec"]["containers"][0]["volumeMounts"][0]["name"] = "nope"
    messages = {str(e) for e in validate(build(Pod, manifest))}
    assert 'spec.containers[1].name: Duplicate value: "web"' in messages
    assert (
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'
        in messages
    )
    assert (
        'spec.containers[0].resources.requests: Invalid value: "1Gi": must be less than or equal to '
        "memory limit of 128Mi" in messages
    )
    assert 'spec.containers[0].volumeMounts[0].name: Not found: "nope"' in messages


def test_several_errors_in_one_pod_are_all_reported() -> None:
    manifest = copy.deepcopy(VALID_POD)
    manifest["metadata"]["name"] = "Bad_Name"
    manifest["spec"]["containers"][1]["name"] = "web"
    manifest["spec"]["containers"][0]["ports"][0]["containerPort"] = 0
    manifest["spec"]["dnsPolicy"] = "Nope"
    manifest["spec"]["volumes"][1]["name"] = "data"
    found = where(validate(build(Pod, manifest)))
    assert {
        ("metadata.name", "Invalid"),
        ("spec.containers[1].name", "Duplicate"),
        ("spec.containers[0].ports[0].containerPort", "Required"),
        ("spec.dnsPolicy", "NotSupported"),
        ("spec.volumes[1].name", "Duplicate"),
    } <= found
    status = invalid_object("Pod", "Bad_Name", validate(build(Pod, manifest)))
    assert status.code == 422 and status.message.startswith('Pod "Bad_Name" is invalid: [')


def _stored_pod() -> Pod:
    pod = build(Pod, VALID_POD)
    pod.metadata.uid = "uid-1"
    pod.metadata.resourceVersion = "5"
    return pod


def _pod_update(mutate: Mutator) -> list[FieldError]:
    old = _stored_pod()
    manifest = msgspec.to_builtins(old)
    mutate(manifest)
    return validate_update(build(Pod, manifest), old)


def test_pod_update_allows_images_deadline_tolerations_and_labels() -> None:
    def change(d: dict[str, Any]) -> None:
        d["spec"]["containers"][0]["image"] = "nginx:1.28"
        d["spec"]["initContainers"][0]["image"] = "busybox:2"
        d["spec"]["activeDeadlineSeconds"] = 60
        d["spec"]["tolerations"].append({"key": "extra", "operator": "Exists"})
        d["spec"]["tolerations"][2]["tolerationSeconds"] = 10
        d["metadata"]["labels"]["version"] = "2"

    assert _pod_update(change) == []


def test_pod_update_may_remove_scheduling_gates() -> None:
    old = build(Pod, {**VALID_POD, "spec": {**VALID_POD["spec"], "schedulingGates": [{"name": "example.com/wait"}]}})
    new = build(Pod, VALID_POD)
    assert validate_update(new, old) == []


def test_pod_update_forbids_other_spec_changes() -> None:
    errors = _pod_update(set_path("spec.containers.0.ports.0.containerPort", 8080))
    (error,) = errors
    assert (error.field, error.type) == ("spec", "Forbidden")
    assert str(error).startswith(
        "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions "
        "to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
        "previously negative)\n"
    )
    assert "spec.containers[0].ports[0].containerPort: 80 -> 8080" in error.detail


@pytest.mark.parametrize(
    ("mutate", "field", "type_"),
    [
        (lambda d: d["spec"]["containers"].pop(), "spec.containers", "Forbidden"),
        (set_path("spec.activeDeadlineSeconds", 7200), "spec.activeDeadlineSeconds", "Invalid"),
        (set_path("spec.activeDeadlineSeconds", _DELETE), "spec.activeDeadlineSeconds", "Invalid"),
        (set_path("spec.tolerations", []), "spec.tolerations", "Forbidden"),
        (set_path("metadata.name", "other"), "metadata.name", "Invalid"),
        (set_path("metadata.uid", "uid-2"), "metadata.uid", "Invalid"),
        (set_path("spec.containers.0.name", "Bad_Name"), "spec.containers[0].name", "Invalid"),
        (set_path("spec.schedulingGates", [{"name": "example.com/wait"}]), "spec.schedulingGates", "Forbidden"),
    ],
    ids=["remove container", "raise deadline", "drop deadline", "remove toleration", "rename", "uid",
         "still validated", "add scheduling gate"],
)
def test_pod_update_rule(mutate: Mutator, field: str, type_: str) -> None:
    assert (field, type_) in where(_pod_update(mutate))


def test_binding_needs_node_target() -> None:
    assert validate(build(Binding, {"metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n1"}})) == []
    assert where(validate(build(Binding, {"target": {"kind": "Pod", "name": "x"}}))) == {
        ("target.kind", "NotSupported")
    }
    assert where(validate(build(Binding, {}))) == {("target.name", "Required")}


# --------------------------------------------------------------------------
# Service
# --------------------------------------------------------------------------

VALID_SERVICE: dict[str, Any] = {
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "type": "NodePort",
        "selector": {"app": "web"},
        "clusterIP": "10.96.0.10",
        "sessionAffinity": "ClientIP",
        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}},
        "ports": [
            {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP", "nodePort": 30080},
            {"name": "dns", "port": 53, "targetPort": 5353, "protocol": "UDP"},
            {"name": "dns-tcp", "port": 53, "targetPort": 5353, "protocol": "TCP"},
        ],
    },
}


def test_valid_services_pass() -> None:
    assert validate(build(Service, VALID_SERVICE)) == []
    headless = {"metadata": {"name": "db", "namespace": "d"}, "spec": {"clusterIP": "None", "selector": {"a": "b"}}}
    assert validate(build(Service, headless)) == []
    external = {"metadata": {"name": "ext", "namespace": "d"},
                "spec": {"type": "ExternalName", "externalName": "example.com."}}
    assert validate(build(Service, external)) == []


SERVICE_RULES = [
    ("name is DNS-1035", set_path("metadata.name", "1web"), "metadata.name", "Invalid"),
    ("type", set_path("spec.type", "Internal"), "spec.type", "NotSupported"),
    ("no ports", set_path("spec.ports", []), "spec.ports", "Required"),
    ("port range", set_path("spec.ports.0.port", 0), "spec.ports[0].port", "Invalid"),
    ("port name required when several", set_path("spec.ports.1.name", _DELETE), "spec.ports[1].name", "Required"),
    ("port name rule", set_path("spec.ports.1.name", "DNS"), "spec.ports[1].name", "Invalid"),
    ("duplicate port name", set_path("spec.ports.1.name", "http"), "spec.ports[1].name", "Duplicate"),
    ("duplicate port+protocol", set_path("spec.ports.2.protocol", "UDP"), "spec.ports[2]", "Duplicate"),
    ("protocol", set_path("spec.ports.0.protocol", "ICMP"), "spec.ports[0].protocol", "NotSupported"),
    ("targetPort number", set_path("spec.ports.1.targetPort", 70000), "spec.ports[1].targetPort", "Invalid"),
    ("targetPort name", set_path("spec.ports.0.targetPort", "Not_A_Name"), "spec.ports[0].targetPort", "Invalid"),
    ("nodePort on ClusterIP", set_path("spec.type", "ClusterIP"), "spec.ports[0].nodePort", "Forbidden"),
    ("duplicate nodePort", set_path("spec.ports.2.nodePort", 30080), "spec.ports[2].nodePort", "Duplicate"),
    ("clusterIP", set_path("spec.clusterIP", "10.96.0.300"), "spec.clusterIP", "Invalid"),
    ("headless NodePort", set_path("spec.clusterIP", "None"), "spec.clusterIP", "Invalid"),
    ("sessionAffinity", set_path("spec.sessionAffinity", "Sticky"), "spec.sessionAffinity", "NotSupported"),
    ("affinity timeout", set_path("spec.sessionAffinityConfig.clientIP.timeoutSeconds", 0),
     "spec.sessionAffinityConfig.clientIP.timeoutSeconds", "Invalid"),
    ("selector", set_path("spec.selector", {"app": "bad value"}), "spec.selector", "Invalid"),
    ("externalName required", set_path("spec.type", "ExternalName"), "spec.externalName", "Required"),
]


@pytest.mark.parametrize(("mutate", "field", "type_"), [r[1:] for r in SERVICE_RULES],
                         ids=[r[0] for r in SERVICE_RULES])
def test_service_rule(mutate: Mutator, field: str, type_: str) -> None:
    check_rule(Service, VALID_SERVICE, mutate, field, type_)


def test_service_cluster_ip_is_immutable() -> None:
    old = build(Service, VALID_SERVICE)
    changed = copy.deepcopy(VALID_SERVICE)
    changed["spec"]["clusterIP"] = "10.96.0.11"
    errors = validate_update(build(Service, changed), old)
    assert [str(e) for e in errors] == ['spec.clusterIP: Invalid value: "10.96.0.11": field is immutable']
    omitted = copy.deepcopy(VALID_SERVICE)
    del omitted["spec"]["clusterIP"]
    assert validate_update(build(Service, omitted), old) == []
    to_external = {"metadata": VALID_SERVICE["metadata"],
                   "spec": {"type": "ExternalName", "externalName": "example.com"}}
    assert validate_update(build(Service, to_external), old) == []


# --------------------------------------------------------------------------
# ConfigMap, Secret
# --------------------------------------------------------------------------


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_config_map_rules() -> None:
    good = {"metadata": {"name": "conf", "namespace": "d"}, "data": {"app.conf": "x", "KEY_1": "y"},
            "binaryData": {"blob.bin": b64("\x00\x01")}}
    assert validate(build(ConfigMap, good)) == []
    bad = copy.deepcopy(good)
    bad["data"]["bad/key"] = "z"
    bad["data"]["blob.bin"] = "dup"
    bad["binaryData"]["raw"] = "***"
    found = where(validate(build(ConfigMap, bad)))
    assert found == {("data[bad/key]", "Invalid"), ("data[blob.bin]", "Invalid"), ("binaryData[raw]", "Invalid")}
    big = {"metadata": {"name": "big", "namespace": "d"}, "data": {"a": "x" * (1024 * 1024 + 1)}}
    assert ("", "TooLong") in where(validate(build(ConfigMap, big)))


def test_immutable_config_map_and_secret() -> None:
    old = build(ConfigMap, {"metadata": {"name": "c", "namespace": "d"}, "data": {"a": "1"}, "immutable": True})
    new = build(ConfigMap, {"metadata": {"name": "c", "namespace": "d"}, "data": {"a": "2"}})
    assert where(validate_update(new, old)) == {("immutable", "Forbidden"), ("data", "Forbidden")}
    same = build(ConfigMap, {"metadata": {"name": "c", "namespace": "d"}, "data": {"a": "1"}, "immutable": True})
    assert validate_update(same, old) == []
    old_s = build(Secret, {"metadata": {"name": "s", "namespace": "d"}, "data": {"a": b64("1")},
                           "immutable": True, "type": "Opaque"})
    new_s = build(Secret, {"metadata": {"name": "s", "namespace": "d"}, "data": {"a": b64("2")},
                           "immutable": True, "type": "example.com/custom"})
    assert where(validate_update(new_s, old_s)) == {("data", "Forbidden"), ("type", "Invalid")}


def test_secret_rules() -> None:
    good = {"metadata": {"name": "s", "namespace": "d"}, "type": "kubernetes.io/tls",
            "data": {"tls.crt": b64("cert"), "tls.key": b64("key")}, "stringData": {"note": "plain"}}
    assert validate(build(Secret, good)) == []
    bad = copy.deepcopy(good)
    del bad["data"]["tls.key"]
    bad["data"]["tls.crt"] = "not base64!"
    bad["data"]["..x"] = b64("y")
    errors = validate(build(Secret, bad))
    assert where(errors) == {("data[tls.key]", "Required"), ("data[tls.crt]", "Invalid"), ("data[..x]", "Invalid")}
    (b64_error,) = [e for e in errors if e.field == "data[tls.crt]"]
    assert "not base64" not in str(b64_error)  # secret values are never echoed
    assert "illegal base64 data at input byte 3" in str(b64_error)


# --------------------------------------------------------------------------
# Namespace, Node, Endpoints, Event, Lease
# --------------------------------------------------------------------------


def test_namespace_rules() -> None:
    assert validate(build(Namespace, {"metadata": {"name": "team-a"}, "spec": {"finalizers": ["kubernetes"]}})) == []
    assert where(validate(build(Namespace, {"metadata": {"name": "team.a"}}))) == {("metadata.name", "Invalid")}
    assert where(validate(build(Namespace, {"metadata": {"name": "a", "namespace": "b"}}))) == {
        ("metadata.namespace", "Forbidden")
    }
    assert where(validate(build(Namespace, {"metadata": {"name": "a"}, "spec": {"finalizers": ["mine"]}}))) == {
        ("spec.finalizers", "Invalid")
    }


def test_node_rules() -> None:
    good = {"metadata": {"name": "node-1.example.com"},
            "spec": {"podCIDR": "10.244.1.0/24", "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}}
    assert validate(build(Node, good)) == []
    bad = copy.deepcopy(good)
    bad["metadata"]["name"] = "Node_1"
    bad["spec"]["podCIDR"] = "10.244.1.0/33"
    bad["spec"]["taints"] += [
        {"key": "dedicated", "value": "cpu", "effect": "NoSchedule"},
        {"key": "x", "effect": "NoRun"},
        {"key": "y"},
    ]
    assert where(validate(build(Node, bad))) == {
        ("metadata.name", "Invalid"),
        ("spec.podCIDR", "Invalid"),
        ("spec.taints[1]", "Duplicate"),
        ("spec.taints[2].effect", "NotSupported"),
        ("spec.taints[3].effect", "Required"),
    }
    changed = copy.deepcopy(good)
    changed["spec"]["podCIDR"] = "10.244.2.0/24"
    assert where(validate_update(build(Node, changed), build(Node, good))) == {("spec.podCIDRs", "Forbidden")}


def test_endpoints_rules() -> None:
    good = {"metadata": {"name": "web", "namespace": "d"}, "subsets": [
        {"addresses": [{"ip": "10.244.1.5", "nodeName": "node-1"}],
         "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "https", "port": 443}]}]}
    assert validate(build(Endpoints, good)) == []
    bad = copy.deepcopy(good)
    bad["subsets"][0]["addresses"][0]["ip"] = "10.244.1"
    bad["subsets"][0]["ports"][1] = {"port": 0, "protocol": "X"}
    bad["subsets"].append({"ports": [{"port": 1}]})
    assert where(validate(build(Endpoints, bad))) == {
        ("subsets[0].addresses[0].ip", "Invalid"),
        ("subsets[0].ports[1].name", "Required"),
        ("subsets[0].ports[1].port", "Invalid"),
        ("subsets[0].ports[1].protocol", "NotSupported"),
        ("subsets[1]", "Required"),
    }


def test_event_rules() -> None:
    good = {"metadata": {"name": "web-0.17a", "namespace": "d"},
            "involvedObject": {"kind": "Pod", "name": "web-0", "namespace": "d"}, "reason": "Started"}
    assert validate(build(Event, good)) == []
    node_event = {"metadata": {"name": "n.1", "namespace": "default"}, "involvedObject": {"kind": "Node", "name": "n"}}
    assert validate(build(Event, node_event)) == []
    assert where(validate(build(Event, {"metadata": {"name": "e", "namespace": "d"}}))) == {
        ("involvedObject", "Required")
    }
    other = copy.deepcopy(good)
    other["involvedObject"]["namespace"] = "elsewhere"
    assert where(validate(build(Event, other))) == {("involvedObject.namespace", "Invalid")}


def test_lease_is_loose() -> None:
    good = {"metadata": {"name": "kubelite-scheduler", "namespace": "kube-system"},
            "spec": {"holderIdentity": "host_1 pid 7", "leaseDurationSeconds": 15, "leaseTransitions": 0}}
    assert validate(build(Lease, good)) == []
    bad = copy.deepcopy(good)
    bad["spec"].update(leaseDurationSeconds=0, leaseTransitions=-1)
    assert where(validate(build(Lease, bad))) == {
        ("spec.leaseDurationSeconds", "Invalid"), ("spec.leaseTransitions", "Invalid")
    }


# --------------------------------------------------------------------------
# Deployment, ReplicaSet
# --------------------------------------------------------------------------

VALID_DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"},
                     "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]},
        "template": {
            "metadata": {"labels": {"app": "web", "tier": "front"}},
            "spec": {"containers": [{"name": "web", "image": "nginx"}]},
        },
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}},
        "minReadySeconds": 5,
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
    },
}


def test_valid_deployment_and_replica_set_pass() -> None:
    assert validate(build(Deployment, VALID_DEPLOYMENT)) == []
    rs = {"metadata": {"name": "web-5d8", "namespace": "default"},
          "spec": {k: VALID_DEPLOYMENT["spec"][k] for k in ("replicas", "selector", "template")}}
    assert validate(build(ReplicaSet, rs)) == []


DEPLOYMENT_RULES = [
    ("selector required", set_path("spec.selector", _DELETE), "spec.selector", "Required"),
    ("selector empty", set_path("spec.selector", {}), "spec.selector", "Invalid"),
    ("selector mismatch", set_path("spec.template.metadata.labels.app", "api"),
     "spec.template.metadata.labels", "Invalid"),
    ("selector operator", set_path("spec.selector.matchExpressions.0.operator", "Like"),
     "spec.selector.matchExpressions[0].operator", "Invalid"),
    ("template required", set_path("spec.template", _DELETE), "spec.template", "Required"),
    ("replicas", set_path("spec.replicas", -1), "spec.replicas", "Invalid"),
    ("template restartPolicy", set_path("spec.template.spec.restartPolicy", "OnFailure"),
     "spec.template.spec.restartPolicy", "NotSupported"),
    ("template container", set_path("spec.template.spec.containers.0.image", _DELETE),
     "spec.template.spec.containers[0].image", "Required"),
    ("template label value", set_path("spec.template.metadata.labels.extra", "bad value"),
     "spec.template.metadata.labels", "Invalid"),
    ("strategy type", set_path("spec.strategy.type", "BlueGreen"), "spec.strategy", "NotSupported"),
    ("rollingUpdate with Recreate", set_path("spec.strategy.type", "Recreate"),
     "spec.strategy.rollingUpdate", "Forbidden"),
    ("maxSurge negative", set_path("spec.strategy.rollingUpdate.maxSurge", -1),
     "spec.strategy.rollingUpdate.maxSurge", "Invalid"),
    ("maxSurge not a percent", set_path("spec.strategy.rollingUpdate.maxSurge", "25"),
     "spec.strategy.rollingUpdate.maxSurge", "Invalid"),
    ("maxUnavailable over 100%", set_path("spec.strategy.rollingUpdate.maxUnavailable", "101%"),
     "spec.strategy.rollingUpdate.maxUnavailable", "Invalid"),
    ("revisionHistoryLimit", set_path("spec.revisionHistoryLimit", -1), "spec.revisionHistoryLimit", "Invalid"),
    ("progressDeadline", set_path("spec.progressDeadlineSeconds", 5), "spec.progressDeadlineSeconds", "Invalid"),
    ("minReadySeconds", set_path("spec.minReadySeconds", -5), "spec.minReadySeconds", "Invalid"),
    ("name", set_path("metadata.name", "Web"), "metadata.name", "Invalid"),
]


@pytest.mark.parametrize(("mutate", "field", "type_"), [r[1:] for r in DEPLOYMENT_RULES],
                         ids=[r[0] for r in DEPLOYMENT_RULES])
def test_deployment_rule(mutate: Mutator, field: str, type_: str) -> None:
    check_rule(Deployment, VALID_DEPLOYMENT, mutate, field, type_)


def test_deployment_messages() -> None:
    manifest = copy.deepcopy(VALID_DEPLOYMENT)
    manifest["spec"]["template"]["metadata"]["labels"]["app"] = "api"
    manifest["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": 0, "maxUnavailable": "0%"}
    errors = validate(build(Deployment, manifest))
    details = {e.field: e.detail for e in errors}
    assert details["spec.template.metadata.labels"] == "`selector` does not match template `labels`"
    assert details["spec.strategy.rollingUpdate.maxUnavailable"] == "may not be 0 when `maxSurge` is 0"


def test_defaults_fill_strategy_when_unset() -> None:
    manifest = copy.deepcopy(VALID_DEPLOYMENT)
    del manifest["spec"]["strategy"]
    manifest["spec"]["progressDeadlineSeconds"] = None
    assert validate(build(Deployment, manifest)) == []


def test_replica_set_rules() -> None:
    rs = {"metadata": {"name": "web-1", "namespace": "d"},
          "spec": {"replicas": -2, "selector": {"matchLabels": {"app": "web"}},
                   "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": []}}}}
    assert where(validate(build(ReplicaSet, rs))) == {
        ("spec.replicas", "Invalid"),
        ("spec.template.metadata.labels", "Invalid"),
        ("spec.template.spec.containers", "Required"),
    }


@pytest.mark.parametrize("kind", [Deployment, ReplicaSet])
def test_selector_is_immutable(kind: type) -> None:
    spec = {k: VALID_DEPLOYMENT["spec"][k] for k in ("replicas", "selector", "template")}
    old = build(kind, {"metadata": {"name": "web", "namespace": "d"}, "spec": spec})
    scaled = copy.deepcopy(spec)
    scaled["replicas"] = 10
    assert validate_update(build(kind, {"metadata": {"name": "web", "namespace": "d"}, "spec": scaled}), old) == []
    changed = copy.deepcopy(spec)
    changed["selector"] = {"matchLabels": {"app": "web", "tier": "front"}}
    errors = validate_update(build(kind, {"metadata": {"name": "web", "namespace": "d"}, "spec": changed}), old)
    assert [(e.field, e.type, e.detail) for e in errors] == [("spec.selector", "Invalid", "field is immutable")]


# --------------------------------------------------------------------------
# dispatch
# --------------------------------------------------------------------------


def test_unknown_types_get_metadata_checks_only() -> None:
    class Widget(msgspec.Struct, kw_only=True):
        metadata: ObjectMeta
        spec: dict[str, Any] | None = None

    assert validate(Widget(metadata=ObjectMeta(name="ok", namespace="n"), spec={"anything": -1})) == []
    assert where(validate(Widget(metadata=ObjectMeta(name="Not OK")))) == {("metadata.name", "Invalid")}
    old = Widget(metadata=ObjectMeta(name="a", namespace="n"))
    assert where(validate_update(Widget(metadata=ObjectMeta(name="b", namespace="n")), old)) == {
        ("metadata.name", "Invalid")
    }


@pytest.mark.parametrize(
    ("kind", "manifest"),
    [(Pod, VALID_POD), (Service, VALID_SERVICE), (Deployment, VALID_DEPLOYMENT)],
    ids=["pod", "service", "deployment"],
)
def test_defaulted_objects_stay_valid(kind: type, manifest: dict[str, Any]) -> None:
    """The apiserver defaults before validating; defaulting must not produce invalid objects."""
    obj = build(kind, copy.deepcopy(manifest))
    apply_defaults(obj)
    assert validate(obj) == []


def test_pod_status_update() -> None:
    from kubelite.api.validation import validate_status_update

    old = _stored_pod()
    new = build(Pod, {**msgspec.to_builtins(old), "status": {
        "phase": "Running", "podIP": "10.244.1.7",
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "example.com/Gate", "status": "True"}]}})
    assert validate_status_update(new, old) == []
    bad = build(Pod, {**msgspec.to_builtins(new), "status": {"podIP": "10.244.1", "conditions": [{"type": "bad type"}]}})
    bad.spec.nodeName = "node-9"
    assert where(validate_status_update(bad, old)) == {
        ("status.nodeName", "Forbidden"), ("status.podIP", "Invalid"), ("metadata.conditions[0].Type", "Invalid")
    }


# ---- ephemeral containers (kubectl debug) --------------------------------------------------
def _with_ephemeral(*containers: dict[str, Any]) -> dict[str, Any]:
    manifest = msgspec.to_builtins(_stored_pod())
    manifest["spec"]["ephemeralContainers"] = list(containers)
    return manifest


def _ephemeral_update(old: Pod, *containers: dict[str, Any]) -> list[tuple[str, str, str]]:
    from kubelite.api.validation import validate_ephemeral_update

    new = build(Pod, {**msgspec.to_builtins(old), "spec": {**msgspec.to_builtins(old.spec),
                                                            "ephemeralContainers": list(containers)}})
    return [(e.field, e.type, e.detail) for e in validate_ephemeral_update(new, old)]


DEBUGGER = {"name": "debugger", "image": "busybox", "stdin": True, "tty": True}


def test_ephemeral_containers_cannot_be_set_on_create() -> None:
    errors = validate(build(Pod, _with_ephemeral(DEBUGGER)))
    assert [(e.field, e.type, e.detail) for e in errors] == [
        ("spec.ephemeralContainers", "Forbidden", "cannot be set on create")]


def test_ephemeral_containers_are_added_never_removed_or_changed() -> None:
    old = _stored_pod()
    target = old.spec.containers[0].name
    assert _ephemeral_update(old, {**DEBUGGER, "targetContainerName": target, "resources": {}}) == []
    with_one = build(Pod, _with_ephemeral(DEBUGGER))
    assert _ephemeral_update(with_one, DEBUGGER, {**DEBUGGER, "name": "second"}) == []
    assert _ephemeral_update(with_one) == [
        ("spec.ephemeralContainers", "Forbidden", "existing ephemeral containers 'debugger' may not be removed")]
    assert _ephemeral_update(with_one, {**DEBUGGER, "image": "other"}) == [
        ("spec.ephemeralContainers", "Forbidden", "existing ephemeral containers 'debugger' may not be changed")]


def test_ephemeral_container_rules() -> None:
    old = _stored_pod()
    existing = old.spec.containers[0].name
    errors = _ephemeral_update(old, {**DEBUGGER, "name": existing, "ports": [{"containerPort": 80}],
                                     "readinessProbe": {"exec": {"command": ["true"]}},
                                     "targetContainerName": "nosuch"})
    assert errors == [
        ("spec.ephemeralContainers[0].ports", "Forbidden", "cannot be set for an Ephemeral Container"),
        ("spec.ephemeralContainers[0].readinessProbe", "Forbidden", "cannot be set for an Ephemeral Container"),
        ("spec.ephemeralContainers[0].name", "Duplicate", ""),
        ("spec.ephemeralContainers[0].targetContainerName", "NotFound", ""),
    ]
    assert _ephemeral_update(old, {"name": "noimage"}) == [
        ("spec.ephemeralContainers[0].image", "Required", "")]
