"""The StatefulSet rules (Kubernetes' stateful_set_control.go updateStatefulSet), as a pure plan.

Pods are `<set>-<ordinal>`. Under OrderedReady the set moves one pod at a time: it creates
ordinal i only when 0..i-1 are Running and Ready, removes the highest ordinal first and only
when every lower one is healthy, and waits on any pod that is terminating. Parallel creates
and removes at once. A RollingUpdate replaces, from the highest ordinal down to the
partition, one pod whose revision is not the update revision, and only once every pod above
it is healthy again; OnDelete replaces nothing (a deleted pod comes back at the new revision).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from kubelite.api.apps_v1 import CONTROLLER_REVISION_HASH_LABEL, StatefulSet
from kubelite.api.core_v1 import Pod
from kubelite_controller_manager.replicaset.pods import is_available, is_ready


def ordinal_of(pod_name: str, set_name: str) -> int | None:
    """getParentNameAndOrdinal: `web-2` of set `web` is 2; `web-x`, `webby-1` are not its pods."""
    prefix = f"{set_name}-"
    if not pod_name.startswith(prefix):
        return None
    tail = pod_name[len(prefix):]
    return int(tail) if tail.isdigit() and (tail == "0" or not tail.startswith("0")) else None


def revision_of(pod: Pod) -> str:
    return (pod.metadata.labels or {}).get(CONTROLLER_REVISION_HASH_LABEL, "")


def terminating(pod: Pod) -> bool:
    return pod.metadata.deletionTimestamp is not None


def finished(pod: Pod) -> bool:
    return pod.status is not None and pod.status.phase in ("Failed", "Succeeded")


def running_and_ready(pod: Pod) -> bool:
    return pod.status is not None and pod.status.phase == "Running" and is_ready(pod)


def healthy(pod: Pod, min_ready: int, now: datetime) -> bool:
    return running_and_ready(pod) and not terminating(pod) and is_available(pod, min_ready, now)


@dataclass
class Plan:
    create: list[int] = field(default_factory=list)  # ordinals
    delete: list[Pod] = field(default_factory=list)
    waiting: str = ""  # why an OrderedReady set stopped here (for the log and events)


@dataclass(frozen=True)
class Inputs:
    start: int  # spec.ordinals.start
    replicas: int
    ordered: bool  # podManagementPolicy OrderedReady
    rolling: bool  # updateStrategy RollingUpdate
    partition: int
    update_revision: str
    min_ready: int
    now: datetime


def inputs_of(sts: StatefulSet, update_revision: str, now: datetime) -> Inputs:
    spec = sts.spec
    assert spec is not None
    strategy = spec.updateStrategy
    rolling = strategy is None or strategy.type != "OnDelete"
    partition = strategy.rollingUpdate.partition if strategy and strategy.rollingUpdate else 0
    return Inputs(start=spec.ordinals.start or 0 if spec.ordinals else 0, replicas=spec.replicas or 0,
                  ordered=spec.podManagementPolicy != "Parallel", rolling=rolling, partition=partition or 0,
                  update_revision=update_revision, min_ready=spec.minReadySeconds or 0, now=now)


def decide(pods: dict[int, Pod], i: Inputs) -> Plan:
    """One step of updateStatefulSet over the pods by ordinal.

    Example (OrderedReady, replicas 3, pods web-0 Ready and web-1 Pending): create nothing,
    wait for web-1. Once web-1 is Ready: create web-2. Scaled to 1 with all Ready: delete
    web-2 only, then web-1 once web-2 is gone. Parallel, replicas 3 from none: create 0, 1, 2."""
    plan = Plan()
    wanted = range(i.start, i.start + i.replicas)
    for ordinal in wanted:
        pod = pods.get(ordinal)
        if pod is None:
            plan.create.append(ordinal)
        elif finished(pod) and not terminating(pod):
            plan.delete.append(pod)  # recreated next round, with the same name and claims
        if i.ordered and _blocks(pod, i):
            plan.waiting = f"waiting for pod {ordinal} to be Running and Ready"
            return plan
    condemned = sorted((o for o in pods if o not in wanted), reverse=True)
    for ordinal in condemned:
        pod = pods[ordinal]
        if terminating(pod):
            if i.ordered:
                plan.waiting = f"waiting for pod {ordinal} to terminate"
                return plan
            continue
        plan.delete.append(pod)
        if i.ordered:
            return plan
    if plan.create or plan.delete or not i.rolling:
        return plan
    return _rolling_update(pods, wanted, i, plan)


def _blocks(pod: Pod | None, i: Inputs) -> bool:
    """Under OrderedReady nothing past this ordinal happens until its pod exists and is healthy."""
    return pod is None or finished(pod) or not healthy(pod, i.min_ready, i.now)


def _rolling_update(pods: dict[int, Pod], wanted: range, i: Inputs, plan: Plan) -> Plan:
    """From the highest ordinal down to the partition: delete the first pod not at the update
    revision, unless a pod above it is not healthy yet.

    Example: replicas 4, partition 2, all at the old revision: delete web-3; when web-3 is
    back (new revision) and healthy, delete web-2; web-1 and web-0 stay old (below the
    partition)."""
    floor = i.start + i.partition
    for ordinal in reversed(wanted):
        if ordinal < floor:
            break
        pod = pods[ordinal]
        if revision_of(pod) != i.update_revision and not terminating(pod):
            plan.delete.append(pod)
            return plan
        if not healthy(pod, i.min_ready, i.now):
            plan.waiting = f"waiting for pod {ordinal} to update"
            return plan
    return plan


@dataclass
class Counts:
    replicas: int = 0
    ready: int = 0
    available: int = 0
    current: int = 0
    updated: int = 0


def status_counts(pods: list[Pod], current_revision: str, update_revision: str, min_ready: int,
                  now: datetime) -> Counts:
    """The status counters: every pod of the set, how many are ready and available, and how many
    run the current and the update revision."""
    c = Counts()
    for pod in pods:
        c.replicas += 1
        if running_and_ready(pod):
            c.ready += 1
            c.available += 1 if is_available(pod, min_ready, now) else 0
        rev = revision_of(pod)
        c.current += 1 if rev == current_revision else 0
        c.updated += 1 if rev == update_revision else 0
    return c


def rollout_complete(c: Counts, replicas: int, rolling: bool) -> bool:
    """completeRollingUpdate: every pod runs the update revision and is ready; the update
    revision then becomes the current one."""
    return rolling and c.updated == replicas and c.ready == replicas and c.replicas == replicas
