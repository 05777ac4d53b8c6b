"""An authenticated identity, as Kubernetes' user.Info, and the names Kubernetes gives them."""

from __future__ import annotations

from dataclasses import dataclass, field

ANONYMOUS = "system:anonymous"
UNAUTHENTICATED = "system:unauthenticated"
AUTHENTICATED = "system:authenticated"
MASTERS = "system:masters"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
SERVICE_ACCOUNTS = "system:serviceaccounts"
NODE_PREFIX = "system:node:"
NODES = "system:nodes"


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)


def service_account_username(namespace: str, name: str) -> str:
    """serviceaccount.MakeUsername: system:serviceaccount:<namespace>:<name>."""
    return f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"


def service_account_user(namespace: str, name: str, uid: str = "") -> UserInfo:
    """A ServiceAccount's identity with the groups Kubernetes adds:
    system:serviceaccounts, system:serviceaccounts:<namespace>, system:authenticated."""
    return UserInfo(service_account_username(namespace, name),
                    (SERVICE_ACCOUNTS, f"{SERVICE_ACCOUNTS}:{namespace}", AUTHENTICATED), uid)


def anonymous() -> UserInfo:
    return UserInfo(ANONYMOUS, (UNAUTHENTICATED,))
