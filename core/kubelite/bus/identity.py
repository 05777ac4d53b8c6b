"""Who is on the bus: one identity per component, the same on NATS and over HTTPS.

Every process connects to NATS with a client certificate from the cluster's client CA;
nats-server maps the certificate's subject to a NATS user (`verify_and_map`) whose
permissions `kubelite.bus.permissions` derives from the identity. API requests over
NATS carry the caller in their subject,

    kubelite.api.<kind>.<name>.<verb>.<plural>

and a caller may publish only under its own `kubelite.api.<kind>.<name>.`, so the
subject is as trustworthy as the certificate: the apiserver takes the user from it and
authorizes the request exactly as it would an HTTPS one (no side door).

| kind | name | Kubernetes user (certificate CN) | groups (O) |
|---|---|---|---|
| admin | - | kubelite-admin | system:masters |
| apiserver | - | system:apiserver | system:masters |
| scheduler | - | system:kube-scheduler | |
| controller-manager | - | system:kube-controller-manager | |
| node | <node> | system:node:<node> | system:nodes |
| node | * (a fake-node simulator) | kubelite-node-simulator | system:nodes |
| proxy | <node> | system:kube-proxy:<node> | system:node-proxier |

Example: node `n1` lists pods on `kubelite.api.node.n1.list.pods`; the apiserver answers
as if `system:node:n1` (groups system:nodes, system:authenticated) had asked over HTTPS.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubelite.auth.user import AUTHENTICATED, MASTERS, NODE_PREFIX, NODES, UserInfo
from kubelite.bus.subjects import PREFIX, token, untoken

ADMIN_USER = "kubelite-admin"
NODE_PROXIER = "system:node-proxier"
ANY_NODE = "*"
KINDS = ("admin", "apiserver", "scheduler", "controller-manager", "node", "proxy")
_NAMED = ("node", "proxy")
_FIXED_USERS = {
    "admin": (ADMIN_USER, (MASTERS,)),
    "apiserver": ("system:apiserver", (MASTERS,)),
    "scheduler": ("system:kube-scheduler", ()),
    "controller-manager": ("system:kube-controller-manager", ()),
}


class UnknownIdentity(ValueError):
    """A subject or name that names no bus identity."""


@dataclass(frozen=True)
class BusIdentity:
    kind: str
    name: str = ""  # the node, for kinds node and proxy; ANY_NODE for a simulator of many

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UnknownIdentity(f"unknown bus identity kind {self.kind!r} (one of {', '.join(KINDS)})")
        if (self.kind in _NAMED) != bool(self.name):
            raise UnknownIdentity(f"bus identity {self.kind!r} {'needs' if self.kind in _NAMED else 'takes no'} "
                                  "node name")
        if self.name == ANY_NODE and self.kind != "node":
            raise UnknownIdentity("only node identities may stand for every node")

    # --- names -------------------------------------------------------------
    @property
    def _name_token(self) -> str:
        return "*" if self.name == ANY_NODE else token(self.name)

    @property
    def file_name(self) -> str:
        """Its certificate is `<pki>/<file_name>.crt`: admin, scheduler, node-n1, nodes (simulator), ..."""
        if self.name == ANY_NODE:
            return "nodes"
        return f"{self.kind}-{self.name}" if self.name else ("apiserver-client" if self.kind == "apiserver"
                                                             else self.kind)

    def certificate_subject(self) -> tuple[str, tuple[str, ...]]:
        """(CN, O...) of its client certificate: the Kubernetes user and groups."""
        if self.kind == "node":
            return ("kubelite-node-simulator" if self.name == ANY_NODE else NODE_PREFIX + self.name), (NODES,)
        if self.kind == "proxy":
            return f"system:kube-proxy:{self.name}", (NODE_PROXIER,)
        return _FIXED_USERS[self.kind]

    def user(self) -> UserInfo:
        """Who the apiserver takes a request on this identity's API subject for."""
        name, groups = self.certificate_subject()
        return UserInfo(name, (*groups, AUTHENTICATED))

    # --- subjects ----------------------------------------------------------
    @property
    def api_prefix(self) -> str:
        """kubelite.api.<kind>.<name>: its requests go below this (a simulator: any node)."""
        return f"{PREFIX}.api.{self.kind}.{self._name_token if self.name else '-'}"

    def api_subject(self, verb: str, plural: str) -> str:
        return f"{self.api_prefix}.{verb}.{plural}"

    @property
    def inbox_prefix(self) -> str:
        """Where its replies arrive; nobody else may subscribe there."""
        return f"_INBOX.{self.kind}.{'-' if self.name in ('', ANY_NODE) else token(self.name)}"

    @property
    def inbox_pattern(self) -> str:
        return f"_INBOX.{self.kind}.{self._name_token if self.name else '-'}.>"


def api_subject(kind: str, name: str, verb: str, plural: str) -> str:
    """kubelite.api.<kind>.<name>.<verb>.<plural> (name "" for the control plane's kinds)."""
    return BusIdentity(kind, name if kind in _NAMED else "").api_subject(verb, plural)


def parse_api_subject(subject: str) -> tuple[BusIdentity, str, str]:
    """(caller, verb, plural) of `kubelite.api.<kind>.<name>.<verb>.<plural>`.

    >>> parse_api_subject("kubelite.api.node.n1.list.pods")
    (BusIdentity(kind='node', name='n1'), 'list', 'pods')
    """
    parts = subject.split(".")
    if len(parts) != 6 or parts[:2] != [PREFIX, "api"]:
        raise UnknownIdentity(f"not an API subject: {subject!r}")
    kind, name, verb, plural = parts[2:]
    return BusIdentity(kind, untoken(name)), verb, plural
