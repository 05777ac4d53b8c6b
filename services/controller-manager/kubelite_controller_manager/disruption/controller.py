"""The disruption controller: keeps each PodDisruptionBudget's status (how many pods may be
disrupted now) current, for the eviction subresource to consult.

Keyed by budget. Pods, and the controllers whose scale a budget may need (ReplicaSet,
Deployment through its ReplicaSets, StatefulSet), enqueue the budgets whose selector matches.
A budget with recently admitted evictions is looked at again when they expire.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from kubelite.api.apps_v1 import REPLICASETS, STATEFULSETS
from kubelite.api.core_v1 import PODS, Pod
from kubelite.api.policy_v1 import (
    PODDISRUPTIONBUDGETS,
    PodDisruptionBudget,
    PodDisruptionBudgetCondition,
    PodDisruptionBudgetStatus,
    selects,
)
from kubelite.printers import parse_time
from kubelite.reconcile.cache import INDEX_NAMESPACE, key_of, split_key
from kubelite.reconcile.controller import Controller
from kubelite.reconcile.controller_ref import controller_of
from kubelite.reconcile.writes import write_status
from kubelite.timefmt import rfc3339
from kubelite_controller_manager.disruption import rules

if TYPE_CHECKING:
    from kubelite_controller_manager.app import ControllerContext


class DisruptionController(Controller):
    name = "disruption"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(workers=1, name="disruption")
        self.api = ctx.api
        self.budgets = ctx.informers.get(PODDISRUPTIONBUDGETS)
        self.pods = ctx.informers.get(PODS)
        self.replicasets = ctx.informers.get(REPLICASETS)
        self.statefulsets = ctx.informers.get(STATEFULSETS)
        self.watch(self.budgets)
        self.watch(self.pods, self._budgets_for)
        self.informers += [self.replicasets, self.statefulsets]

    def _budgets_for(self, pod: Pod) -> list[str]:
        labels = pod.metadata.labels or {}
        return [key_of(pdb) for pdb in self.budgets.by_index(INDEX_NAMESPACE, pod.metadata.namespace or "")
                if selects(pdb, labels)]

    async def reconcile(self, key: Any) -> None:
        ns, name = split_key(key)
        pdb: PodDisruptionBudget | None = self.budgets.get(ns, name)
        if pdb is None or pdb.spec is None:
            return
        pods = self._pods(pdb)
        replicas = self._controller_replicas(pods) if rules.needs_controller_scale(pdb) else 0
        now = datetime.now(UTC)
        b = rules.budget(pdb, pods, replicas, now)
        await self._write(pdb, b)
        expiries = [t + rules.DELETION_TIMEOUT for w in b.disrupted.values() if (t := parse_time(w)) is not None]
        if expiries:
            self.queue.add_after(key, max(0.1, (min(expiries) - now).total_seconds()))

    def _pods(self, pdb: PodDisruptionBudget) -> list[Pod]:
        return [p for p in self.pods.by_index(INDEX_NAMESPACE, pdb.metadata.namespace or "")
                if selects(pdb, p.metadata.labels or {})]

    def _controller_replicas(self, pods: list[Pod]) -> int:
        """getExpectedPodCount: the sum of spec.replicas over the pods' distinct controllers."""
        seen: dict[str, int] = {}
        for pod in pods:
            ref = controller_of(pod)
            if ref is None or ref.uid in seen:
                continue
            ns = pod.metadata.namespace or ""
            owner = self.replicasets.get(ns, ref.name) if ref.kind == "ReplicaSet" else \
                self.statefulsets.get(ns, ref.name) if ref.kind == "StatefulSet" else None
            if owner is not None and owner.metadata.uid == ref.uid and owner.spec is not None:
                seen[ref.uid] = owner.spec.replicas if owner.spec.replicas is not None else 1
        return sum(seen.values())

    async def _write(self, pdb: PodDisruptionBudget, b: rules.Budget) -> None:
        old = pdb.status or PodDisruptionBudgetStatus()
        allowed = b.allowed > 0
        cond = next((c for c in old.conditions or [] if c.type == "DisruptionAllowed"), None)
        status_text = "True" if allowed else "False"
        if cond is None or cond.status != status_text:
            cond = PodDisruptionBudgetCondition(
                type="DisruptionAllowed", status=status_text, reason="SufficientPods" if allowed else "InsufficientPods",
                message="" if allowed else None, lastTransitionTime=rfc3339())
        cond = msgspec.structs.replace(cond, observedGeneration=pdb.metadata.generation)
        st = msgspec.structs.replace(
            old, observedGeneration=pdb.metadata.generation, disruptionsAllowed=b.allowed, currentHealthy=b.healthy,
            desiredHealthy=b.desired, expectedPods=b.expected, disruptedPods=b.disrupted or None, conditions=[cond])
        if st != pdb.status:
            await write_status(self.api, pdb, st)


def new_controller(ctx: ControllerContext) -> DisruptionController:
    return DisruptionController(ctx)
