"""Node health decisions, pure (Kubernetes' nodelifecycle tryUpdateNodeHealth and taint passes).

The controller never compares a node's timestamps with its own clock (clocks
differ between machines). It records, on its own monotonic clock, when it last
saw the node's heartbeat change (the Lease's renewTime or the Ready condition's
lastHeartbeatTime): the probe time. A node whose probe time is older than the
grace period is stale: its conditions become Unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from kubelite.api.core_v1 import Node, NodeCondition, Taint

UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
NO_EXECUTE = "NoExecute"
NO_SCHEDULE = "NoSchedule"
CONTROLLER_TAINT_KEYS = (UNREACHABLE_TAINT, NOT_READY_TAINT)

# The conditions the node agent posts, set to Unknown when it goes silent (nodeConditionTypes).
AGENT_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
REASON_UNKNOWN = "NodeStatusUnknown"
MESSAGE_UNKNOWN = "Kubelet stopped posting node status."
REASON_NEVER_UPDATED = "NodeStatusNeverUpdated"
MESSAGE_NEVER_UPDATED = "Kubelet never posted node status."


@dataclass
class Probe:
    """What the controller last saw of a node's heartbeat, and when (its own clock)."""

    heartbeat: tuple[str, str]  # (lease renewTime, Ready lastHeartbeatTime)
    seen_at: float


def heartbeat_of(node: Node, lease: object | None) -> tuple[str, str]:
    renew = ""
    spec = getattr(lease, "spec", None)
    if spec is not None and spec.renewTime:
        renew = spec.renewTime
    ready = ready_condition(node)
    return renew, (ready.lastHeartbeatTime or "") if ready else ""


def observe(previous: Probe | None, heartbeat: tuple[str, str], now: float) -> Probe:
    """The new probe: `now` when the heartbeat changed (or is seen the first time)."""
    if previous is None or previous.heartbeat != heartbeat:
        return Probe(heartbeat, now)
    return previous


def is_stale(probe: Probe, now: float, grace: float) -> bool:
    """True once no heartbeat was seen for longer than `grace` seconds."""
    return now - probe.seen_at > grace


def ready_condition(node: Node) -> NodeCondition | None:
    for cond in (node.status.conditions if node.status else None) or ():
        if cond.type == "Ready":
            return cond
    return None


def ready_status(node: Node) -> str:
    """"True", "False" or "Unknown" (a node without a Ready condition counts as Unknown)."""
    cond = ready_condition(node)
    return (cond.status or "Unknown") if cond else "Unknown"


def unknown_conditions(node: Node, now_text: str) -> list[NodeCondition] | None:
    """The node's conditions with every agent-posted one set to Unknown, as Kubernetes does
    when the agent goes silent; None when they are all Unknown already (nothing to write)."""
    current = list((node.status.conditions if node.status else None) or [])
    changed = False
    out: list[NodeCondition] = []
    have = {c.type for c in current}
    for cond in current:
        if cond.type in AGENT_CONDITIONS and cond.status != "Unknown":
            cond = msgspec.structs.replace(
                cond, status="Unknown", reason=REASON_UNKNOWN, message=MESSAGE_UNKNOWN,
                lastTransitionTime=now_text,
            )
            changed = True
        out.append(cond)
    if "Ready" not in have:
        out.insert(0, NodeCondition(
            type="Ready", status="Unknown", reason=REASON_NEVER_UPDATED, message=MESSAGE_NEVER_UPDATED,
            lastHeartbeatTime=None, lastTransitionTime=now_text,
        ))
        changed = True
    return out if changed else None


def wanted_no_execute(ready: str) -> str | None:
    """The NoExecute taint key the node should carry for its Ready status (None: none)."""
    if ready == "False":
        return NOT_READY_TAINT
    if ready == "Unknown":
        return UNREACHABLE_TAINT
    return None


def controller_taints(node: Node, effect: str) -> list[Taint]:
    return [t for t in (node.spec.taints if node.spec else None) or ()
            if t.key in CONTROLLER_TAINT_KEYS and t.effect == effect]


def with_taints(node: Node, effect: str, key: str | None, time_added: str | None) -> list[Taint] | None:
    """The node's taint list with exactly `key` (or none) among the controller's taints of
    `effect`; None when that is what the node has already. The other taints are kept, and
    an existing taint keeps its timeAdded."""
    taints = list((node.spec.taints if node.spec else None) or [])
    mine = [t for t in taints if t.key in CONTROLLER_TAINT_KEYS and t.effect == effect]
    if [t.key for t in mine] == ([key] if key else []):
        return None
    kept = [t for t in taints if not (t.key in CONTROLLER_TAINT_KEYS and t.effect == effect)]
    if key:
        kept.append(Taint(key=key, effect=effect, timeAdded=time_added if effect == NO_EXECUTE else None))
    return kept


# doNoScheduleTaintingPass: conditions (type -> status -> taint key) and spec.unschedulable
CONDITION_TAINTS: dict[str, dict[str, str]] = {
    "Ready": {"False": NOT_READY_TAINT, "Unknown": UNREACHABLE_TAINT},
    "MemoryPressure": {"True": "node.kubernetes.io/memory-pressure"},
    "DiskPressure": {"True": "node.kubernetes.io/disk-pressure"},
    "NetworkUnavailable": {"True": "node.kubernetes.io/network-unavailable"},
    "PIDPressure": {"True": "node.kubernetes.io/pid-pressure"},
}
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
NO_SCHEDULE_KEYS = frozenset({k for m in CONDITION_TAINTS.values() for k in m.values()} | {UNSCHEDULABLE_TAINT})


def wanted_no_schedule(node: Node) -> list[str]:
    """The NoSchedule taint keys the node's conditions and spec.unschedulable call for."""
    keys = set()
    for cond in (node.status.conditions if node.status else None) or ():
        key = CONDITION_TAINTS.get(cond.type or "", {}).get(cond.status or "")
        if key:
            keys.add(key)
    if node.spec and node.spec.unschedulable:
        keys.add(UNSCHEDULABLE_TAINT)
    return sorted(keys)


def with_no_schedule(node: Node, keys: list[str]) -> list[Taint] | None:
    """The node's taints with exactly `keys` among the controller's NoSchedule taints; None
    when it has them already. Other taints (the user's, NoExecute ones) are kept."""
    taints = list((node.spec.taints if node.spec else None) or [])

    def mine(t: Taint) -> bool:
        return t.key in NO_SCHEDULE_KEYS and t.effect == NO_SCHEDULE

    if sorted(t.key or "" for t in taints if mine(t)) == sorted(keys):
        return None
    return [t for t in taints if not mine(t)] + [Taint(key=k, effect=NO_SCHEDULE) for k in sorted(keys)]


def zone_of(node: Node) -> str:
    """utilnode.GetZoneKey: region and zone labels ("" when the node has neither)."""
    labels = node.metadata.labels or {}
    region = labels.get("topology.kubernetes.io/region") or labels.get("failure-domain.beta.kubernetes.io/region", "")
    zone = labels.get("topology.kubernetes.io/zone") or labels.get("failure-domain.beta.kubernetes.io/zone", "")
    if not region and not zone:
        return ""
    return f"{region}:\x00:{zone}"
