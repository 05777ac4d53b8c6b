"""Resource metrics from node agents to the apiservers (one-way, every resolution period).

Subject `kubelite.node.<node>.metrics`: each node agent publishes, every `--metrics-resolution`
(15 s by default, as metrics-server), what its running containers used over the last period:
CPU as a rate (nanocores: CPU nanoseconds per second) from two samples of cumulative CPU
time, and the memory working set. Every apiserver keeps the latest report per node and
serves it as metrics.k8s.io (kubelite.api.metrics_v1beta1); a node that stops reporting
drops out after a few periods.
"""

from __future__ import annotations

import msgspec

from kubelite.bus.subjects import PREFIX, token


def subject(node: str) -> str:
    """kubelite.node.<node>.metrics"""
    return f"{PREFIX}.node.{token(node)}.metrics"


ALL_NODES = f"{PREFIX}.node.*.metrics"


class ContainerUsage(msgspec.Struct, kw_only=True, array_like=True):
    name: str
    cpu_nanocores: int
    memory_bytes: int


class PodUsage(msgspec.Struct, kw_only=True):
    namespace: str
    name: str
    containers: list[ContainerUsage]


class NodeReport(msgspec.Struct, kw_only=True):
    node: str
    timestamp: str  # RFC 3339, when the later of the two samples was taken
    window_seconds: float  # between the two samples
    cpu_nanocores: int  # the node's total (its pods' sum)
    memory_bytes: int
    pods: list[PodUsage]


encoder = msgspec.msgpack.Encoder()
decoder = msgspec.msgpack.Decoder(NodeReport)
