"""Validation of core/v1 kinds, after pkg/apis/core/validation/validation.go.

Each `validate_<kind>(obj)` returns every problem found (never stops at the
first), each with the field path and message Kubernetes reports. Fields that
defaulting fills (protocol, restartPolicy, dnsPolicy, imagePullPolicy, ...) are
accepted when unset, so validating before or after `apply_defaults` agrees.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
from collections.abc import Mapping
from typing import Any

import msgspec

from kubelite.api.core_v1 import (
    Binding,
    ConfigMap,
    Container,
    Endpoints,
    Event,
    Namespace,
    Node,
    Pod,
    PodSpec,
    PodTemplateSpec,
    Secret,
    Service,
)
from kubelite.api.meta import ObjectMeta
from kubelite.api.quantity import Quantity, parse_quantity
from kubelite.api.validation.names import (
    FIELD_IMMUTABLE,
    each_invalid,
    inclusive_range_error,
    is_config_map_key,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_env_var_name,
    is_qualified_name,
    is_valid_cidr,
    is_valid_ip,
    is_valid_label_value,
    is_valid_port_name,
    is_valid_port_num,
    name_is_dns1035_label,
    name_is_dns_label,
    name_is_dns_subdomain,
    validate_annotations,
    validate_immutable,
    validate_label_name,
    validate_labels,
    validate_nonnegative,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.errors import (
    FieldError,
    duplicate,
    field_not_found,
    forbidden,
    invalid,
    not_supported,
    required,
)

MAX_INT32 = 2**31 - 1
MAX_SECRET_SIZE = 1024 * 1024
PORT_PROTOCOLS = ["SCTP", "TCP", "UDP"]
RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
TOLERATION_OPERATORS = ["Equal", "Exists"]
SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
SESSION_AFFINITIES = ["ClientIP", "None"]
SCHEDULE_ACTIONS = ["DoNotSchedule", "ScheduleAnyway"]
TERMINATION_MESSAGE_POLICIES = ["File", "FallbackToLogsOnError"]
HOST_PATH_TYPES = [
    "", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate",
    "Socket",
]
STANDARD_CONTAINER_RESOURCES = {"cpu", "memory", "ephemeral-storage"}
STANDARD_FINALIZERS = {"kubernetes", "orphan", "foregroundDeletion"}
FILE_MODE_ERROR = "must be a number between 0 and 0777 (octal), both inclusive"
# Pod fields a container's env may reference through fieldRef (validEnvDownwardAPIFieldPathExpressions).
ENV_FIELD_PATHS = [
    "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
    "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
]
ENV_RESOURCE_FIELDS = [
    "limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu",
    "requests.ephemeral-storage", "requests.memory",
]
POD_UPDATABLE_FIELDS = (
    "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
    "`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def _meta(obj: Any) -> ObjectMeta:
    return obj.metadata if obj.metadata is not None else ObjectMeta()


def _struct_fields(obj: Any) -> tuple[str, ...]:
    if isinstance(obj, Mapping):
        return tuple(obj)
    return getattr(obj, "__struct_fields__", ())


# --------------------------------------------------------------------------
# Small shared checks
# --------------------------------------------------------------------------


def validate_port_num_or_name(port: int | str | None, path: str) -> list[FieldError]:
    """ValidatePortNumOrName: an IntOrString that is a port number or an IANA port name."""
    if port is None:
        return [required(path)]
    if isinstance(port, int) and not isinstance(port, bool):
        return each_invalid(path, port, is_valid_port_num(port))
    if isinstance(port, str):
        return each_invalid(path, port, is_valid_port_name(port))
    return [invalid(path, port, "must be an integer or a port name")]


def _protocol(protocol: str | None, path: str) -> list[FieldError]:
    if protocol is not None and protocol not in PORT_PROTOCOLS:
        return [not_supported(path, protocol, PORT_PROTOCOLS)]
    return []


def _local_descending_path(target: str, path: str) -> list[FieldError]:
    errs = []
    if posixpath.isabs(target):
        errs.append(invalid(path, target, "must be a relative path"))
    if ".." in target.split("/"):
        errs.append(invalid(path, target, "must not contain '..'"))
    return errs


def validate_label_selector(selector: Any, path: str) -> list[FieldError]:
    """metav1 ValidateLabelSelector: operators, keys, values, matchLabels."""
    if selector is None:
        return []
    errs: list[FieldError] = []
    for i, expr in enumerate(selector.matchExpressions or ()):
        p = f"{path}.matchExpressions[{i}]"
        errs += _selector_requirement(expr, p, ("In", "NotIn"), ("Exists", "DoesNotExist"), ())
        for j, value in enumerate(expr.values or ()):
            errs += each_invalid(f"{p}.values[{j}]", value, is_valid_label_value(value))
    errs += validate_labels(selector.matchLabels, f"{path}.matchLabels")
    return errs


def _selector_requirement(
    req: Any, path: str, with_values: tuple, without_values: tuple, single_value: tuple
) -> list[FieldError]:
    errs: list[FieldError] = []
    op = req.operator
    values = req.values or []
    if op in with_values:
        if not values:
            errs.append(
                required(f"{path}.values", "must be specified when `operator` is 'In' or 'NotIn'")
            )
    elif op in without_values:
        if values:
            errs.append(
                forbidden(
                    f"{path}.values",
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )
            )
    elif op in single_value:
        if len(values) != 1:
            errs.append(
                required(
                    f"{path}.values", "must be specified single value when `operator` is 'Lt' or 'Gt'"
                )
            )
    else:
        errs.append(invalid(f"{path}.operator", op or "", "not a valid selector operator"))
    errs += validate_label_name(req.key, f"{path}.key")
    return errs


# --------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------


def _validate_resource_name(name: str, path: str) -> list[FieldError]:
    errs = each_invalid(path, name, is_qualified_name(name))
    if errs:
        return errs
    if "/" not in name:
        if name not in STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-"):
            errs.append(invalid(path, name, "must be a standard resource for containers"))
    elif name.startswith("requests."):
        errs.append(invalid(path, name, "doesn't follow extended resource name standard"))
    return errs


def _overcommit_allowed(name: str) -> bool:
    native = "/" not in name or name.startswith("kubernetes.io/")
    return native and not name.startswith("hugepages-")


def _parse_quantities(
    resources: Mapping[str, Any] | None, path: str, errs: list[FieldError]
) -> dict[str, Quantity]:
    parsed: dict[str, Quantity] = {}
    for name, raw in (resources or {}).items():
        p = f"{path}[{name}]"
        errs += _validate_resource_name(name, p)
        try:
            q = parse_quantity(raw)
        except ValueError as e:
            errs.append(invalid(p, raw, str(e)))
            continue
        if q < Quantity(0):
            errs.append(invalid(p, str(q), "must be greater than or equal to 0"))
            continue
        parsed[name] = q
    return parsed


def validate_resource_requirements(resources: Any, path: str) -> list[FieldError]:
    if resources is None:
        return []
    errs: list[FieldError] = []
    limits = _parse_quantities(resources.limits, f"{path}.limits", errs)
    requests = _parse_quantities(resources.requests, f"{path}.requests", errs)
    for name, request in requests.items():
        limit = limits.get(name)
        if limit is None:
            continue
        if request != limit and not _overcommit_allowed(name):
            errs.append(
                invalid(f"{path}.requests", str(request), f"must be equal to {name} limit of {limit}")
            )
        elif request > limit:
            errs.append(
                invalid(
                    f"{path}.requests",
                    str(request),
                    f"must be less than or equal to {name} limit of {limit}",
                )
            )
    return errs


def _validate_env(env: list[Any] | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, var in enumerate(env or ()):
        p = f"{path}[{i}]"
        if not var.name:
            errs.append(required(f"{p}.name"))
        else:
            errs += each_invalid(f"{p}.name", var.name, is_env_var_name(var.name))
        errs += _validate_env_value_from(var, f"{p}.valueFrom")
    return errs


def _validate_env_value_from(var: Any, path: str) -> list[FieldError]:
    source = var.valueFrom
    if source is None:
        return []
    errs: list[FieldError] = []
    count = 0
    if source.fieldRef is not None:
        count += 1
        errs += _validate_field_ref(source.fieldRef, f"{path}.fieldRef")
    if source.resourceFieldRef is not None:
        count += 1
        resource = source.resourceFieldRef.resource
        if not resource:
            errs.append(required(f"{path}.resourceFieldRef.resource"))
        elif resource not in ENV_RESOURCE_FIELDS:
            errs.append(
                not_supported(f"{path}.resourceFieldRef.resource", resource, ENV_RESOURCE_FIELDS)
            )
    for ref_name in ("configMapKeyRef", "secretKeyRef"):
        ref = getattr(source, ref_name)
        if ref is None:
            continue
        count += 1
        if not ref.name:
            errs.append(required(f"{path}.{ref_name}.name"))
        if not ref.key:
            errs.append(required(f"{path}.{ref_name}.key"))
        else:
            errs += each_invalid(f"{path}.{ref_name}.key", ref.key, is_config_map_key(ref.key))
    if getattr(source, "fileKeyRef", None) is not None:
        count += 1
    if count == 0:
        errs.append(
            invalid(
                path,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or "
                "`secretKeyRef`",
            )
        )
    elif var.value:
        errs.append(invalid(path, "", "may not be specified when `value` is not empty"))
    elif count > 1:
        errs.append(invalid(path, "", "may not have more than one field specified at a time"))
    return errs


def _validate_field_ref(ref: Any, path: str) -> list[FieldError]:
    field_path = ref.fieldPath
    if not field_path:
        return [required(f"{path}.fieldPath")]
    if field_path in ENV_FIELD_PATHS:
        return []
    for prefix in ("metadata.labels['", "metadata.annotations['"):
        if field_path.startswith(prefix) and field_path.endswith("']"):
            key = field_path[len(prefix) : -2]
            return each_invalid(f"{path}.fieldPath", key, is_qualified_name(key.lower()))
    allowed = [*ENV_FIELD_PATHS, "metadata.annotations", "metadata.labels"]
    return [not_supported(f"{path}.fieldPath", field_path, sorted(allowed))]


def _validate_env_from(sources: list[Any] | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, source in enumerate(sources or ()):
        p = f"{path}[{i}]"
        if source.prefix:
            errs += each_invalid(f"{p}.prefix", source.prefix, is_env_var_name(source.prefix))
        count = 0
        for ref_name in ("configMapRef", "secretRef"):
            ref = getattr(source, ref_name)
            if ref is not None:
                count += 1
                if not ref.name:
                    errs.append(required(f"{p}.{ref_name}.name"))
        if count == 0:
            errs.append(invalid(p, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif count > 1:
            errs.append(invalid(p, "", "may not have more than one field specified at a time"))
    return errs


def _validate_container_ports(ports: list[Any] | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(ports or ()):
        p = f"{path}[{i}]"
        if port.name:
            msgs = is_valid_port_name(port.name)
            if msgs:
                errs += each_invalid(f"{p}.name", port.name, msgs)
            elif port.name in names:
                errs.append(duplicate(f"{p}.name", port.name))
            else:
                names.add(port.name)
        if not port.containerPort:
            errs.append(required(f"{p}.containerPort"))
        else:
            errs += each_invalid(
                f"{p}.containerPort", port.containerPort, is_valid_port_num(port.containerPort)
            )
        if port.hostPort:
            errs += each_invalid(f"{p}.hostPort", port.hostPort, is_valid_port_num(port.hostPort))
        errs += _protocol(port.protocol, f"{p}.protocol")
    return errs


def _validate_handler(handler: Any, path: str, kinds: tuple[str, ...]) -> list[FieldError]:
    """Exactly one of `kinds` (exec, httpGet, tcpSocket, ...) must be set."""
    errs: list[FieldError] = []
    count = 0
    for kind in kinds:
        action = getattr(handler, kind, None)
        if action is None:
            continue
        if count:
            errs.append(forbidden(f"{path}.{kind}", "may not specify more than 1 handler type"))
            continue
        count += 1
        p = f"{path}.{kind}"
        if kind == "exec":
            if not action.command:
                errs.append(required(f"{p}.command"))
        elif kind == "httpGet":
            errs += validate_port_num_or_name(action.port, f"{p}.port")
            if action.scheme is not None and action.scheme not in ("HTTP", "HTTPS"):
                errs.append(not_supported(f"{p}.scheme", action.scheme, ["HTTP", "HTTPS"]))
        elif kind == "tcpSocket":
            errs += validate_port_num_or_name(action.port, f"{p}.port")
        elif kind == "grpc":
            errs += each_invalid(f"{p}.port", action.port, is_valid_port_num(action.port or 0))
        elif kind == "sleep":
            errs += validate_nonnegative(action.seconds, f"{p}.seconds")
    if count == 0:
        errs.append(required(path, "must specify a handler type"))
    return errs


_PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_LIFECYCLE_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")


def _validate_probe(probe: Any, path: str) -> list[FieldError]:
    if probe is None:
        return []
    errs = _validate_handler(probe, path, _PROBE_HANDLERS)
    for name in (
        "initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
        "failureThreshold",
    ):
        errs += validate_nonnegative(getattr(probe, name), f"{path}.{name}")
    grace = probe.terminationGracePeriodSeconds
    if grace is not None and grace <= 0:
        errs.append(invalid(f"{path}.terminationGracePeriodSeconds", grace, "must be greater than 0"))
    return errs


def _validate_volume_mounts(
    mounts: list[Any] | None, volumes: set[str], path: str
) -> list[FieldError]:
    errs: list[FieldError] = []
    mount_points: set[str] = set()
    for i, mount in enumerate(mounts or ()):
        p = f"{path}[{i}]"
        if not mount.name:
            errs.append(required(f"{p}.name"))
        if mount.name not in volumes:
            errs.append(field_not_found(f"{p}.name", mount.name or ""))
        if not mount.mountPath:
            errs.append(required(f"{p}.mountPath"))
        elif mount.mountPath in mount_points:
            errs.append(invalid(f"{p}.mountPath", mount.mountPath, "must be unique"))
        mount_points.add(mount.mountPath or "")
        if mount.subPath:
            errs += _local_descending_path(mount.subPath, f"{p}.subPath")
    return errs


def _validate_container(
    ctr: Container, path: str, volumes: set[str], *, init: bool
) -> list[FieldError]:
    errs: list[FieldError] = []
    if not ctr.name:
        errs.append(required(f"{path}.name"))
    else:
        errs += each_invalid(f"{path}.name", ctr.name, is_dns1123_label(ctr.name))
    if not ctr.image:
        errs.append(required(f"{path}.image"))
    if ctr.imagePullPolicy is not None and ctr.imagePullPolicy not in PULL_POLICIES:
        errs.append(not_supported(f"{path}.imagePullPolicy", ctr.imagePullPolicy, PULL_POLICIES))
    policy = ctr.terminationMessagePolicy
    if policy is not None and policy not in TERMINATION_MESSAGE_POLICIES:
        errs.append(
            not_supported(f"{path}.terminationMessagePolicy", policy, TERMINATION_MESSAGE_POLICIES)
        )
    sidecar = init and ctr.restartPolicy == "Always"
    if ctr.restartPolicy is not None:
        if not init:
            errs.append(forbidden(f"{path}.restartPolicy", "may not be set for non-init containers"))
        elif ctr.restartPolicy != "Always":
            errs.append(not_supported(f"{path}.restartPolicy", ctr.restartPolicy, ["Always"]))
    errs += _validate_container_ports(ctr.ports, f"{path}.ports")
    errs += _validate_env(ctr.env, f"{path}.env")
    errs += _validate_env_from(ctr.envFrom, f"{path}.envFrom")
    errs += _validate_volume_mounts(ctr.volumeMounts, volumes, f"{path}.volumeMounts")
    errs += validate_resource_requirements(ctr.resources, f"{path}.resources")
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = getattr(ctr, probe_name)
        if probe is None:
            continue
        if init and not sidecar:
            errs.append(
                forbidden(
                    f"{path}.{probe_name}",
                    "may not be set for init containers without restartPolicy=Always",
                )
            )
            continue
        errs += _validate_probe(probe, f"{path}.{probe_name}")
        threshold = probe.successThreshold
        if probe_name != "readinessProbe" and threshold is not None and threshold != 1:
            errs.append(invalid(f"{path}.{probe_name}.successThreshold", threshold, "must be 1"))
    if ctr.lifecycle is not None:
        if init and not sidecar:
            errs.append(
                forbidden(
                    f"{path}.lifecycle",
                    "may not be set for init containers without restartPolicy=Always",
                )
            )
        else:
            for hook in ("postStart", "preStop"):
                handler = getattr(ctr.lifecycle, hook)
                if handler is not None:
                    errs += _validate_handler(handler, f"{path}.lifecycle.{hook}", _LIFECYCLE_HANDLERS)
    return errs


# --------------------------------------------------------------------------
# Volumes
# --------------------------------------------------------------------------


def _validate_key_to_paths(items: list[Any] | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, item in enumerate(items or ()):
        p = f"{path}[{i}]"
        if not item.key:
            errs.append(required(f"{p}.key"))
        if not item.path:
            errs.append(required(f"{p}.path"))
        else:
            errs += _local_descending_path(item.path, f"{p}.path")
        errs += _file_mode(item.mode, f"{p}.mode")
    return errs


def _file_mode(mode: int | None, path: str) -> list[FieldError]:
    if mode is not None and not 0 <= mode <= 0o777:
        return [invalid(path, mode, FILE_MODE_ERROR)]
    return []


EMPTY_DIR_MEDIA = ("", "Memory")  # HugePages media are not implemented


def _validate_volume_source(kind: str, source: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if kind == "hostPath":
        if not source.path:
            errs.append(required(f"{path}.path"))
        if source.type is not None and source.type not in HOST_PATH_TYPES:
            errs.append(not_supported(f"{path}.type", source.type, HOST_PATH_TYPES))
    elif kind == "emptyDir":
        if source.medium not in (None, *EMPTY_DIR_MEDIA):
            errs.append(not_supported(f"{path}.medium", source.medium, list(EMPTY_DIR_MEDIA)))
        if source.sizeLimit is not None:
            try:
                parse_quantity(source.sizeLimit)
            except ValueError as e:
                errs.append(invalid(f"{path}.sizeLimit", source.sizeLimit, str(e)))
    elif kind == "secret":
        if not source.secretName:
            errs.append(required(f"{path}.secretName"))
        errs += _file_mode(source.defaultMode, f"{path}.defaultMode")
        errs += _validate_key_to_paths(source.items, f"{path}.items")
    elif kind == "configMap":
        if not source.name:
            errs.append(required(f"{path}.name"))
        errs += _file_mode(source.defaultMode, f"{path}.defaultMode")
        errs += _validate_key_to_paths(source.items, f"{path}.items")
    elif kind == "persistentVolumeClaim":
        if not source.claimName:
            errs.append(required(f"{path}.claimName"))
    elif kind == "nfs":
        if not source.server:
            errs.append(required(f"{path}.server"))
        if not source.path:
            errs.append(required(f"{path}.path"))
    return errs


def validate_volumes(volumes: list[Any] | None, path: str) -> tuple[set[str], list[FieldError]]:
    """Volume names unique DNS labels, exactly one source each. Returns the valid names."""
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, volume in enumerate(volumes or ()):
        p = f"{path}[{i}]"
        vol_errs: list[FieldError] = []
        count = 0
        for kind in _struct_fields(volume):
            source = getattr(volume, kind, None)
            if kind == "name" or source is None:
                continue
            if count:
                vol_errs.append(forbidden(f"{p}.{kind}", "may not specify more than 1 volume type"))
                continue
            count += 1
            vol_errs += _validate_volume_source(kind, source, f"{p}.{kind}")
        if count == 0:
            vol_errs.append(required(p, "must specify a volume type"))
        if not volume.name:
            vol_errs.append(required(f"{p}.name"))
        else:
            vol_errs += each_invalid(f"{p}.name", volume.name, is_dns1123_label(volume.name))
        if volume.name in names:
            vol_errs.append(duplicate(f"{p}.name", volume.name))
        if not vol_errs:
            names.add(volume.name)
        errs += vol_errs
    return names, errs


# --------------------------------------------------------------------------
# Scheduling: tolerations, affinity
# --------------------------------------------------------------------------


def validate_tolerations(tolerations: list[Any] | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, tol in enumerate(tolerations or ()):
        p = f"{path}[{i}]"
        key = tol.key or ""
        operator = tol.operator or ""
        if key:
            errs += validate_label_name(key, f"{p}.key")
        if not key and operator != "Exists":
            errs.append(
                invalid(
                    f"{p}.operator",
                    operator,
                    'operator must be Exists when `key` is empty, which means "match all values '
                    'and all keys"',
                )
            )
        if tol.tolerationSeconds is not None and tol.effect != "NoExecute":
            errs.append(
                invalid(
                    f"{p}.effect",
                    tol.effect or "",
                    "effect must be 'NoExecute' when `tolerationSeconds` is set",
                )
            )
        if operator in ("Equal", ""):
            msgs = is_valid_label_value(tol.value or "")
            if msgs:
                errs.append(invalid(f"{p}.operator", tol.value or "", ";".join(msgs)))
        elif operator == "Exists":
            if tol.value:
                errs.append(
                    invalid(f"{p}.operator", tol.value, "value must be empty when `operator` is 'Exists'")
                )
        else:
            errs.append(not_supported(f"{p}.operator", operator, TOLERATION_OPERATORS))
        if tol.effect and tol.effect not in TAINT_EFFECTS:
            errs.append(not_supported(f"{p}.effect", tol.effect, TAINT_EFFECTS))
    return errs


def _validate_node_selector_term(term: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for j, req in enumerate(term.matchExpressions or ()):
        errs += _selector_requirement(
            req, f"{path}.matchExpressions[{j}]", ("In", "NotIn"), ("Exists", "DoesNotExist"),
            ("Gt", "Lt"),
        )
    for j, req in enumerate(term.matchFields or ()):
        p = f"{path}.matchFields[{j}]"
        if req.key != "metadata.name":
            errs.append(invalid(f"{p}.key", req.key or "", "not a valid field selector key"))
        if req.operator not in ("In", "NotIn"):
            errs.append(invalid(f"{p}.operator", req.operator or "", "not a valid selector operator"))
        elif len(req.values or ()) != 1:
            errs.append(
                required(f"{p}.values", "must be only one value when `operator` is 'In' or 'NotIn' for node field selector")
            )
    return errs


def _validate_pod_affinity_term(term: Any, path: str) -> list[FieldError]:
    errs = validate_label_selector(term.labelSelector, f"{path}.labelSelector")
    errs += validate_label_selector(term.namespaceSelector, f"{path}.namespaceSelector")
    for i, ns in enumerate(term.namespaces or ()):
        errs += each_invalid(f"{path}.namespaces[{i}]", ns, name_is_dns_label(ns))
    if not term.topologyKey:
        errs.append(required(f"{path}.topologyKey", "can not be empty"))
    else:
        errs += validate_label_name(term.topologyKey, f"{path}.topologyKey")
    return errs


def _weight(weight: int | None, path: str) -> list[FieldError]:
    if weight is None or not 1 <= weight <= 100:
        return [invalid(path, weight, "must be in the range 1-100")]
    return []


def validate_affinity(affinity: Any, path: str) -> list[FieldError]:
    if affinity is None:
        return []
    errs: list[FieldError] = []
    node = affinity.nodeAffinity
    if node is not None:
        p = f"{path}.nodeAffinity"
        req = node.requiredDuringSchedulingIgnoredDuringExecution
        if req is not None:
            rp = f"{p}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
            if not req.nodeSelectorTerms:
                errs.append(required(rp, "must have at least one node selector term"))
            for i, term in enumerate(req.nodeSelectorTerms or ()):
                errs += _validate_node_selector_term(term, f"{rp}[{i}]")
        for i, pref in enumerate(node.preferredDuringSchedulingIgnoredDuringExecution or ()):
            pp = f"{p}.preferredDuringSchedulingIgnoredDuringExecution[{i}]"
            errs += _weight(pref.weight, f"{pp}.weight")
            if pref.preference is None:
                errs.append(required(f"{pp}.preference"))
            else:
                errs += _validate_node_selector_term(pref.preference, f"{pp}.preference")
    for kind in ("podAffinity", "podAntiAffinity"):
        pod_aff = getattr(affinity, kind)
        if pod_aff is None:
            continue
        p = f"{path}.{kind}"
        for i, term in enumerate(pod_aff.requiredDuringSchedulingIgnoredDuringExecution or ()):
            errs += _validate_pod_affinity_term(
                term, f"{p}.requiredDuringSchedulingIgnoredDuringExecution[{i}]"
            )
        for i, weighted in enumerate(pod_aff.preferredDuringSchedulingIgnoredDuringExecution or ()):
            wp = f"{p}.preferredDuringSchedulingIgnoredDuringExecution[{i}]"
            errs += _weight(weighted.weight, f"{wp}.weight")
            if weighted.podAffinityTerm is None:
                errs.append(required(f"{wp}.podAffinityTerm"))
            else:
                errs += _validate_pod_affinity_term(weighted.podAffinityTerm, f"{wp}.podAffinityTerm")
    return errs


def validate_topology_spread_constraints(constraints: list[Any] | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for i, c in enumerate(constraints or ()):
        p = f"{path}[{i}]"
        if c.maxSkew is None or c.maxSkew <= 0:
            errs.append(invalid(f"{p}.maxSkew", c.maxSkew, "must be greater than zero"))
        if not c.topologyKey:
            errs.append(required(f"{p}.topologyKey", "can not be empty"))
        else:
            errs += validate_label_name(c.topologyKey, f"{p}.topologyKey")
        if c.whenUnsatisfiable not in SCHEDULE_ACTIONS:
            errs.append(
                not_supported(f"{p}.whenUnsatisfiable", c.whenUnsatisfiable or "", SCHEDULE_ACTIONS)
            )
        if c.minDomains is not None:
            if c.minDomains <= 0:
                errs.append(invalid(f"{p}.minDomains", c.minDomains, "must be greater than 0"))
            elif c.whenUnsatisfiable != "DoNotSchedule":
                errs.append(
                    invalid(
                        f"{p}.minDomains",
                        c.minDomains,
                        "can only use minDomains if whenUnsatisfiable=DoNotSchedule, not "
                        f"{c.whenUnsatisfiable}",
                    )
                )
        key = (c.topologyKey or "", c.whenUnsatisfiable or "")
        if key in seen:
            errs.append(
                duplicate(f"{p}.{{topologyKey, whenUnsatisfiable}}", "{" + ", ".join(key) + "}")
            )
        seen.add(key)
        errs += validate_label_selector(c.labelSelector, f"{p}.labelSelector")
    return errs


# --------------------------------------------------------------------------
# Pod
# --------------------------------------------------------------------------


def validate_pod_spec(spec: PodSpec | None, path: str = "spec") -> list[FieldError]:
    """ValidatePodSpec: everything in a pod spec a user can get wrong."""
    spec = spec if spec is not None else PodSpec()
    volumes, errs = validate_volumes(spec.volumes, f"{path}.volumes")

    names: set[str] = set()
    if not spec.containers:
        errs.append(required(f"{path}.containers"))
    for kind, containers in (("containers", spec.containers), ("initContainers", spec.initContainers)):
        for i, ctr in enumerate(containers or ()):
            p = f"{path}.{kind}[{i}]"
            errs += _validate_container(ctr, p, volumes, init=kind == "initContainers")
            if ctr.name and ctr.name in names:
                errs.append(duplicate(f"{p}.name", ctr.name))
            names.add(ctr.name or "")

    if spec.restartPolicy is not None and spec.restartPolicy not in RESTART_POLICIES:
        errs.append(not_supported(f"{path}.restartPolicy", spec.restartPolicy, RESTART_POLICIES))
    if spec.dnsPolicy is not None and spec.dnsPolicy not in DNS_POLICIES:
        errs.append(not_supported(f"{path}.dnsPolicy", spec.dnsPolicy, DNS_POLICIES))
    errs += _validate_dns_config(spec, path)
    errs += validate_labels(spec.nodeSelector, f"{path}.nodeSelector")
    errs += validate_affinity(spec.affinity, f"{path}.affinity")
    errs += validate_tolerations(spec.tolerations, f"{path}.tolerations")
    errs += validate_topology_spread_constraints(
        spec.topologySpreadConstraints, f"{path}.topologySpreadConstraints"
    )
    for i, gate in enumerate(spec.readinessGates or ()):
        errs += each_invalid(f"{path}.readinessGates[{i}].conditionType", gate.conditionType or "",
                             is_qualified_name(gate.conditionType or ""))
    for i, alias in enumerate(spec.hostAliases or ()):
        errs += each_invalid(f"{path}.hostAliases[{i}].ip", alias.ip or "", is_valid_ip(alias.ip or ""))
    errs += validate_nonnegative(
        spec.terminationGracePeriodSeconds, f"{path}.terminationGracePeriodSeconds"
    )
    deadline = spec.activeDeadlineSeconds
    if deadline is not None and not 1 <= deadline <= MAX_INT32:
        errs.append(
            invalid(f"{path}.activeDeadlineSeconds", deadline, inclusive_range_error(1, MAX_INT32))
        )
    for name_field in ("serviceAccountName", "nodeName", "priorityClassName"):
        value = getattr(spec, name_field)
        if value:
            errs += each_invalid(f"{path}.{name_field}", value, name_is_dns_subdomain(value))
    for label_field in ("hostname", "subdomain"):
        value = getattr(spec, label_field)
        if value:
            errs += each_invalid(f"{path}.{label_field}", value, is_dns1123_label(value))
    return errs


def _validate_dns_config(spec: PodSpec, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    config = spec.dnsConfig
    if spec.dnsPolicy == "None":
        if config is None:
            return [required(f"{path}.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not config.nameservers:
            errs.append(
                required(
                    f"{path}.dnsConfig.nameservers",
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                )
            )
    if config is not None:
        for i, ns in enumerate(config.nameservers or ()):
            errs += each_invalid(f"{path}.dnsConfig.nameservers[{i}]", ns, is_valid_ip(ns))
    return errs


def validate_pod_template_spec(template: PodTemplateSpec | None, path: str) -> list[FieldError]:
    """ValidatePodTemplateSpec: template labels/annotations and its pod spec."""
    if template is None:
        return [required(path)]
    meta = template.metadata or ObjectMeta()
    errs = validate_labels(meta.labels, f"{path}.metadata.labels")
    errs += validate_annotations(meta.annotations, f"{path}.metadata.annotations")
    errs += validate_pod_spec(template.spec, f"{path}.spec")
    return errs


def _validate_pod_only(pod: Pod) -> list[FieldError]:
    errs = validate_pod_spec(pod.spec)
    # Pods (not templates) may not carry images with stray whitespace.
    spec = pod.spec or PodSpec()
    for kind in ("containers", "initContainers"):
        for i, ctr in enumerate(getattr(spec, kind) or ()):
            if ctr.image and ctr.image != ctr.image.strip():
                errs.append(
                    invalid(
                        f"spec.{kind}[{i}].image",
                        ctr.image,
                        "must not have leading or trailing whitespace",
                    )
                )
    return errs


def validate_pod(pod: Pod) -> list[FieldError]:
    errs = validate_object_meta(_meta(pod), namespaced=True, name_fn=name_is_dns_subdomain)
    if pod.spec is not None and pod.spec.ephemeralContainers:
        errs.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
    return errs + _validate_pod_only(pod)


# Container fields an ephemeral container may not set (ValidateEphemeralContainers).
_EPHEMERAL_FORBIDDEN = ("ports", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle", "resources",
                        "resizePolicy", "restartPolicy")


def validate_ephemeral_containers(spec: PodSpec) -> list[FieldError]:
    """The ephemeral containers of a pod spec: a container's rules, minus what they cannot have,
    names unique across all containers, targetContainerName naming one of the pod's."""
    errs: list[FieldError] = []
    volumes = {v.name for v in spec.volumes or () if v.name}
    names = {c.name for c in [*(spec.containers or ()), *(spec.initContainers or ())]}
    targets = set(names)
    for i, ctr in enumerate(spec.ephemeralContainers or ()):
        p = f"spec.ephemeralContainers[{i}]"
        errs += _validate_container(ctr, p, volumes, init=False)
        for name in _EPHEMERAL_FORBIDDEN:
            if _builtins(getattr(ctr, name, None)) not in ({}, [], "", None):  # kubectl sends `resources: {}`
                errs.append(forbidden(f"{p}.{name}", "cannot be set for an Ephemeral Container"))
        if ctr.name and ctr.name in names:
            errs.append(duplicate(f"{p}.name", ctr.name))
        names.add(ctr.name or "")
        target = getattr(ctr, "targetContainerName", None)
        if target and target not in targets:
            errs.append(field_not_found(f"{p}.targetContainerName", target))
    return errs


def validate_pod_ephemeral_containers_update(new: Pod, old: Pod) -> list[FieldError]:
    """pods/NAME/ephemeralcontainers: ephemeral containers may be added, never removed or changed."""
    errs = validate_object_meta_update(_meta(new), _meta(old))
    new_spec, old_spec = new.spec or PodSpec(), old.spec or PodSpec()
    errs += validate_ephemeral_containers(new_spec)
    added = {c.name: c for c in new_spec.ephemeralContainers or ()}
    for old_ctr in old_spec.ephemeralContainers or ():
        now = added.get(old_ctr.name)
        if now is None:
            errs.append(forbidden("spec.ephemeralContainers",
                                  f"existing ephemeral containers {old_ctr.name!r} may not be removed"))
        elif _builtins(now) != _builtins(old_ctr):
            errs.append(forbidden("spec.ephemeralContainers",
                                  f"existing ephemeral containers {old_ctr.name!r} may not be changed"))
    return errs


def _builtins(obj: Any) -> Any:
    return msgspec.to_builtins(obj) if obj is not None else {}


def _diff(old: Any, new: Any, path: str, out: list[str]) -> None:
    """Paths (and values) where two plain JSON-like values differ, for a readable error."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            _diff(old.get(key), new.get(key), f"{path}.{key}", out)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (o, n) in enumerate(zip(old, new, strict=True)):
            _diff(o, n, f"{path}[{i}]", out)
    elif old != new:
        out.append(
            f"  {path}: {msgspec.json.encode(old).decode()} -> {msgspec.json.encode(new).decode()}"
        )


def validate_pod_update(new: Pod, old: Pod) -> list[FieldError]:
    """ValidatePodUpdate: the spec is immutable except images, deadline, added tolerations."""
    errs = validate_object_meta_update(_meta(new), _meta(old))
    errs += _validate_pod_only(new)
    new_spec, old_spec = new.spec or PodSpec(), old.spec or PodSpec()

    for kind in ("containers", "initContainers"):
        if len(getattr(new_spec, kind) or ()) != len(getattr(old_spec, kind) or ()):
            errs.append(forbidden(f"spec.{kind}", "pod updates may not add or remove containers"))
            return errs

    new_deadline, old_deadline = new_spec.activeDeadlineSeconds, old_spec.activeDeadlineSeconds
    if new_deadline is not None:
        if old_deadline is not None and old_deadline < new_deadline:
            errs.append(
                invalid(
                    "spec.activeDeadlineSeconds", new_deadline, "must be less than or equal to previous value"
                )
            )
    elif old_deadline is not None:
        errs.append(
            invalid(
                "spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"
            )
        )

    errs += _only_added_tolerations(new_spec.tolerations, old_spec.tolerations)
    old_gates = {g.name for g in old_spec.schedulingGates or ()}
    for gate in new_spec.schedulingGates or ():
        if gate.name not in old_gates:
            errs.append(
                forbidden(
                    "spec.schedulingGates",
                    f"only deletion is allowed, but found new scheduling gate '{gate.name}'",
                )
            )

    munged, original = _builtins(new_spec), _builtins(old_spec)
    for kind in ("containers", "initContainers"):
        for ctr, old_ctr in zip(munged.get(kind) or (), original.get(kind) or (), strict=True):
            _set_or_drop(ctr, "image", old_ctr.get("image"))
    for name in ("activeDeadlineSeconds", "tolerations", "schedulingGates"):
        _set_or_drop(munged, name, original.get(name))
    old_grace = original.get("terminationGracePeriodSeconds")
    if old_grace is not None and old_grace < 0 and munged.get("terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    if munged != original:
        changes: list[str] = []
        _diff(original, munged, "spec", changes)
        detail = f"pod updates may not change fields other than {POD_UPDATABLE_FIELDS}\n" + "\n".join(
            changes
        )
        errs.append(forbidden("spec", detail))
    return errs


def _set_or_drop(d: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        d.pop(key, None)
    else:
        d[key] = value


def _only_added_tolerations(new: list[Any] | None, old: list[Any] | None) -> list[FieldError]:
    new_b = [_builtins(t) for t in new or ()]
    for old_tol in old or ():
        wanted = _builtins(old_tol)
        wanted.pop("tolerationSeconds", None)
        if not any({k: v for k, v in t.items() if k != "tolerationSeconds"} == wanted for t in new_b):
            return [
                forbidden(
                    "spec.tolerations", "existing toleration can not be modified except its tolerationSeconds"
                )
            ]
    return []


_SYSTEM_POD_CONDITIONS = {"PodScheduled", "Ready", "Initialized"}


def validate_pod_status(new: Pod, old: Pod) -> list[FieldError]:
    """ValidatePodStatusUpdate's own rules: nodeName untouched, custom condition types qualified."""
    errs: list[FieldError] = []
    new_node = new.spec.nodeName if new.spec else None
    old_node = old.spec.nodeName if old.spec else None
    if (new_node or "") != (old_node or ""):
        errs.append(forbidden("status.nodeName", "may not be changed directly"))
    status = new.status
    for i, cond in enumerate((status.conditions if status else None) or ()):
        if cond.type not in _SYSTEM_POD_CONDITIONS:
            # Kubernetes spells this path with a capital T.
            errs += each_invalid(
                f"metadata.conditions[{i}].Type", cond.type or "", is_qualified_name(cond.type or "")
            )
    if status is not None and status.podIP:
        errs += each_invalid("status.podIP", status.podIP, is_valid_ip(status.podIP))
    return errs


def validate_binding(binding: Binding) -> list[FieldError]:
    """ValidatePodBinding: the target must name a Node."""
    errs: list[FieldError] = []
    target = binding.target
    if target is not None and target.kind and target.kind != "Node":
        errs.append(not_supported("target.kind", target.kind, ["Node", "<empty>"]))
    if target is None or not target.name:
        errs.append(required("target.name"))
    return errs


# --------------------------------------------------------------------------
# Service
# --------------------------------------------------------------------------


def _validate_service_port(
    port: Any, require_name: bool, names: set[str], path: str
) -> list[FieldError]:
    errs: list[FieldError] = []
    if require_name and not port.name:
        errs.append(required(f"{path}.name"))
    elif port.name:
        errs += each_invalid(f"{path}.name", port.name, is_dns1123_label(port.name))
        if port.name in names:
            errs.append(duplicate(f"{path}.name", port.name))
        else:
            names.add(port.name)
    errs += each_invalid(f"{path}.port", port.port, is_valid_port_num(port.port or 0))
    errs += _protocol(port.protocol, f"{path}.protocol")
    if port.targetPort is not None and port.targetPort not in (0, ""):
        errs += validate_port_num_or_name(port.targetPort, f"{path}.targetPort")
    if port.nodePort:
        errs += each_invalid(f"{path}.nodePort", port.nodePort, is_valid_port_num(port.nodePort))
    return errs


def _validate_service_spec(svc: Service) -> list[FieldError]:
    spec = svc.spec
    if spec is None:
        return [required("spec.ports")]
    errs: list[FieldError] = []
    svc_type = spec.type or "ClusterIP"
    headless = spec.clusterIP == "None"
    ports = spec.ports or []
    if not ports and not headless and svc_type != "ExternalName":
        errs.append(required("spec.ports"))

    if svc_type == "ExternalName":
        if spec.clusterIP and spec.clusterIP != "None":
            errs.append(forbidden("spec.clusterIP", "may not be set for ExternalName services"))
        cname = (spec.externalName or "").removesuffix(".")
        if cname:
            errs += each_invalid("spec.externalName", cname, is_dns1123_subdomain(cname))
        else:
            errs.append(required("spec.externalName"))
    elif headless and svc_type in ("NodePort", "LoadBalancer"):
        errs.append(
            invalid("spec.clusterIP", "None", f"may not be set to 'None' for {svc_type} services")
        )

    names: set[str] = set()
    for i, port in enumerate(ports):
        errs += _validate_service_port(port, len(ports) > 1, names, f"spec.ports[{i}]")
    errs += validate_labels(spec.selector, "spec.selector")

    affinity = spec.sessionAffinity
    if affinity is not None and affinity not in SESSION_AFFINITIES:
        errs.append(not_supported("spec.sessionAffinity", affinity, SESSION_AFFINITIES))
    config = spec.sessionAffinityConfig
    if affinity == "ClientIP" and config is not None and config.clientIP is not None:
        timeout = config.clientIP.timeoutSeconds
        if timeout is not None and not 0 < timeout <= 86400:
            errs.append(
                invalid(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    timeout,
                    "must be greater than 0 and less than 86400",
                )
            )
    elif affinity in (None, "None") and config is not None:
        errs.append(
            forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None")
        )

    if spec.clusterIP and spec.clusterIP != "None":
        errs += each_invalid("spec.clusterIP", spec.clusterIP, is_valid_ip(spec.clusterIP))
    for i, ip in enumerate(spec.clusterIPs or ()):
        if ip == "None":
            if i > 0:
                errs.append(invalid(f"spec.clusterIPs[{i}]", ip, "'None' must be the first and only value"))
            continue
        errs += each_invalid(f"spec.clusterIPs[{i}]", ip, is_valid_ip(ip))
    for i, ip in enumerate(spec.externalIPs or ()):
        errs += each_invalid(f"spec.externalIPs[{i}]", ip, is_valid_ip(ip))

    if spec.type is not None and spec.type not in SERVICE_TYPES:
        errs.append(not_supported("spec.type", spec.type, SERVICE_TYPES))
    if svc_type == "ClusterIP":
        for i, port in enumerate(ports):
            if port.nodePort:
                errs.append(
                    forbidden(f"spec.ports[{i}].nodePort", "may not be used when `type` is 'ClusterIP'")
                )

    node_ports: set[tuple[str, int]] = set()
    seen: set[tuple[str, int | None]] = set()
    for i, port in enumerate(ports):
        protocol = port.protocol or "TCP"
        if port.nodePort:
            if (protocol, port.nodePort) in node_ports:
                errs.append(duplicate(f"spec.ports[{i}].nodePort", port.nodePort))
            node_ports.add((protocol, port.nodePort))
        if (protocol, port.port) in seen:
            errs.append(duplicate(f"spec.ports[{i}]", {"port": port.port, "protocol": protocol}))
        seen.add((protocol, port.port))
    return errs


def validate_service(svc: Service) -> list[FieldError]:
    errs = validate_object_meta(_meta(svc), namespaced=True, name_fn=name_is_dns1035_label)
    return errs + _validate_service_spec(svc)


def validate_service_update(new: Service, old: Service) -> list[FieldError]:
    """clusterIP may not change once set (an empty new value means "keep", as Kubernetes fills it)."""
    errs = validate_object_meta_update(_meta(new), _meta(old)) + _validate_service_spec(new)
    new_spec, old_spec = new.spec, old.spec
    if new_spec is None or old_spec is None:
        return errs
    if "ExternalName" in (new_spec.type, old_spec.type):
        return errs
    if old_spec.clusterIP and new_spec.clusterIP and new_spec.clusterIP != old_spec.clusterIP:
        errs.append(invalid("spec.clusterIP", new_spec.clusterIP, FIELD_IMMUTABLE))
    return errs


# --------------------------------------------------------------------------
# ConfigMap, Secret
# --------------------------------------------------------------------------


def _validate_config_map_data(cm: ConfigMap) -> list[FieldError]:
    errs: list[FieldError] = []
    data, binary = cm.data or {}, cm.binaryData or {}
    total = 0
    for key, value in data.items():
        errs += each_invalid(f"data[{key}]", key, is_config_map_key(key))
        if key in binary:
            errs.append(invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        total += len(value.encode())
    for key, value in binary.items():
        errs += each_invalid(f"binaryData[{key}]", key, is_config_map_key(key))
        decoded = _b64_decode(value)
        if decoded is None:
            errs.append(_bad_base64(f"binaryData[{key}]", value))
        else:
            total += len(decoded)
    if total > MAX_SECRET_SIZE:
        errs.append(FieldError("TooLong", "", f"may not be more than {MAX_SECRET_SIZE} bytes", ""))
    return errs


def validate_config_map(cm: ConfigMap) -> list[FieldError]:
    errs = validate_object_meta(_meta(cm), namespaced=True, name_fn=name_is_dns_subdomain)
    return errs + _validate_config_map_data(cm)


def _immutable_data(new: Any, old: Any, fields: tuple[str, ...]) -> list[FieldError]:
    if not old.immutable:
        return []
    errs: list[FieldError] = []
    if not new.immutable:
        errs.append(forbidden("immutable", "field is immutable when `immutable` is set"))
    for name in fields:
        if (getattr(new, name) or {}) != (getattr(old, name) or {}):
            errs.append(forbidden(name, "field is immutable when `immutable` is set"))
    return errs


def validate_config_map_update(new: ConfigMap, old: ConfigMap) -> list[FieldError]:
    errs = validate_object_meta_update(_meta(new), _meta(old))
    errs += _immutable_data(new, old, ("data", "binaryData"))
    return errs + _validate_config_map_data(new)


def _b64_decode(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _bad_base64(path: str, value: str) -> FieldError:
    # Go's encoding/base64 reports the offset of the first bad byte; the value is secret.
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    offset = next((i for i, ch in enumerate(value) if ch not in alphabet), len(value) - len(value) % 4)
    return FieldError("Invalid", path, f"illegal base64 data at input byte {offset}", "", False)


def _validate_secret_data(secret: Secret) -> list[FieldError]:
    errs: list[FieldError] = []
    data, string_data = secret.data or {}, secret.stringData or {}
    total = 0
    for key, value in data.items():
        errs += each_invalid(f"data[{key}]", key, is_config_map_key(key))
        decoded = _b64_decode(value)
        if decoded is None:
            errs.append(_bad_base64(f"data[{key}]", value))
        else:
            total += len(decoded)
    for key, value in string_data.items():
        errs += each_invalid(f"stringData[{key}]", key, is_config_map_key(key))
        if key not in data:
            total += len(value.encode())
    if total > MAX_SECRET_SIZE:
        errs.append(
            FieldError("TooLong", "data", f"may not be more than {MAX_SECRET_SIZE} bytes", "")
        )
    keys = set(data) | set(string_data)
    required_keys = {
        "kubernetes.io/tls": ("tls.crt", "tls.key"),
        "kubernetes.io/dockercfg": (".dockercfg",),
        "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
        "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    }.get(secret.type or "Opaque", ())
    for key in required_keys:
        if key not in keys:
            errs.append(required(f"data[{key}]"))
    if secret.type == "kubernetes.io/basic-auth" and not keys & {"username", "password"}:
        errs += [required("data[username]"), required("data[password]")]
    return errs


def validate_secret(secret: Secret) -> list[FieldError]:
    errs = validate_object_meta(_meta(secret), namespaced=True, name_fn=name_is_dns_subdomain)
    return errs + _validate_secret_data(secret)


def validate_secret_update(new: Secret, old: Secret) -> list[FieldError]:
    errs = validate_object_meta_update(_meta(new), _meta(old))
    errs += validate_immutable(new.type or "Opaque", old.type or "Opaque", "type")
    errs += _immutable_data(new, old, ("data",))
    return errs + _validate_secret_data(new)


# --------------------------------------------------------------------------
# Namespace, Node
# --------------------------------------------------------------------------


def _validate_namespace_finalizers(ns: Namespace) -> list[FieldError]:
    errs: list[FieldError] = []
    for name in (ns.spec.finalizers if ns.spec else None) or ():
        msgs = is_qualified_name(name)
        errs += each_invalid("spec.finalizers", name, msgs)
        if not msgs and "/" not in name and name not in STANDARD_FINALIZERS:
            errs.append(
                invalid(
                    "spec.finalizers",
                    name,
                    "name is neither a standard finalizer name nor is it fully qualified",
                )
            )
    return errs


def validate_namespace(ns: Namespace) -> list[FieldError]:
    errs = validate_object_meta(_meta(ns), namespaced=False, name_fn=name_is_dns_label)
    return errs + _validate_namespace_finalizers(ns)


def validate_namespace_update(new: Namespace, old: Namespace) -> list[FieldError]:
    return validate_object_meta_update(_meta(new), _meta(old)) + _validate_namespace_finalizers(new)


def validate_taints(taints: list[Any] | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(taints or ()):
        p = f"{path}[{i}]"
        errs += validate_label_name(taint.key, f"{p}.key")
        msgs = is_valid_label_value(taint.value or "")
        if msgs:
            errs.append(invalid(f"{p}.value", taint.value, ";".join(msgs)))
        if not taint.effect:
            errs.append(required(f"{p}.effect"))
        elif taint.effect not in TAINT_EFFECTS:
            errs.append(not_supported(f"{p}.effect", taint.effect, TAINT_EFFECTS))
        key = (taint.key or "", taint.effect or "")
        if key in seen:
            errs.append(
                FieldError(
                    "Duplicate", p, "taints must be unique by key and effect pair",
                    {"key": taint.key, "effect": taint.effect},
                )
            )
        seen.add(key)
    return errs


def _validate_node_spec(node: Node) -> list[FieldError]:
    spec = node.spec
    if spec is None:
        return []
    errs = validate_taints(spec.taints, "spec.taints")
    if spec.podCIDR:
        errs += each_invalid("spec.podCIDR", spec.podCIDR, is_valid_cidr(spec.podCIDR))
    for i, cidr in enumerate(spec.podCIDRs or ()):
        errs += each_invalid(f"spec.podCIDRs[{i}]", cidr, is_valid_cidr(cidr))
    return errs


def validate_node(node: Node) -> list[FieldError]:
    errs = validate_object_meta(_meta(node), namespaced=False, name_fn=name_is_dns_subdomain)
    return errs + _validate_node_spec(node)


def validate_node_update(new: Node, old: Node) -> list[FieldError]:
    errs = validate_object_meta_update(_meta(new), _meta(old)) + _validate_node_spec(new)
    old_cidr = old.spec.podCIDR if old.spec else None
    new_cidr = new.spec.podCIDR if new.spec else None
    if old_cidr and new_cidr != old_cidr:
        errs.append(
            forbidden("spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid')
        )
    old_provider = old.spec.providerID if old.spec else None
    new_provider = new.spec.providerID if new.spec else None
    if old_provider and new_provider != old_provider:
        errs.append(
            forbidden("spec.providerID", 'node updates may not change providerID except from "" to valid')
        )
    return errs


# --------------------------------------------------------------------------
# Endpoints, Event
# --------------------------------------------------------------------------


def _validate_endpoint_address(addr: Any, path: str) -> list[FieldError]:
    errs = each_invalid(f"{path}.ip", addr.ip or "", is_valid_ip(addr.ip or ""))
    if addr.hostname:
        errs += each_invalid(f"{path}.hostname", addr.hostname, is_dns1123_label(addr.hostname))
    if addr.nodeName is not None:
        errs += each_invalid(f"{path}.nodeName", addr.nodeName, name_is_dns_subdomain(addr.nodeName))
    return errs


def _validate_endpoints_subsets(ep: Endpoints) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, subset in enumerate(ep.subsets or ()):
        p = f"subsets[{i}]"
        if not subset.addresses and not subset.notReadyAddresses:
            errs.append(required(p, "must specify `addresses` or `notReadyAddresses`"))
        for kind in ("addresses", "notReadyAddresses"):
            for j, addr in enumerate(getattr(subset, kind) or ()):
                errs += _validate_endpoint_address(addr, f"{p}.{kind}[{j}]")
        ports = subset.ports or []
        for j, port in enumerate(ports):
            pp = f"{p}.ports[{j}]"
            if len(ports) > 1 and not port.name:
                errs.append(required(f"{pp}.name"))
            elif port.name:
                errs += each_invalid(f"{pp}.name", port.name, is_dns1123_label(port.name))
            errs += each_invalid(f"{pp}.port", port.port, is_valid_port_num(port.port or 0))
            errs += _protocol(port.protocol, f"{pp}.protocol")
    return errs


def validate_endpoints(ep: Endpoints) -> list[FieldError]:
    errs = validate_object_meta(_meta(ep), namespaced=True, name_fn=name_is_dns_subdomain)
    return errs + _validate_endpoints_subsets(ep)


def validate_endpoints_update(new: Endpoints, old: Endpoints) -> list[FieldError]:
    return validate_object_meta_update(_meta(new), _meta(old)) + _validate_endpoints_subsets(new)


def _validate_event_body(event: Event) -> list[FieldError]:
    involved = event.involvedObject
    if involved is None:
        return [required("involvedObject")]
    errs: list[FieldError] = []
    namespace = _meta(event).namespace or ""
    if not involved.namespace:
        # Events about cluster-scoped objects live in "default" (or no namespace).
        if namespace not in ("", "default"):
            errs.append(invalid("involvedObject.namespace", "", "does not match event.namespace"))
    elif involved.namespace != namespace:
        errs.append(
            invalid("involvedObject.namespace", involved.namespace, "does not match event.namespace")
        )
    return errs


def validate_event(event: Event) -> list[FieldError]:
    errs = validate_object_meta(_meta(event), namespaced=True, name_fn=name_is_dns_subdomain)
    return errs + _validate_event_body(event)


def validate_event_update(new: Event, old: Event) -> list[FieldError]:
    return validate_object_meta_update(_meta(new), _meta(old)) + _validate_event_body(new)


__all__ = [
    "validate_affinity",
    "validate_binding",
    "validate_config_map",
    "validate_config_map_update",
    "validate_endpoints",
    "validate_endpoints_update",
    "validate_event",
    "validate_event_update",
    "validate_label_selector",
    "validate_namespace",
    "validate_namespace_update",
    "validate_node",
    "validate_node_update",
    "validate_pod",
    "validate_pod_spec",
    "validate_pod_status",
    "validate_pod_template_spec",
    "validate_pod_update",
    "validate_port_num_or_name",
    "validate_resource_requirements",
    "validate_secret",
    "validate_secret_update",
    "validate_service",
    "validate_service_update",
    "validate_taints",
    "validate_tolerations",
    "validate_topology_spread_constraints",
    "validate_volumes",
]
