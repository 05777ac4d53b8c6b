"""Validation of API objects, with Kubernetes' field paths and messages.

`validate(obj)` on create and `validate_update(new, old)` on update return every
problem found as `FieldError`s (empty list: valid); the apiserver turns a
non-empty list into a 422 with `kubelite.errors.invalid_object`. Both include
the ObjectMeta checks with the name rule of the object's kind. Kinds without a
validator of their own get the ObjectMeta checks only.

Call them after `kubelite.api.defaults.apply_defaults`, as Kubernetes does;
unset defaulted fields are accepted either way. On update the apiserver is
expected to carry over what Kubernetes carries over before validating
(uid, creationTimestamp, an empty Service clusterIP).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubelite.api.apiextensions_v1 import CustomResourceDefinition
from kubelite.api.apps_v1 import ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet
from kubelite.api.autoscaling_v2 import HorizontalPodAutoscaler
from kubelite.api.batch_v1 import CronJob, Job
from kubelite.api.coordination_v1 import Lease
from kubelite.api.core_v1 import (
    Binding,
    ConfigMap,
    Endpoints,
    Event,
    Namespace,
    Node,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    ReplicationController,
    Secret,
    Service,
)
from kubelite.api.discovery_v1 import EndpointSlice
from kubelite.api.meta import ObjectMeta
from kubelite.api.policy_v1 import PodDisruptionBudget
from kubelite.api.rbac_v1 import ClusterRole, ClusterRoleBinding, Role, RoleBinding
from kubelite.api.storage_v1 import StorageClass
from kubelite.api.validation import (
    apiextensions,
    apps,
    autoscaling,
    batch,
    core,
    discovery,
    policy,
    rbac,
    storage,
    workloads,
)
from kubelite.api.validation.names import (
    name_is_dns_subdomain,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.errors import FieldError

Validator = Callable[[Any], list[FieldError]]
UpdateValidator = Callable[[Any, Any], list[FieldError]]

_CREATE: dict[type, Validator] = {
    ReplicationController: apps.validate_replication_controller,
    CustomResourceDefinition: apiextensions.validate_crd,
    Pod: core.validate_pod,
    Service: core.validate_service,
    ConfigMap: core.validate_config_map,
    Secret: core.validate_secret,
    Namespace: core.validate_namespace,
    Node: core.validate_node,
    Endpoints: core.validate_endpoints,
    Event: core.validate_event,
    Binding: core.validate_binding,
    Deployment: apps.validate_deployment,
    ReplicaSet: apps.validate_replica_set,
    Lease: apps.validate_lease,
    DaemonSet: workloads.validate_daemonset,
    StatefulSet: workloads.validate_statefulset,
    ControllerRevision: workloads.validate_controller_revision,
    PersistentVolumeClaim: storage.validate_pvc,
    PersistentVolume: storage.validate_pv,
    StorageClass: storage.validate_storage_class,
    PodDisruptionBudget: policy.validate_pdb,
    HorizontalPodAutoscaler: autoscaling.validate_hpa,
    Job: batch.validate_job,
    CronJob: batch.validate_cronjob,
    EndpointSlice: discovery.validate_endpoint_slice,
    **dict.fromkeys((Role, ClusterRole, RoleBinding, ClusterRoleBinding), rbac.validate_rbac),
}

_UPDATE: dict[type, UpdateValidator] = {
    ReplicationController: apps.validate_replication_controller_update,
    CustomResourceDefinition: apiextensions.validate_crd_update,
    Pod: core.validate_pod_update,
    Service: core.validate_service_update,
    ConfigMap: core.validate_config_map_update,
    Secret: core.validate_secret_update,
    Namespace: core.validate_namespace_update,
    Node: core.validate_node_update,
    Endpoints: core.validate_endpoints_update,
    Event: core.validate_event_update,
    Deployment: apps.validate_deployment_update,
    ReplicaSet: apps.validate_replica_set_update,
    Lease: apps.validate_lease_update,
    DaemonSet: workloads.validate_daemonset_update,
    StatefulSet: workloads.validate_statefulset_update,
    ControllerRevision: workloads.validate_controller_revision_update,
    PersistentVolumeClaim: storage.validate_pvc_update,
    PersistentVolume: storage.validate_pv_update,
    StorageClass: storage.validate_storage_class_update,
    PodDisruptionBudget: policy.validate_pdb_update,
    HorizontalPodAutoscaler: autoscaling.validate_hpa_update,
    Job: batch.validate_job_update,
    CronJob: batch.validate_cronjob_update,
    EndpointSlice: discovery.validate_endpoint_slice_update,
    **dict.fromkeys((Role, ClusterRole, RoleBinding, ClusterRoleBinding), rbac.validate_rbac_update),
}


def register_validators(tp: type, create: Validator, update: UpdateValidator) -> None:
    """Validators of a type made at run time (a custom resource's: kubelite.api.crd)."""
    _CREATE[tp] = create
    _UPDATE[tp] = update


def unregister_validators(tp: type) -> None:
    _CREATE.pop(tp, None)
    _UPDATE.pop(tp, None)


def _namespaced(obj: Any) -> bool:
    """Scope from the scheme; an unregistered type is namespaced iff it names a namespace."""
    from kubelite.api.scheme import all_resources

    for info in all_resources():
        if isinstance(obj, info.type):
            return info.namespaced
    meta = getattr(obj, "metadata", None)
    return bool(meta is not None and meta.namespace)


def _meta(obj: Any) -> ObjectMeta:
    meta = getattr(obj, "metadata", None)
    return meta if meta is not None else ObjectMeta()


def validate(obj: Any) -> list[FieldError]:
    """Every problem with `obj` as a new object (create)."""
    validator = _CREATE.get(type(obj))
    if validator is not None:
        return validator(obj)
    return validate_object_meta(_meta(obj), namespaced=_namespaced(obj), name_fn=name_is_dns_subdomain)


def validate_update(new: Any, old: Any) -> list[FieldError]:
    """Every problem with replacing `old` by `new` (update, patch)."""
    validator = _UPDATE.get(type(new))
    if validator is not None and type(old) is type(new):
        return validator(new, old)
    return validate_object_meta_update(_meta(new), _meta(old))


def validate_status_update(new: Any, old: Any) -> list[FieldError]:
    """A write to the status subresource: metadata rules only, plus Pod's own status rules.

    The caller keeps the stored spec (as Kubernetes' status strategies do), so the
    spec is not re-validated here.
    """
    errs = validate_object_meta_update(_meta(new), _meta(old))
    if isinstance(new, Pod) and isinstance(old, Pod):
        errs += core.validate_pod_status(new, old)
    return errs


def validate_ephemeral_update(new: Any, old: Any) -> list[FieldError]:
    """A write to pods/NAME/ephemeralcontainers (the caller kept everything else stored)."""
    return core.validate_pod_ephemeral_containers_update(new, old)


__all__ = ["FieldError", "validate", "validate_ephemeral_update", "validate_status_update", "validate_update"]
