"""The fake runtime's timed exits (KUBELITE_FAKE_EXIT_AFTER), which batch benchmarks rely on."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from kubelite_nodeagent.runtime.base import (
    ContainerSpec,
    ContainerStartError,
    ContainerState,
    PodSandboxConfig,
    RuntimeConfig,
)
from kubelite_nodeagent.runtime.fake import EXIT_AFTER, EXIT_CODE, FakeRuntime


async def _container(rt: FakeRuntime, env: dict[str, str]) -> str:
    uid = uuid.uuid4().hex
    sandbox = await rt.create_sandbox(PodSandboxConfig(pod_uid=uid, namespace="d", name="p", hostname="p"))
    return await rt.create_container(sandbox, ContainerSpec(pod_uid=uid, namespace="d", pod_name="p", name="c",
                                                            attempt=0, image="busybox", argv=["true"], env=env))


async def test_a_container_exits_on_its_own_after_the_given_time() -> None:
    rt = FakeRuntime(RuntimeConfig(node_name=f"n-{uuid.uuid4().hex[:6]}", root_dir="/nonexistent",
                                   pod_cidr="10.9.0.0/24", node_ip="10.0.0.1"))
    seen: list[str] = []
    rt.set_event_handler(seen.append)
    ok = await _container(rt, {EXIT_AFTER: "0.05"})
    bad = await _container(rt, {EXIT_AFTER: "0.05", EXIT_CODE: "3"})
    forever = await _container(rt, {})
    for cid in (ok, bad, forever):
        await rt.start_container(cid)
    for _ in range(100):
        if len(seen) == 2:
            break
        await asyncio.sleep(0.01)
    states = {cid: (await rt.container_status(cid)) for cid in (ok, bad, forever)}
    assert (states[ok].state, states[ok].exit_code, states[ok].reason) == (ContainerState.EXITED, 0, "Completed")
    assert (states[bad].state, states[bad].exit_code) == (ContainerState.EXITED, 3)
    assert states[forever].state == ContainerState.RUNNING
    with pytest.raises(ContainerStartError, match="must be numbers"):
        await _container(rt, {EXIT_AFTER: "soon"})
