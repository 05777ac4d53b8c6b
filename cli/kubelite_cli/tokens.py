"""ServiceAccount tokens from the CLI: `kubelite create token` (kubectl's), and the admin's
dashboard login link that `kubelite up` and `kubelite status` print for a local cluster."""

from __future__ import annotations

from typing import Any

from kubelite.client.http import build_request, resource_info
from kubelite.errors import APIError
from kubelite_cli.session import Session

DASHBOARD_ADMIN = "kubelite-dashboard-admin"  # kube-system ServiceAccount bound to cluster-admin
NAMESPACE = "kube-system"


def create_token(session: Session, namespace: str, name: str, *, seconds: int | None = None,
                 audiences: list[str] | None = None) -> str:
    """A TokenRequest for ServiceAccount namespace/name: the signed token."""
    spec: dict[str, Any] = {}
    if seconds:
        spec["expirationSeconds"] = seconds
    if audiences:
        spec["audiences"] = audiences
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    # POST .../serviceaccounts/NAME/token: a create on the subresource, named by the path
    request = build_request("create", resource_info("serviceaccounts"), namespace, name, body, subresource="token")
    return session.api.send(request)["status"]["token"]


def _ensure(session: Session, resource: str, namespace: str | None, body: dict) -> None:
    try:
        session.api.create(resource, namespace, body)
    except APIError as exc:
        if exc.code != 409:  # already there: fine
            raise


def dashboard_link(session: Session, *, hours: int = 24) -> str:
    """https://<apiserver>/dashboard/#token=...: the admin signed in for `hours` (the token sits
    in the URL's fragment, which browsers never send to the server)."""
    _ensure(session, "serviceaccounts", NAMESPACE, {
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": DASHBOARD_ADMIN, "namespace": NAMESPACE}})
    _ensure(session, "clusterrolebindings.rbac.authorization.k8s.io", None, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": DASHBOARD_ADMIN},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": DASHBOARD_ADMIN, "namespace": NAMESPACE}]})
    token = create_token(session, NAMESPACE, DASHBOARD_ADMIN, seconds=hours * 3600)
    return f"{session.config.server.rstrip('/')}/dashboard/#token={token}"
