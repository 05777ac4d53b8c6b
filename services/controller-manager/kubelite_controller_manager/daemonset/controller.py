"""The DaemonSet controller (Kubernetes' pkg/controller/daemon): one pod per eligible node.

Keyed by DaemonSet. One sync: claim the pods the selector picks (ControllerRefManager), keep
the template history (ControllerRevisions), group pods by node, then `rules.manage` (create
where missing, delete where not wanted), `rules.rolling_update` (replace old pods within the
budgets) and write status. Pods are pinned to their node through node affinity on
`metadata.name`, so the scheduler still checks resources and ports before binding, as in
Kubernetes since 1.12. Node changes (a new node, a label, a taint) wake every DaemonSet.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from kubelite.api.apps_v1 import (
    CONTROLLER_REVISION_HASH_LABEL,
    CONTROLLERREVISIONS,
    DAEMONSET_TEMPLATE_GENERATION_LABEL,
    DAEMONSETS,
    DaemonSet,
    DaemonSetStatus,
)
from kubelite.api.core_v1 import (
    NODES,
    PODS,
    Affinity,
    NodeAffinity,
    NodeSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    Pod,
)
from kubelite.api.meta import ObjectMeta
from kubelite.errors import APIError
from kubelite.reconcile.cache import INDEX_NAMESPACE, INDEX_OWNER, key_of, split_key
from kubelite.reconcile.controller import Controller, Requeue
from kubelite.reconcile.controller_ref import (
    ControllerRefManager,
    controller_ref,
    resolve_owner,
)
from kubelite.reconcile.expectations import ControllerExpectations
from kubelite.reconcile.writes import typed, write_status
from kubelite_controller_manager.daemonset import rules
from kubelite_controller_manager.history.revisions import (
    CollisionError,
    RevisionHistory,
    bump_collision,
    hash_of,
    plan_history,
    to_prune,
)
from kubelite_controller_manager.replicaset.pods import seconds_until_available

if TYPE_CHECKING:
    from kubelite_controller_manager.app import ControllerContext

log = logging.getLogger(__name__)

CONTROLLER_NAME = "daemonset-controller"


def pinned_to(node: str) -> Affinity:
    return Affinity(nodeAffinity=NodeAffinity(requiredDuringSchedulingIgnoredDuringExecution=NodeSelector(
        nodeSelectorTerms=[NodeSelectorTerm(matchFields=[
            NodeSelectorRequirement(key="metadata.name", operator="In", values=[node])])])))


def pod_for(ds: DaemonSet, node: str, hash_: str) -> Pod:
    """The daemon pod for `node`: the template, labelled with the revision hash and template
    generation, with the daemon tolerations, and its node affinity replaced by the node's name
    (ReplaceDaemonSetPodNodeNameNodeAffinity)."""
    assert ds.spec is not None and ds.spec.template is not None and ds.spec.template.spec is not None
    tmeta = ds.spec.template.metadata or ObjectMeta()
    labels = {**(tmeta.labels or {}), CONTROLLER_REVISION_HASH_LABEL: hash_,
              DAEMONSET_TEMPLATE_GENERATION_LABEL: str(ds.metadata.generation or 1)}
    template_spec = ds.spec.template.spec
    affinity = msgspec.structs.replace(template_spec.affinity, nodeAffinity=pinned_to(node).nodeAffinity) \
        if template_spec.affinity else pinned_to(node)
    spec = msgspec.structs.replace(template_spec, affinity=affinity,
                                   tolerations=rules.daemon_tolerations(template_spec))
    return Pod(apiVersion="v1", kind="Pod", spec=spec, metadata=ObjectMeta(
        generateName=f"{ds.metadata.name}-", namespace=ds.metadata.namespace, labels=labels,
        annotations=dict(tmeta.annotations or {}) or None, finalizers=tmeta.finalizers,
        ownerReferences=[controller_ref(ds, "apps/v1", "DaemonSet")]))


class DaemonSetController(Controller):
    name = "daemonset"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(workers=2, name="daemonset")
        self.ctx = ctx
        self.api = ctx.api
        self.sets = ctx.informers.get(DAEMONSETS)
        self.pods = ctx.informers.get(PODS)
        self.nodes = ctx.informers.get(NODES)
        self.revisions = ctx.informers.get(CONTROLLERREVISIONS)
        self.history = RevisionHistory(api=self.api)
        self.expectations = ControllerExpectations()
        self.watch(self.sets)
        self.watch(self.nodes, lambda _n: [key_of(ds) for ds in self.sets.list()])
        self.watch(self.revisions, self._owner_key)
        self.pods.add_handler(on_add=self._pod_added, on_update=lambda _o, n: self._pod_changed(n),
                              on_delete=self._pod_deleted)
        self.informers.append(self.pods)

    # -- events ------------------------------------------------------------------
    def _owner_key(self, obj: Any) -> str | None:
        ds = resolve_owner(obj, "DaemonSet", self.sets.get)
        return key_of(ds) if ds is not None else None

    def _pod_added(self, pod: Pod) -> None:
        ds = resolve_owner(pod, "DaemonSet", self.sets.get)
        if ds is not None and pod.metadata.deletionTimestamp is None:
            self.expectations.creation_observed(key_of(ds))
        self._pod_changed(pod)

    def _pod_deleted(self, pod: Pod) -> None:
        ds = resolve_owner(pod, "DaemonSet", self.sets.get)
        if ds is not None:
            self.expectations.deletion_observed(key_of(ds), pod.metadata.uid or "")
        self._pod_changed(pod)

    def _pod_changed(self, pod: Pod) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.queue.add(key)
        elif not pod.metadata.ownerReferences:  # an orphan: a DaemonSet may adopt it
            for ds in self.sets.by_index(INDEX_NAMESPACE, pod.metadata.namespace or ""):
                self.queue.add(key_of(ds))

    # -- reconcile ---------------------------------------------------------------
    async def reconcile(self, key: Any) -> None:
        ns, name = split_key(key)
        ds: DaemonSet | None = self.sets.get(ns, name)
        if ds is None or ds.spec is None or ds.spec.template is None:
            self.expectations.delete(key)
            return
        pods = await self._claim(ds)
        try:
            current = await self._history(ds, pods)
        except CollisionError:
            await bump_collision(self.api, ds, DaemonSetStatus())
            raise Requeue(0.1, "revision name collision") from None
        hash_ = current.metadata.labels.get(CONTROLLER_REVISION_HASH_LABEL) if current.metadata.labels else None
        hash_ = hash_ or hash_of(current)
        nodes = self.nodes.list()
        should = {n.metadata.name or "": rules.node_should_run(n, ds.spec.template.spec) for n in nodes}
        by_node = self._by_node(pods)
        now = datetime.now(UTC)
        desired = sum(1 for run, _ in should.values() if run)
        surge, unavailable = rules.budgets(ds, desired)
        rollout = rules.Rollout(hash_, ds.metadata.generation, surge, unavailable, ds.spec.minReadySeconds or 0, now)
        if self.expectations.satisfied(key) and ds.metadata.deletionTimestamp is None:
            await self._act(key, ds, should, by_node, rollout)
        await self._write_status(ds, rules.status_counts(should, by_node, rollout))
        self._wake_for_min_ready(key, pods, rollout)

    async def _act(self, key: str, ds: DaemonSet, should: dict[str, tuple[bool, bool]],
                   by_node: dict[str, list[Pod]], rollout: rules.Rollout) -> None:
        plan = rules.manage(should, by_node, surge=rollout.max_surge > 0)
        strategy = ds.spec.updateStrategy if ds.spec else None
        if not plan.create and not plan.delete and (strategy is None or strategy.type != "OnDelete"):
            wanted = {n: by_node.get(n, []) for n, (run, _) in should.items() if run}
            plan = rules.rolling_update(wanted, rollout)
        if plan.delete:
            self.expectations.expect_deletions(key, [p.metadata.uid or "" for p in plan.delete])
            for pod in plan.delete:
                await self._delete_pod(key, ds, pod)
        if plan.create:
            await self._create_pods(key, ds, plan.create, rollout.hash)

    async def _claim(self, ds: DaemonSet) -> list[Pod]:
        manager = ControllerRefManager.for_owner(self.api, ds, DAEMONSETS, PODS)
        if manager is None:
            return []
        result = await manager.claim(self.pods.by_index(INDEX_NAMESPACE, ds.metadata.namespace or ""))
        return result.owned

    async def _history(self, ds: DaemonSet, pods: list[Pod]) -> Any:
        revisions = self.revisions.by_index(INDEX_OWNER, ds.metadata.uid or "")
        plan = plan_history(ds, "apps/v1", "DaemonSet", revisions)
        current = await self.history.sync(ds, plan)
        live = {(p.metadata.labels or {}).get(CONTROLLER_REVISION_HASH_LABEL, "") for p in pods}
        limit = ds.spec.revisionHistoryLimit if ds.spec and ds.spec.revisionHistoryLimit is not None else 10
        await self.history.prune(to_prune(plan.old, live, limit))
        return current

    @staticmethod
    def _by_node(pods: list[Pod]) -> dict[str, list[Pod]]:
        out: dict[str, list[Pod]] = {}
        for pod in pods:
            node = rules.node_of(pod)
            if node:
                out.setdefault(node, []).append(pod)
        return out

    def _wake_for_min_ready(self, key: str, pods: list[Pod], rollout: rules.Rollout) -> None:
        waits = [w for p in pods if (w := seconds_until_available(p, rollout.min_ready, rollout.now)) is not None]
        if waits:
            self.queue.add_after(key, min(waits) + 0.05)

    # -- writes ------------------------------------------------------------------
    async def _create_pods(self, key: str, ds: DaemonSet, nodes: list[str], hash_: str) -> None:
        self.expectations.expect_creations(key, len(nodes))
        results = await asyncio.gather(*(self._create_one(ds, node, hash_) for node in nodes))
        failed = sum(1 for ok in results if not ok)
        if failed:
            self.expectations.creations_failed(key, failed)

    async def _create_one(self, ds: DaemonSet, node: str, hash_: str) -> bool:
        try:
            pod = await self.api.create(pod_for(ds, node, hash_), namespace=ds.metadata.namespace or "")
        except APIError as exc:
            self.ctx.recorder.event(typed(ds), "Warning", "FailedCreate", f"Error creating: {exc.message}")
            return False
        self.ctx.recorder.event(typed(ds), "Normal", "SuccessfulCreate", f"Created pod: {pod.metadata.name}")
        await self.ctx.decisions.publish(CONTROLLER_NAME, typed(ds), "SuccessfulCreate",
                                         f"Created pod {pod.metadata.name} for node {node}")
        return True

    async def _delete_pod(self, key: str, ds: DaemonSet, pod: Pod) -> None:
        try:
            await self.api.delete(PODS, pod.metadata.namespace or "", pod.metadata.name or "",
                                  uid=pod.metadata.uid or "")
        except APIError as exc:
            self.expectations.deletion_observed(key, pod.metadata.uid or "")
            if exc.code not in (404, 409):
                raise
            return
        self.ctx.recorder.event(typed(ds), "Normal", "SuccessfulDelete", f"Deleted pod: {pod.metadata.name}")
        await self.ctx.decisions.publish(CONTROLLER_NAME, typed(ds), "SuccessfulDelete",
                                         f"Deleted pod {pod.metadata.name} on node {rules.node_of(pod)}")

    async def _write_status(self, ds: DaemonSet, c: rules.Counts) -> None:
        st = msgspec.structs.replace(
            ds.status or DaemonSetStatus(), desiredNumberScheduled=c.desired, currentNumberScheduled=c.current,
            numberMisscheduled=c.misscheduled, numberReady=c.ready, updatedNumberScheduled=c.updated,
            numberAvailable=c.available or None, numberUnavailable=(c.desired - c.available) or None,
            observedGeneration=ds.metadata.generation)
        if st != ds.status:
            await write_status(self.api, ds, st)


def new_controller(ctx: ControllerContext) -> DaemonSetController:
    return DaemonSetController(ctx)


__all__ = ["DaemonSetController", "new_controller", "pod_for"]
