"""What one node agent process watches once for all of its nodes (with --fake-nodes, thousands):
the Services of service links and every namespace's kube-root-ca.crt. Handed to each node's
agent; None of either means that node reads it from the API when it needs it."""

from __future__ import annotations

from dataclasses import dataclass

from kubelite_nodeagent.rootca import RootCACache
from kubelite_nodeagent.servicecache import ServiceCache


@dataclass(frozen=True)
class SharedWatches:
    services: ServiceCache | None = None
    root_ca: RootCACache | None = None
