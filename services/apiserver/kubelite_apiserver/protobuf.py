"""Request bodies in Kubernetes' protobuf encoding, decoded into the JSON shape.

Recent kubectl releases send typed create/update bodies (`kubectl create
namespace|configmap|secret|deployment|service`, `expose`, `run`) and typed
DeleteOptions (`kubectl drain`) as
`application/vnd.kubernetes.protobuf` and do not fall back to JSON on 415, so
the apiserver reads them. Answers stay JSON (kubectl also accepts it).

The envelope is the 4-byte magic `k8s\\0` and a runtime.Unknown message
(typeMeta, raw). The field numbers below are those of k8s.io/api's
generated.proto for the subset of types kubelite serves. go-to-protobuf writes
every non-pointer field even when empty, so zero values are dropped unless the
field is a pointer in Go (marked `ptr`), where zero is meaningful (replicas: 0).
A field number not listed is skipped.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import msgspec

from kubelite.errors import bad_request

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

# type codes: r raw bytes, s string, i int, b bool, y bytes, t Time, q Quantity, n IntOrString,
# "m:<value>" map<string, value>, "@Name" message, "*" prefix = repeated; "!" suffix = ptr
_S: dict[str, dict[int, tuple[str, str]]] = {
    "TypeMeta": {1: ("apiVersion", "s"), 2: ("kind", "s")},
    "Unknown": {1: ("typeMeta", "@TypeMeta"), 2: ("raw", "r!"), 3: ("contentEncoding", "s"),
                4: ("contentType", "s")},
    "ObjectMeta": {
        1: ("name", "s"), 2: ("generateName", "s"), 3: ("namespace", "s"), 4: ("selfLink", "s"),
        5: ("uid", "s"), 6: ("resourceVersion", "s"), 7: ("generation", "i"),
        8: ("creationTimestamp", "t"), 9: ("deletionTimestamp", "t"),
        10: ("deletionGracePeriodSeconds", "i!"), 11: ("labels", "m:s"), 12: ("annotations", "m:s"),
        13: ("ownerReferences", "*@OwnerReference"), 14: ("finalizers", "*s"),
    },
    "OwnerReference": {1: ("kind", "s"), 3: ("name", "s"), 4: ("uid", "s"), 5: ("apiVersion", "s"),
                       6: ("controller", "b!"), 7: ("blockOwnerDeletion", "b!")},
    "DeleteOptions": {1: ("gracePeriodSeconds", "i!"), 2: ("preconditions", "@Preconditions"),
                      3: ("orphanDependents", "b!"), 4: ("propagationPolicy", "s!"), 5: ("dryRun", "*s")},
    "Preconditions": {1: ("uid", "s!"), 2: ("resourceVersion", "s!")},
    "LabelSelector": {1: ("matchLabels", "m:s"), 2: ("matchExpressions", "*@LabelSelectorRequirement")},
    "LabelSelectorRequirement": {1: ("key", "s"), 2: ("operator", "s"), 3: ("values", "*s")},
    # rbac.authorization.k8s.io/v1 (kubectl create role|clusterrole|rolebinding|clusterrolebinding)
    "Role": {1: ("metadata", "@ObjectMeta"), 2: ("rules", "*@PolicyRule")},
    "ClusterRole": {1: ("metadata", "@ObjectMeta"), 2: ("rules", "*@PolicyRule"),
                    3: ("aggregationRule", "@AggregationRule")},
    "PolicyRule": {1: ("verbs", "*s"), 2: ("apiGroups", "*s"), 3: ("resources", "*s"), 4: ("resourceNames", "*s"),
                   5: ("nonResourceURLs", "*s")},
    "AggregationRule": {1: ("clusterRoleSelectors", "*@LabelSelector")},
    "RoleBinding": {1: ("metadata", "@ObjectMeta"), 2: ("subjects", "*@Subject"), 3: ("roleRef", "@RoleRef")},
    "ClusterRoleBinding": {1: ("metadata", "@ObjectMeta"), 2: ("subjects", "*@Subject"), 3: ("roleRef", "@RoleRef")},
    "Subject": {1: ("kind", "s"), 2: ("apiGroup", "s"), 3: ("name", "s"), 4: ("namespace", "s")},
    "RoleRef": {1: ("apiGroup", "s"), 2: ("kind", "s"), 3: ("name", "s")},
    # authorization.k8s.io/v1 and authentication.k8s.io/v1 reviews (kubectl auth can-i / whoami)
    "SelfSubjectAccessReview": {1: ("metadata", "@ObjectMeta"), 2: ("spec", "@SelfSubjectAccessReviewSpec")},
    "SelfSubjectAccessReviewSpec": {1: ("resourceAttributes", "@ResourceAttributes"),
                                    2: ("nonResourceAttributes", "@NonResourceAttributes")},
    "SubjectAccessReview": {1: ("metadata", "@ObjectMeta"), 2: ("spec", "@SubjectAccessReviewSpec")},
    "LocalSubjectAccessReview": {1: ("metadata", "@ObjectMeta"), 2: ("spec", "@SubjectAccessReviewSpec")},
    "SubjectAccessReviewSpec": {1: ("resourceAttributes", "@ResourceAttributes"),
                                2: ("nonResourceAttributes", "@NonResourceAttributes"), 3: ("user", "s"),
                                4: ("groups", "*s"), 6: ("uid", "s")},
    "ResourceAttributes": {1: ("namespace", "s"), 2: ("verb", "s"), 3: ("group", "s"), 4: ("version", "s"),
                           5: ("resource", "s"), 6: ("subresource", "s"), 7: ("name", "s")},
    "NonResourceAttributes": {1: ("path", "s"), 2: ("verb", "s")},
    "SelfSubjectRulesReview": {1: ("metadata", "@ObjectMeta"), 2: ("spec", "@SelfSubjectRulesReviewSpec")},
    "SelfSubjectRulesReviewSpec": {1: ("namespace", "s")},
    "SelfSubjectReview": {1: ("metadata", "@ObjectMeta")},
    "TokenRequest": {1: ("metadata", "@ObjectMeta"), 2: ("spec", "@TokenRequestSpec")},
    "TokenRequestSpec": {1: ("audiences", "*s"), 3: ("boundObjectRef", "@BoundObjectReference"),
                         4: ("expirationSeconds", "i!")},
    "BoundObjectReference": {1: ("kind", "s"), 2: ("apiVersion", "s"), 3: ("name", "s"), 4: ("uid", "s")},
    "TokenReview": {1: ("metadata", "@ObjectMeta"), 2: ("spec", "@TokenReviewSpec")},
    "TokenReviewSpec": {1: ("token", "s"), 2: ("audiences", "*s")},
    "ServiceAccount": {1: ("metadata", "@ObjectMeta"), 3: ("automountServiceAccountToken", "b!")},
    "Namespace": {1: ("metadata", "@ObjectMeta"), 2: ("spec", "@NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "*s")},
    "ConfigMap": {1: ("metadata", "@ObjectMeta"), 2: ("data", "m:s"), 3: ("binaryData", "m:y"),
                  4: ("immutable", "b!")},
    "Secret": {1: ("metadata", "@ObjectMeta"), 2: ("data", "m:y"), 3: ("type", "s"),
               4: ("stringData", "m:s"), 5: ("immutable", "b!")},
    "Deployment": {1: ("metadata", "@ObjectMeta"), 2: ("spec", "@DeploymentSpec")},
    "DeploymentSpec": {
        1: ("replicas", "i!"), 2: ("selector", "@LabelSelector"), 3: ("template", "@PodTemplateSpec"),
        4: ("strategy", "@DeploymentStrategy"), 5: ("minReadySeconds", "i"),
        6: ("revisionHistoryLimit", "i!"), 7: ("paused", "b"), 9: ("progressDeadlineSeconds", "i!"),
    },
    "DeploymentStrategy": {1: ("type", "s"), 2: ("rollingUpdate", "@RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: ("maxUnavailable", "n"), 2: ("maxSurge", "n")},
    "ReplicaSet": {1: ("metadata", "@ObjectMeta"), 2: ("spec", "@ReplicaSetSpec")},
    "ReplicaSetSpec": {1: ("replicas", "i!"), 2: ("selector", "@LabelSelector"),
                       3: ("template", "@PodTemplateSpec"), 4: ("minReadySeconds", "i")},
    # batch/v1 (k8s.io/api/batch/v1/generated.proto): kubectl create job / cronjob send these
    "Job": {1: ("metadata", "@ObjectMeta"), 2: ("spec", "@JobSpec")},
    "JobSpec": {
        1: ("parallelism", "i!"), 2: ("completions", "i!"), 3: ("activeDeadlineSeconds", "i!"),
        4: ("selector", "@LabelSelector"), 5: ("manualSelector", "b!"), 6: ("template", "@PodTemplateSpec"),
        7: ("backoffLimit", "i!"), 8: ("ttlSecondsAfterFinished", "i!"), 9: ("completionMode", "s!"),
        10: ("suspend", "b!"), 14: ("podReplacementPolicy", "s!"),
    },
    "CronJob": {1: ("metadata", "@ObjectMeta"), 2: ("spec", "@CronJobSpec")},
    "CronJobSpec": {
        1: ("schedule", "s"), 2: ("startingDeadlineSeconds", "i!"), 3: ("concurrencyPolicy", "s"),
        4: ("suspend", "b!"), 5: ("jobTemplate", "@JobTemplateSpec"), 6: ("successfulJobsHistoryLimit", "i!"),
        7: ("failedJobsHistoryLimit", "i!"), 8: ("timeZone", "s!"),
    },
    "JobTemplateSpec": {1: ("metadata", "@ObjectMeta"), 2: ("spec", "@JobSpec")},
    # autoscaling/v2 (k8s.io/api/autoscaling/v2/generated.proto): kubectl autoscale sends it
    "HorizontalPodAutoscaler": {1: ("metadata", "@ObjectMeta"), 2: ("spec", "@HorizontalPodAutoscalerSpec")},
    "HorizontalPodAutoscalerSpec": {
        1: ("scaleTargetRef", "@CrossVersionObjectReference"), 2: ("minReplicas", "i!"), 3: ("maxReplicas", "i"),
        4: ("metrics", "*@MetricSpec"), 5: ("behavior", "@HorizontalPodAutoscalerBehavior"),
    },
    "CrossVersionObjectReference": {1: ("kind", "s"), 2: ("name", "s"), 3: ("apiVersion", "s")},
    "MetricSpec": {1: ("type", "s"), 4: ("resource", "@ResourceMetricSource")},
    "ResourceMetricSource": {1: ("name", "s"), 2: ("target", "@MetricTarget")},
    "MetricTarget": {1: ("type", "s"), 2: ("value", "q"), 3: ("averageValue", "q"), 4: ("averageUtilization", "i!")},
    "HorizontalPodAutoscalerBehavior": {1: ("scaleUp", "@HPAScalingRules"), 2: ("scaleDown", "@HPAScalingRules")},
    "HPAScalingRules": {3: ("stabilizationWindowSeconds", "i!"), 1: ("selectPolicy", "s!"),
                        2: ("policies", "*@HPAScalingPolicy")},
    "HPAScalingPolicy": {1: ("type", "s"), 2: ("value", "i"), 3: ("periodSeconds", "i")},
    "PodTemplateSpec": {1: ("metadata", "@ObjectMeta"), 2: ("spec", "@PodSpec")},
    "Pod": {1: ("metadata", "@ObjectMeta"), 2: ("spec", "@PodSpec")},
    "PodSpec": {
        2: ("containers", "*@Container"), 3: ("restartPolicy", "s"),
        4: ("terminationGracePeriodSeconds", "i!"), 5: ("activeDeadlineSeconds", "i!"),
        6: ("dnsPolicy", "s"), 7: ("nodeSelector", "m:s"), 8: ("serviceAccountName", "s"),
        10: ("nodeName", "s"), 11: ("hostNetwork", "b"), 16: ("hostname", "s"),
        17: ("subdomain", "s"), 19: ("schedulerName", "s"), 20: ("initContainers", "*@Container"),
        22: ("tolerations", "*@Toleration"), 24: ("priorityClassName", "s"),
    },
    "Toleration": {1: ("key", "s"), 2: ("operator", "s"), 3: ("value", "s"), 4: ("effect", "s"),
                   5: ("tolerationSeconds", "i!")},
    "Container": {
        1: ("name", "s"), 2: ("image", "s"), 3: ("command", "*s"), 4: ("args", "*s"),
        5: ("workingDir", "s"), 6: ("ports", "*@ContainerPort"), 7: ("env", "*@EnvVar"),
        8: ("resources", "@ResourceRequirements"), 13: ("terminationMessagePath", "s"),
        14: ("imagePullPolicy", "s"), 16: ("stdin", "b"), 17: ("stdinOnce", "b"), 18: ("tty", "b"),
        20: ("terminationMessagePolicy", "s"),
    },
    "ContainerPort": {1: ("name", "s"), 2: ("hostPort", "i"), 3: ("containerPort", "i"),
                      4: ("protocol", "s"), 5: ("hostIP", "s")},
    "EnvVar": {1: ("name", "s"), 2: ("value", "s")},
    "ResourceRequirements": {1: ("limits", "m:q"), 2: ("requests", "m:q")},
    "Service": {1: ("metadata", "@ObjectMeta"), 2: ("spec", "@ServiceSpec")},
    "ServiceSpec": {
        1: ("ports", "*@ServicePort"), 2: ("selector", "m:s"), 3: ("clusterIP", "s"), 4: ("type", "s"),
        5: ("externalIPs", "*s"), 7: ("sessionAffinity", "s"), 8: ("loadBalancerIP", "s"),
        10: ("externalName", "s"), 11: ("externalTrafficPolicy", "s"),
        12: ("healthCheckNodePort", "i"), 13: ("publishNotReadyAddresses", "b"),
        18: ("clusterIPs", "*s"),
    },
    "ServicePort": {1: ("name", "s"), 2: ("protocol", "s"), 3: ("port", "i"), 4: ("targetPort", "n"),
                    5: ("nodePort", "i"), 6: ("appProtocol", "s!")},
}


def is_protobuf(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() == CONTENT_TYPE


def to_json(body: bytes) -> bytes:
    """The JSON encoding of a protobuf-encoded object; 415/400 for what is not understood."""
    if not body.startswith(MAGIC):
        raise bad_request("protobuf body without the k8s envelope")
    try:
        env = _message(body[4:], "Unknown")
        type_meta = env.get("typeMeta") or {}
        kind = type_meta.get("kind", "")
        if kind not in _S:
            from kubelite.errors import APIError

            raise APIError(415, "UnsupportedMediaType",
                           f"protobuf encoding is not supported for kind {kind!r}; send application/json")
        obj = _message(env.get("raw") or b"", kind)
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"malformed protobuf body: {exc}") from None
    return msgspec.json.encode({"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **obj})


# ------------------------------------------------------------------ wire format
def _varint(b: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        c = b[i]
        i += 1
        result |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return result, i


def _fields(b: bytes):
    i, n = 0, len(b)
    while i < n:
        key, i = _varint(b, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(b, i)
        elif wire == 2:
            ln, i = _varint(b, i)
            v, i = b[i:i + ln], i + ln
        elif wire == 5:
            v, i = b[i:i + 4], i + 4
        elif wire == 1:
            v, i = b[i:i + 8], i + 8
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield num, v


def _message(b: bytes, name: str) -> dict[str, Any]:
    schema = _S[name]
    out: dict[str, Any] = {}
    for num, raw in _fields(b):
        spec = schema.get(num)
        if spec is None:
            continue
        field, tp = spec
        ptr = tp.endswith("!")
        tp = tp.rstrip("!")
        if tp.startswith("*"):
            value = _scalar(raw, tp[1:])
            if value is not None:
                out.setdefault(field, []).append(value)
            continue
        if tp.startswith("m:"):
            k, v = _map_entry(raw, tp[2:])
            out.setdefault(field, {})[k] = v
            continue
        value = _scalar(raw, tp)
        if ptr or not _is_zero(value):
            out[field] = value
    return out


def _is_zero(value: Any) -> bool:
    return value is None or value == "" or value == 0 or value is False or value == {}


def _scalar(raw: Any, tp: str) -> Any:
    if tp == "s":
        return raw.decode()
    if tp == "i":
        return raw - (1 << 64) if raw >= 1 << 63 else raw  # int64 two's complement
    if tp == "b":
        return bool(raw)
    if tp == "r":
        return raw
    if tp == "y":
        return base64.b64encode(raw).decode()
    if tp == "t":
        t = _message_raw(raw)
        seconds = t.get(1, 0)
        if not seconds:
            return None
        return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if tp == "q":
        return _message_raw(raw).get(1, b"").decode()
    if tp == "n":
        f = _message_raw(raw)
        return f.get(3, b"").decode() if f.get(1, 0) == 1 else f.get(2, 0)
    if tp.startswith("@"):
        return _message(raw, tp[1:])
    raise ValueError(f"unknown schema type {tp}")


def _message_raw(b: bytes) -> dict[int, Any]:
    return dict(_fields(b))


def _map_entry(raw: bytes, value_tp: str) -> tuple[str, Any]:
    f = _message_raw(raw)
    key = f.get(1, b"").decode()
    value = f.get(2, b"")
    return key, _scalar(value, value_tp)
