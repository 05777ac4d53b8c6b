"""What the agent knows about the pods it runs (the 'actual' side), and adoption.

One `PodState` per pod uid, one `ContainerRecord` per container name.  After an
agent restart `adopt()` rebuilds them from the runtime's labelled containers:
the highest attempt of a name is its current container, the one before it (if
it ended) is kept for `lastState` and `logs --previous`; older ones are
surplus and get removed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from kubelite.api.core_v1 import PodStatus
from kubelite_nodeagent.probes import ProbeTracker
from kubelite_nodeagent.runtime.base import (
    LABEL_EPHEMERAL,
    ContainerInfo,
    ContainerState,
    PodSandbox,
)


@dataclass
class ContainerRecord:
    name: str
    current: ContainerInfo | None = None
    previous: ContainerInfo | None = None  # the attempt before `current`
    waiting_reason: str = ""
    waiting_message: str = ""
    retry_at: float = 0.0  # earliest time to retry a failed create (image/config errors)
    trackers: dict[str, ProbeTracker] = field(default_factory=dict)
    probes_for: str = ""  # id of the container `trackers` belong to (adopted ones get fresh trackers)
    probe_message: str = ""

    @property
    def restart_count(self) -> int:
        return self.current.attempt if self.current is not None else 0

    @property
    def running(self) -> bool:
        return self.current is not None and self.current.state == ContainerState.RUNNING

    @property
    def exited(self) -> bool:
        return self.current is not None and self.current.state == ContainerState.EXITED

    def succeeded(self) -> bool:
        return self.exited and self.current is not None and self.current.exit_code == 0


@dataclass
class PodState:
    uid: str
    namespace: str = ""
    name: str = ""
    sandbox: PodSandbox | None = None
    init: dict[str, ContainerRecord] = field(default_factory=dict)
    containers: dict[str, ContainerRecord] = field(default_factory=dict)
    ephemeral: dict[str, ContainerRecord] = field(default_factory=dict)  # kubectl debug; never restarted
    surplus: list[str] = field(default_factory=list)  # container ids to remove (older attempts)
    reported: PodStatus | None = None  # last status written (or read) for this pod
    sent: PodStatus | None = None  # last status sent to the API (its write may be under way)
    volumes_at: float = 0.0  # when volumes were last prepared
    emptydir_checked_at: float = 0.0  # when emptyDir sizeLimits were last checked
    downward_digest: str = ""  # labels and annotations the downward API files were last written from
    terminal: bool = False

    def record(self, name: str, init: bool, ephemeral: bool = False) -> ContainerRecord:
        table = self.ephemeral if ephemeral else self.init if init else self.containers
        rec = table.get(name)
        if rec is None:
            rec = table[name] = ContainerRecord(name)
        return rec

    def all_records(self) -> list[ContainerRecord]:
        return [*self.init.values(), *self.containers.values(), *self.ephemeral.values()]

    def has_live_containers(self) -> bool:
        return any(rec.current is not None and rec.current.state == ContainerState.RUNNING
                   for rec in self.all_records())

    def container_ids(self) -> list[str]:
        ids = list(self.surplus)
        for rec in self.all_records():
            ids.extend(c.id for c in (rec.current, rec.previous) if c is not None)
        return ids


def adopt(containers: list[ContainerInfo], sandboxes: list[PodSandbox]) -> dict[str, PodState]:
    """Rebuild per-pod state from what the runtime reports (after an agent restart)."""
    states: dict[str, PodState] = {}

    def state_for(uid: str) -> PodState:
        st = states.get(uid)
        if st is None:
            st = states[uid] = PodState(uid=uid)
        return st

    for sb in sandboxes:
        st = state_for(sb.pod_uid)
        st.sandbox = sb
        st.namespace, st.name = sb.namespace or st.namespace, sb.name or st.name
    groups: dict[tuple[str, bool, bool, str], list[ContainerInfo]] = defaultdict(list)
    for c in containers:
        groups[(c.pod_uid, c.init, c.labels.get(LABEL_EPHEMERAL) == "true", c.name)].append(c)
        st = state_for(c.pod_uid)
        st.namespace, st.name = c.namespace or st.namespace, c.pod_name or st.name
    for (uid, init, ephemeral, name), attempts in groups.items():
        attempts.sort(key=lambda c: (c.attempt, c.created_at))
        st = states[uid]
        rec = st.record(name, init, ephemeral)
        rec.current = attempts[-1]
        if len(attempts) > 1 and attempts[-2].state == ContainerState.EXITED:
            rec.previous = attempts[-2]
            st.surplus.extend(c.id for c in attempts[:-2])
        else:
            st.surplus.extend(c.id for c in attempts[:-1])
    return states
