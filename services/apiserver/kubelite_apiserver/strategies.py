"""Per-kind rules the generic registry applies (Kubernetes' "strategies").

Each rule is small and named after the Kubernetes behaviour it keeps:
status reset on create, status preserved on spec writes, pods' initial phase
and QoS class, default tolerations, graceful deletion of bound pods.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cache
from typing import Any

import msgspec

from kubelite.api.meta import Object
from kubelite.api.scheme import ResourceInfo


@dataclass(frozen=True)
class AdmissionConfig:
    """Settings of the built-in admission steps (apiserver flags)."""

    default_not_ready_toleration_seconds: int = 300
    default_unreachable_toleration_seconds: int = 300


@cache
def field_type(obj_type: type, name: str) -> Any:
    for f in msgspec.structs.fields(obj_type):
        if f.name == name:
            return f.type
    return None


def _new_of(tp: Any, value: dict) -> Any:
    """Build an instance of a (possibly Optional) Struct type from a dict."""
    return msgspec.convert(value, tp)


def has_status(info: ResourceInfo) -> bool:
    return "status" in info.subresources


def allow_create_on_update(info: ResourceInfo) -> bool:
    """Kinds Kubernetes lets a PUT create (AllowCreateOnUpdate in their strategies)."""
    return info.kind in ("Endpoints", "Lease", "Event")


def fold_string_data(obj: Any) -> None:
    """Secret.stringData is write-only: merged into data (base64) and never stored."""
    string_data = getattr(obj, "stringData", None)
    if not string_data:
        return
    data = dict(obj.data or {})
    for key, value in string_data.items():
        data[key] = base64.b64encode(value.encode()).decode()
    obj.data = data
    obj.stringData = None


def prepare_for_create(info: ResourceInfo, obj: Object) -> None:
    """Reset what a client may not set on create (status, for kinds that own it)."""
    if info.kind == "Secret":
        fold_string_data(obj)
    if info.kind == "Job":
        generate_job_selector(obj)
    if not hasattr(obj, "status"):
        return
    kind = info.kind
    tp = field_type(type(obj), "status")
    if kind == "Pod":
        obj.status = _new_of(tp, {"phase": "Pending", "qosClass": qos_class(obj)})
    elif kind == "Namespace":
        obj.status = _new_of(tp, {"phase": "Active"})
    elif kind in ("PersistentVolumeClaim", "PersistentVolume"):
        obj.status = _new_of(tp, {"phase": "Pending"})  # the binder moves it on
    elif kind == "Node":
        return  # nodes report their own status at registration (as in Kubernetes)
    elif kind == "Service":
        obj.status = _new_of(tp, {"loadBalancer": {}})  # what Kubernetes returns for a new Service
    elif has_status(info):
        obj.status = None


def generate_job_selector(job: Any) -> None:
    """Kubernetes' Job strategy: unless `manualSelector`, the template gets the job's name and uid
    as labels (batch.kubernetes.io/ and the legacy unprefixed ones) and the selector is the uid."""
    from kubelite.api import batch_v1 as b
    from kubelite.api.core_v1 import LabelSelector, ObjectMeta, PodTemplateSpec

    spec = job.spec
    if spec is None or spec.manualSelector:
        return
    uid, name = job.metadata.uid or "", job.metadata.name or ""
    template = spec.template = spec.template or PodTemplateSpec()
    meta = template.metadata = template.metadata or ObjectMeta()
    meta.labels = {**(meta.labels or {}), b.CONTROLLER_UID_LABEL: uid, b.LEGACY_CONTROLLER_UID_LABEL: uid,
                   b.JOB_NAME_LABEL: name, b.LEGACY_JOB_NAME_LABEL: name}
    if spec.selector is None:
        spec.selector = LabelSelector(matchLabels={b.CONTROLLER_UID_LABEL: uid})


def prepare_for_update(info: ResourceInfo, new: Object, old: Object) -> None:
    """A write to the main resource never changes status (it has its own subresource)."""
    if info.kind == "Secret":
        fold_string_data(new)
    if has_status(info) and hasattr(new, "status") and info.kind != "Node":
        new.status = old.status
    if info.kind == "Node" and getattr(new, "status", None) is None:
        new.status = old.status


def prepare_for_status_update(new: Object, old: Object) -> Object:
    """Status writes change only status: everything else comes from the stored object."""
    return msgspec.structs.replace(old, status=new.status)


def prepare_for_ephemeral_update(new: Object, old: Object) -> Object:
    """pods/NAME/ephemeralcontainers changes only spec.ephemeralContainers (kubectl debug)."""
    spec = msgspec.structs.replace(old.spec, ephemeralContainers=getattr(new.spec, "ephemeralContainers", None))
    return msgspec.structs.replace(old, spec=spec)


def prepare_for_finalize(new: Object, old: Object) -> Object:
    """namespaces/NAME/finalize changes only spec.finalizers."""
    spec = msgspec.structs.replace(old.spec, finalizers=getattr(new.spec, "finalizers", None))
    return msgspec.structs.replace(old, spec=spec)


def admit_create(info: ResourceInfo, obj: Object, cfg: AdmissionConfig) -> None:
    """Built-in mutating admission (runs after defaulting, before validation)."""
    if info.kind == "Pod":
        add_default_tolerations(obj, cfg)


def add_default_tolerations(pod: Any, cfg: AdmissionConfig) -> None:
    """DefaultTolerationSeconds admission: tolerate not-ready/unreachable for N seconds."""
    spec = pod.spec
    if spec is None:
        return
    tols = list(spec.tolerations or [])
    tol_type = _list_item_type(type(spec), "tolerations")
    present = {(getattr(t, "key", None), getattr(t, "effect", None)) for t in tols}
    for key, secs in (
        ("node.kubernetes.io/not-ready", cfg.default_not_ready_toleration_seconds),
        ("node.kubernetes.io/unreachable", cfg.default_unreachable_toleration_seconds),
    ):
        if (key, "NoExecute") in present or (None, None) in present:
            continue
        tols.append(
            msgspec.convert(
                {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": secs},
                tol_type,
            )
        )
    spec.tolerations = tols


@cache
def _list_item_type(struct_type: type, name: str) -> Any:
    tp = field_type(struct_type, name)
    # list[X] | None -> X
    for arg in getattr(tp, "__args__", ()):
        inner = getattr(arg, "__args__", None)
        if inner:
            return inner[0]
    return tp


def qos_class(pod: Any) -> str:
    """Pod QoS class (Guaranteed / Burstable / BestEffort) from requests and limits."""
    containers = list(getattr(pod.spec, "containers", None) or []) + list(
        getattr(pod.spec, "initContainers", None) or []
    )
    any_set = False
    guaranteed = True
    for c in containers:
        res = getattr(c, "resources", None)
        requests = dict(getattr(res, "requests", None) or {})
        limits = dict(getattr(res, "limits", None) or {})
        if requests or limits:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in limits:
                guaranteed = False
            elif r in requests and str(requests[r]) != str(limits[r]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def deletes_gracefully(info: ResourceInfo, obj: Any, grace: int | None) -> tuple[bool, int]:
    """Whether a delete only marks the object (deletionTimestamp) and with what grace.

    Pods bound to a node are deleted gracefully: their node agent stops the
    containers and then confirms with a delete of grace 0. Unbound pods, and a
    grace of 0, delete at once.
    """
    if info.kind != "Pod":
        return False, 0
    if grace is None:
        grace = getattr(obj.spec, "terminationGracePeriodSeconds", None)
        grace = 30 if grace is None else grace
    if grace == 0 or not getattr(obj.spec, "nodeName", None):
        return False, 0
    phase = getattr(getattr(obj, "status", None), "phase", None)
    if phase in ("Succeeded", "Failed"):
        return False, 0  # nothing left to stop
    return True, grace
