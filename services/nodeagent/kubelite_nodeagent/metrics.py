"""The node agent's Prometheus metrics, under the kubelet's names (pkg/kubelet/metrics).

`InstrumentedRuntime` times every call the agent makes into its runtime (the kubelet times its
CRI calls the same way); the running pods and containers are read from the agents when scraped.
One process may run many (fake) nodes: the gauges sum over them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from kubelite.api.core_v1 import Pod
from kubelite_nodeagent.runtime.base import ContainerState

POD_START_DURATION = Histogram(
    "kubelet_pod_start_duration_seconds",
    "Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run",
    buckets=(0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200))
RUNNING_PODS = Gauge("kubelet_running_pods", "Number of pods that have a running pod sandbox")
RUNNING_CONTAINERS = Gauge("kubelet_running_containers", "Number of containers currently running",
                           ["container_state"])
RUNTIME_OPERATIONS = Counter("kubelet_runtime_operations", "Cumulative number of runtime operations by operation type.",
                             ["operation_type"])
RUNTIME_ERRORS = Counter("kubelet_runtime_operations_errors",
                         "Cumulative number of runtime operation errors by operation type.", ["operation_type"])
RUNTIME_DURATION = Histogram("kubelet_runtime_operations_duration_seconds",
                             "Duration in seconds of runtime operations. Broken down by operation type.",
                             ["operation_type"], buckets=tuple(0.005 * 2.5**i for i in range(14)))

POD_WORKER_DURATION = Histogram(
    "kubelet_pod_worker_duration_seconds",
    "Duration in seconds to sync a single pod. Broken down by operation type: create, sync, or kill",
    ["operation_type"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

# The runtime calls that are operations (kubelet: the CRI method, e.g. "create_container").
OPERATIONS = frozenset({
    "create_sandbox", "remove_sandbox", "list_sandboxes", "ensure_image", "create_container", "start_container",
    "stop_container", "remove_container", "container_status", "list_containers", "container_stats", "exec",
})


class InstrumentedRuntime:
    """`runtime` with each of OPERATIONS counted and timed; everything else passes through."""

    def __init__(self, runtime: Any) -> None:
        self._runtime = runtime

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._runtime, name)
        if not callable(attr):
            return attr  # a plain value may change: looked up each time
        if name in OPERATIONS:
            attr = _timed(name, attr)
        # kept on the instance, so the next lookup does not come here: a pod start makes dozens
        # of runtime calls, and building the wrapper and its metric children each time showed
        # as a tenth of the node agent's CPU in a burst of pod starts
        self.__dict__[name] = attr
        return attr


@contextlib.contextmanager
def pod_worker_timer(pod: Pod | None, *, first: bool) -> Iterator[None]:
    """Time one sync of a pod's worker: `create` (nothing runs for it yet), `kill` (the pod is
    gone or being deleted) or `sync`; the count is how often pods are synced."""
    if pod is None or pod.metadata.deletionTimestamp:
        operation = "kill"
    else:
        operation = "create" if first else "sync"
    started = time.perf_counter()
    try:
        yield
    finally:
        POD_WORKER_DURATION.labels(operation).observe(time.perf_counter() - started)


def _timed(name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    operations = RUNTIME_OPERATIONS.labels(name)
    errors = RUNTIME_ERRORS.labels(name)
    duration = RUNTIME_DURATION.labels(name)

    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        operations.inc()
        try:
            return await method(*args, **kwargs)
        except Exception:
            errors.inc()
            raise
        finally:
            duration.observe(time.perf_counter() - started)

    return timed


def watch_agents(agents: Callable[[], Iterable[Any]]) -> None:
    """Read the running pods and containers of `agents()` (NodeAgents) at each scrape."""

    def pods() -> int:
        return sum(sum(1 for st in a.states.values() if st.sandbox is not None) for a in agents())

    def containers(state: ContainerState) -> Callable[[], int]:
        return lambda: sum(1 for a in agents() for st in a.states.values() for rec in st.all_records()
                           if rec.current is not None and rec.current.state == state)

    RUNNING_PODS.set_function(pods)
    for state in (ContainerState.RUNNING, ContainerState.EXITED, ContainerState.CREATED):
        RUNNING_CONTAINERS.labels(state.value).set_function(containers(state))
