"""policy/v1 PodDisruptionBudget, and Eviction (the body of pods/eviction). Field names follow
k8s.io/api/policy/v1/types.go."""

from kubelite.api.base import IntOrString, Model
from kubelite.api.core_v1 import LabelSelector
from kubelite.api.meta import Object
from kubelite.api.scheme import ResourceInfo, register

IF_HEALTHY_BUDGET, ALWAYS_ALLOW = "IfHealthyBudget", "AlwaysAllow"


class PodDisruptionBudgetSpec(Model):
    minAvailable: IntOrString | None = None
    selector: LabelSelector | None = None
    maxUnavailable: IntOrString | None = None
    unhealthyPodEvictionPolicy: str | None = None  # IfHealthyBudget (when unset) | AlwaysAllow


class PodDisruptionBudgetCondition(Model):
    type: str | None = None  # DisruptionAllowed
    status: str | None = None
    observedGeneration: int | None = None
    lastTransitionTime: str | None = None
    reason: str | None = None  # SufficientPods | InsufficientPods | SyncFailed
    message: str | None = None


class PodDisruptionBudgetStatus(Model):
    observedGeneration: int | None = None
    disruptedPods: dict[str, str] | None = None  # pod name -> when the eviction was admitted
    disruptionsAllowed: int | None = None
    currentHealthy: int | None = None
    desiredHealthy: int | None = None
    expectedPods: int | None = None
    conditions: list[PodDisruptionBudgetCondition] | None = None


class PodDisruptionBudget(Object):
    spec: PodDisruptionBudgetSpec | None = None
    status: PodDisruptionBudgetStatus | None = None


class DeleteOptions(Model):
    kind: str | None = None
    apiVersion: str | None = None
    gracePeriodSeconds: int | None = None
    preconditions: dict | None = None
    orphanDependents: bool | None = None
    propagationPolicy: str | None = None
    dryRun: list[str] | None = None
    ignoreStoreReadErrorWithClusterBreakingPotential: bool | None = None


class Eviction(Object):
    """Not a resource of its own (the body of POST pods/<name>/eviction): not registered."""

    deleteOptions: DeleteOptions | None = None


def selects(pdb: PodDisruptionBudget, labels: dict[str, str]) -> bool:
    """policy/v1: a missing selector selects no pod, an empty one (`{}`) every pod of the namespace."""
    from kubelite.api.labels import selector_from_label_selector

    selector = pdb.spec.selector if pdb.spec else None
    if selector is None:
        return False
    if not selector.matchLabels and not selector.matchExpressions:
        return True
    return selector_from_label_selector(selector).matches(labels)


PODDISRUPTIONBUDGETS = register(ResourceInfo(
    group="policy", version="v1", kind="PodDisruptionBudget", plural="poddisruptionbudgets",
    singular="poddisruptionbudget", namespaced=True, type=PodDisruptionBudget, short_names=("pdb",),
    subresources=("status",),
))
