"""What each bus identity may publish and subscribe to, and the nats-server configuration
that enforces it (`nats_config`). Least privilege, read off the subject table in
docs/architecture.md:

- the apiserver publishes every change and reaches every node: everything;
- the admin (`kubelite events -f`, scripts) reads everything and sends API requests as itself;
- scheduler and controller-manager send API requests and publish their decisions; the
  controller-manager also hears Secrets' changes (it reads Secrets through the apiserver)
  and asks a node to delete a released local volume's data;
- a node agent hears only its own node's subjects (its pods, its log/exec/port-forward
  requests and sessions), the Node and Endpoints changes it routes and drains by, the
  Services of its pods' service links, every namespace's kube-root-ca.crt and the proxies'
  acks; it never sees Secrets, other ConfigMaps or another node's pods;
- a proxy hears Service and Endpoints changes and publishes its own acks.

Every identity may subscribe to its own inbox only, and answer requests it received
(`allow_responses`), so nobody reads another's replies.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from kubelite.bus import changes
from kubelite.bus.identity import ANY_NODE, BusIdentity
from kubelite.bus.subjects import PREFIX, token


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    allow_responses: bool = False


def _node_part(ident: BusIdentity) -> str:
    return "*" if ident.name == ANY_NODE else token(ident.name)


def permissions(ident: BusIdentity) -> Permissions:
    """The subjects `ident` may use. Example: node n1 may subscribe to `kubelite.node.n1.>`
    (its pods and requests) but not `kubelite.node.n2.>` or `kubelite.changes.secrets.>`."""
    api, inbox = f"{ident.api_prefix}.>", ident.inbox_pattern
    if ident.kind == "apiserver":
        return Permissions((">",), (">",), allow_responses=True)
    if ident.kind == "admin":
        return Permissions((api,), (">",))
    if ident.kind == "scheduler":
        return Permissions((api, f"{PREFIX}.decisions.scheduler.>"), (inbox,))
    if ident.kind == "controller-manager":
        # Secrets' changes: it reads them through the apiserver (in etcd they are encrypted);
        # it asks nodes to delete released local volumes (kubelite.bus.volumes)
        return Permissions((api, f"{PREFIX}.decisions.>", f"{PREFIX}.node.*.rpc.volumedelete"),
                           (inbox, f"{PREFIX}.changes.secrets.>"))
    node = _node_part(ident)
    if ident.kind == "node":
        own = f"{PREFIX}.node.{node}.>"
        # Services: the service-link variables of its pods (Kubernetes' node authorizer lets a
        # kubelet list and watch them too)
        # kube-root-ca.crt of every namespace: each pod's token volume projects it (the kubelet
        # watches the ConfigMaps its pods use); it holds the cluster CA certificate, no secret
        return Permissions((api, own), (own, f"{PREFIX}.changes.nodes.>", f"{PREFIX}.changes.endpoints.>",
                                        f"{PREFIX}.changes.services.>", changes.root_ca_configmaps(),
                                        f"{PREFIX}.proxy.*.applied", inbox),
                           allow_responses=True)
    return Permissions((api, f"{PREFIX}.proxy.{node}.applied"),
                       (f"{PREFIX}.changes.services.>", f"{PREFIX}.changes.endpoints.>", inbox))


def _user_entry(dn: str, perm: Permissions) -> str:
    body = {"publish": {"allow": list(perm.publish)}, "subscribe": {"allow": list(perm.subscribe)}}
    if perm.allow_responses:
        body["allow_responses"] = True  # type: ignore[assignment]  # one reply per request received
    # JSON is valid nats-server config syntax, so values need no escaping rules of our own.
    return f"    {{user: {json.dumps(dn)}, permissions: {json.dumps(body)}}}"


def nats_config(*, cert_file: str, key_file: str, ca_file: str, users: Iterable[tuple[str, BusIdentity]]) -> str:
    """nats-server configuration: TLS with client certificates mapped to users (the
    certificate subject DN, `users` gives each identity's) and their permissions. Address
    and port stay command-line flags (`nats-server -c nats.conf -a HOST -p PORT`)."""
    entries = "\n".join(_user_entry(dn, permissions(ident)) for dn, ident in users)
    return (
        "# Written by `kubelite certs` (kubelite.bus.permissions); rewritten when nodes are added.\n"
        "# Every client shows a certificate from the cluster's client CA and gets its\n"
        "# subject's permissions; there is no anonymous access.\n"
        "server_name: kubelite\n"
        "tls {\n"
        f"  cert_file: {json.dumps(cert_file)}\n"
        f"  key_file: {json.dumps(key_file)}\n"
        f"  ca_file: {json.dumps(ca_file)}\n"
        "  verify_and_map: true\n"
        "  timeout: 5\n"
        "}\n"
        "authorization {\n"
        "  users = [\n"
        f"{entries}\n"
        "  ]\n"
        "}\n"
    )
