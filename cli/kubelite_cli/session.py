"""What every API verb needs: the kubeconfig's cluster, the namespace and a client."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from functools import cached_property

from kubelite.api import scheme
from kubelite.api.scheme import ResourceInfo
from kubelite.client.http import APIClient, UnknownResourceError
from kubelite.client.kubeconfig import ClusterConfig, load_kubeconfig


@dataclass
class Session:
    config: ClusterConfig
    namespace: str  # -n, else the context's namespace, else "default"
    namespace_explicit: bool  # -n was given
    _clients: list[APIClient] = field(default_factory=list)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Session:
        config = load_kubeconfig(args.kubeconfig, getattr(args, "context", None))
        return cls(config, args.namespace or config.namespace, bool(args.namespace))

    @cached_property
    def api(self) -> APIClient:
        client = APIClient(self.config.server, token=self.config.token, tls=self.config.ssl_context())
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()


def resolve_resource(name: str) -> ResourceInfo:
    info = scheme.resolve(name)
    if info is None:
        raise UnknownResourceError(name)
    return info


def qualified_kind(info: ResourceInfo) -> str:
    """'pod', 'deployment.apps': how kubectl names a kind in its messages."""
    kind = info.kind.lower()
    return f"{kind}.{info.group}" if info.group else kind
