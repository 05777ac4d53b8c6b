"""The node lifecycle monitor pass on a fake clock, with in-memory informers and API:
rate-limited tainting, zone rates, master disruption mode and leaving it."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from kubelite.api.core_v1 import Node, NodeCondition, NodeSpec, NodeStatus
from kubelite.api.meta import ObjectMeta
from kubelite_controller_manager.nodelifecycle.controller import (
    NodeLifecycleConfig,
    NodeLifecycleController,
)
from kubelite_controller_manager.nodelifecycle.health import UNREACHABLE_TAINT
from kubelite_controller_manager.nodelifecycle.notify import Notifier
from kubelite_controller_manager.nodelifecycle.zones import EvictionPolicy, ZoneState

GRACE = 10.0


class FakeInformer:
    def __init__(self) -> None:
        self.items: dict[str, Any] = {}

    def add_handler(self, **_: Any) -> None:
        pass

    def get(self, namespace: str, name: str) -> Any | None:
        return self.items.get(f"{namespace}/{name}" if namespace else name)

    def list(self, namespace: str | None = None) -> list[Any]:
        return list(self.items.values())

    def by_index(self, index: str, value: str) -> list[Any]:
        return []


class FakeInformers:
    def __init__(self) -> None:
        self.by_plural: dict[str, FakeInformer] = {}

    def get(self, info: Any) -> FakeInformer:
        return self.by_plural.setdefault(info.plural, FakeInformer())


class FakeAPI:
    """Writes land in the node informer at once (as if the watch were instant)."""

    def __init__(self, nodes: FakeInformer) -> None:
        self.nodes = nodes
        self.writes = 0

    async def update(self, obj: Any) -> Any:
        self.writes += 1
        self.nodes.items[obj.metadata.name] = obj
        return obj

    async def update_status(self, obj: Any) -> Any:
        return await self.update(obj)


class Harness:
    def __init__(self, policy: EvictionPolicy) -> None:
        self.now = 1000.0
        self.informers = FakeInformers()
        self.nodes = self.informers.get(type("I", (), {"plural": "nodes"}))
        self.api = FakeAPI(self.nodes)
        self.ctl = NodeLifecycleController(
            self.informers, self.api, Notifier(None, None),
            NodeLifecycleConfig(grace_period=GRACE, monitor_period=1, startup_grace_period=GRACE, policy=policy),
            clock=lambda: self.now,
        )
        self.beats: dict[str, int] = {}

    def add_node(self, name: str, zone: str = "z") -> None:
        self.beats[name] = 0
        self.nodes.items[name] = Node(
            metadata=ObjectMeta(name=name, labels={"topology.kubernetes.io/zone": zone}), spec=NodeSpec(),
            status=NodeStatus(conditions=[NodeCondition(type="Ready", status="True", lastHeartbeatTime="0")]))

    def heartbeat(self, *names: str) -> None:
        """The agents of `names` post a heartbeat with Ready=True."""
        for name in names:
            self.beats[name] += 1
            node = self.nodes.items[name]
            conds = [NodeCondition(type="Ready", status="True", lastHeartbeatTime=str(self.beats[name]))]
            self.nodes.items[name] = msgspec.structs.replace(node, status=NodeStatus(conditions=conds))

    async def step(self, seconds: float, alive: tuple[str, ...] = ()) -> None:
        """Advance the clock by `seconds` in 1 s monitor passes, `alive` nodes heartbeating."""
        for _ in range(int(seconds)):
            self.now += 1
            self.heartbeat(*alive)
            await self.ctl.monitor_once()
            await self.ctl.process_pending()

    def tainted(self) -> set[str]:
        return {n for n, node in self.nodes.items.items()
                if any(t.key == UNREACHABLE_TAINT and t.effect == "NoExecute" for t in node.spec.taints or ())}


@pytest.fixture
def h() -> Harness:
    return Harness(EvictionPolicy(eviction_rate=0.1, secondary_eviction_rate=0.05,
                                  unhealthy_zone_threshold=0.55, large_cluster_size_threshold=5))


async def test_tainting_is_rate_limited_per_zone(h: Harness) -> None:
    names = [f"n{i}" for i in range(10)]
    for n in names:
        h.add_node(n)
    await h.step(1, alive=tuple(names))
    alive = tuple(names[2:])
    await h.step(GRACE + 1, alive=alive)  # n0, n1 silent past the grace period
    assert h.ctl.zone_states[":\x00:z"] == ZoneState.NORMAL  # 2 of 10 down
    assert len(h.tainted()) == 1  # the bucket admits one node at once...
    await h.step(5, alive=alive)
    assert len(h.tainted()) == 1
    await h.step(6, alive=alive)
    assert h.tainted() == {"n0", "n1"}  # ...and the next one 10 s later (0.1 nodes/s)


async def test_partial_disruption_of_a_small_zone_stops_tainting(h: Harness) -> None:
    names = [f"n{i}" for i in range(4)]  # 4 <= large_cluster_size_threshold (5)
    for n in names:
        h.add_node(n)
    h.add_node("other", zone="y")
    await h.step(1, alive=(*names, "other"))
    await h.step(GRACE + 30, alive=("n3", "other"))
    assert h.ctl.zone_states[":\x00:z"] == ZoneState.PARTIAL_DISRUPTION
    assert h.tainted() == set()


async def test_partial_disruption_of_a_large_zone_uses_the_secondary_rate(h: Harness) -> None:
    names = [f"n{i}" for i in range(6)]  # 6 > 5: a "large" zone
    for n in names:
        h.add_node(n)
    await h.step(1, alive=tuple(names))
    alive = ("n4", "n5")
    await h.step(GRACE + 1, alive=alive)  # 4 of 6 down: partial disruption
    assert h.ctl.zone_states[":\x00:z"] == ZoneState.PARTIAL_DISRUPTION
    first = len(h.tainted())
    assert first <= 1
    await h.step(10, alive=alive)  # at 0.1/s two more would be tainted; at 0.05/s at most one
    assert len(h.tainted()) - first <= 1
    await h.step(20, alive=alive)
    assert len(h.tainted()) >= first + 1  # but it does go on


async def test_master_disruption_removes_taints_and_a_recovery_restarts_grace(h: Harness) -> None:
    h.add_node("a", zone="za")
    h.add_node("b", zone="zb")
    await h.step(1, alive=("a", "b"))
    await h.step(GRACE + 1, alive=("b",))
    assert h.tainted() == {"a"}  # one dead zone among healthy ones: evict
    await h.step(GRACE + 2)  # now b is silent too: every zone is down
    assert all(z == ZoneState.FULL_DISRUPTION for z in h.ctl.zone_states.values())
    assert h.tainted() == set()
    await h.step(30)
    assert h.tainted() == set()
    # b comes back: out of disruption mode, a (still Unknown) is tainted again, as Kubernetes does
    await h.step(1, alive=("b",))
    assert h.tainted() == {"a"}


async def test_nothing_written_for_a_healthy_cluster(h: Harness) -> None:
    for n in ("a", "b", "c"):
        h.add_node(n)
    await h.step(30, alive=("a", "b", "c"))
    assert h.api.writes == 0


async def test_new_node_without_status_is_not_tainted_before_its_startup_grace(h: Harness) -> None:
    h.add_node("a", zone="za")
    h.nodes.items["fresh"] = Node(metadata=ObjectMeta(name="fresh", labels={"topology.kubernetes.io/zone": "zb"}),
                                  spec=NodeSpec(), status=NodeStatus())
    await h.step(GRACE - 1, alive=("a",))
    assert h.tainted() == set()
    assert h.nodes.items["fresh"].status.conditions is None  # nothing written yet
    await h.step(3, alive=("a",))  # startup grace over: "Kubelet never posted node status."
    cond = h.nodes.items["fresh"].status.conditions[0]
    assert (cond.type, cond.status, cond.reason) == ("Ready", "Unknown", "NodeStatusNeverUpdated")
    assert h.tainted() == {"fresh"}
