"""storage.k8s.io/v1 StorageClass. Field names follow k8s.io/api/storage/v1/types.go."""

from kubelite.api.base import Model
from kubelite.api.meta import Object
from kubelite.api.scheme import ResourceInfo, register

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
BETA_DEFAULT_CLASS_ANNOTATION = "storageclass.beta.kubernetes.io/is-default-class"
IMMEDIATE, WAIT_FOR_FIRST_CONSUMER = "Immediate", "WaitForFirstConsumer"

# Names the storage pieces share (apiserver admission, controllers, scheduler, node agent).
PVC_PROTECTION = "kubernetes.io/pvc-protection"  # finalizer: a claim stays while a pod uses it
PV_PROTECTION = "kubernetes.io/pv-protection"  # finalizer: a volume stays while bound
SELECTED_NODE = "volume.kubernetes.io/selected-node"  # claim annotation: the scheduler's choice
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"  # volume annotation
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"  # claim annotation
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"  # claim and volume annotation
LOCAL_PATH_PROVISIONER = "kubelite.io/local-path"
LOCAL_PATH_ROOT = "kubelite.io/local-path-root"  # node annotation: where that node keeps local-path volumes
LOCAL_PATH_CLEANUP = "kubelite.io/local-path-cleanup"  # volume finalizer: its data is removed on its node


class TopologySelectorLabelRequirement(Model):
    key: str | None = None
    values: list[str] | None = None


class TopologySelectorTerm(Model):
    matchLabelExpressions: list[TopologySelectorLabelRequirement] | None = None


class StorageClass(Object):
    provisioner: str | None = None
    parameters: dict[str, str] | None = None
    reclaimPolicy: str | None = None  # defaulted to Delete
    mountOptions: list[str] | None = None
    allowVolumeExpansion: bool | None = None
    volumeBindingMode: str | None = None  # defaulted to Immediate
    allowedTopologies: list[TopologySelectorTerm] | None = None


def is_default_class(sc: StorageClass) -> bool:
    annotations = sc.metadata.annotations or {}
    return "true" in (annotations.get(DEFAULT_CLASS_ANNOTATION), annotations.get(BETA_DEFAULT_CLASS_ANNOTATION))


STORAGECLASSES = register(ResourceInfo(
    group="storage.k8s.io", version="v1", kind="StorageClass", plural="storageclasses", singular="storageclass",
    namespaced=False, type=StorageClass, short_names=("sc",), has_spec=False,
))

__all__ = ["STORAGECLASSES", "StorageClass", "is_default_class"]
