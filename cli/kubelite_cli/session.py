"""What every API verb needs: the kubeconfig's cluster, the namespace and a client."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from kubelite.api import scheme
from kubelite.api.scheme import ResourceInfo
from kubelite.client.http import APIClient, UnknownResourceError
from kubelite.client.kubeconfig import ClusterConfig, load_kubeconfig
from kubelite_cli.errors import CLIError


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

    @classmethod
    def for_kubeconfig(cls, path: str | Path) -> Session:
        """The kubeconfig's current context (what `kubelite up` wrote), default namespace."""
        return cls.from_args(argparse.Namespace(kubeconfig=str(path), context=None, namespace=None))

    @cached_property
    def api(self) -> APIClient:
        client = APIClient(self.config.server, token=self.config.token, tls=self.config.ssl_context())
        self._clients.append(client)
        return client

    def resource(self, name: str) -> ResourceInfo:
        """What the user typed ('po', 'deploy', 'greetings', 'gr', 'greetings.example.com'): a
        built-in kind from the scheme, else a custom resource found through discovery."""
        info = scheme.resolve(name)
        if info is not None:
            return info
        found = discover(self.api, name)
        if found is None:
            raise UnknownResourceError(name)
        return found

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


def parse_targets(args: list[str]) -> list[tuple[str, str]]:
    """kubectl's TYPE/NAME or TYPE NAME... forms -> [(type, name)]."""
    if not args:
        raise CLIError("required resource not specified")
    if "/" in args[0]:
        out = []
        for arg in args:
            kind, sep, name = arg.partition("/")
            if not sep or not kind or not name:
                raise CLIError(f"there is no need to specify a resource type as a separate argument "
                               f"when passing arguments in resource/name form (e.g. 'kubelite ... "
                               f"deployment/web'): {arg!r}")
            out.append((kind, name))
        return out
    if len(args) < 2:
        raise CLIError(f'resource(s) were provided, but no name was specified for "{args[0]}"')
    return [(args[0], name) for name in args[1:]]


def discover(api: APIClient, name: str) -> ResourceInfo | None:
    """Find a resource the local scheme does not know (a custom resource) in the server's
    discovery documents: by plural, singular, kind or short name, optionally `.group`."""
    from kubelite.api.meta import Object

    low = name.lower()
    wanted, _, group_filter = low.partition(".")
    for group in api.raw_get("/apis").get("groups") or []:
        if group_filter and group["name"] != group_filter:
            continue
        gv = group["preferredVersion"]["groupVersion"]
        for res in api.raw_get(f"/apis/{gv}").get("resources") or []:
            if "/" in res["name"]:
                continue
            names = {res["name"], res.get("singularName", ""), res["kind"].lower(), *res.get("shortNames", [])}
            if wanted in names:
                return ResourceInfo(group=group["name"], version=gv.split("/")[1], kind=res["kind"],
                                    plural=res["name"], singular=res.get("singularName", ""),
                                    namespaced=res["namespaced"], type=Object, verbs=tuple(res.get("verbs") or ()))
    return None
