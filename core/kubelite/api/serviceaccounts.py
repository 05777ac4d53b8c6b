"""ServiceAccounts and their tokens: core/v1 ServiceAccount, the serviceaccounts/token
subresource (authentication.k8s.io/v1 TokenRequest, `kubectl create token`) and
TokenReview (is this token valid, and whose is it?)."""

from kubelite.api.base import Model
from kubelite.api.core_v1 import ConfigMap, ObjectReference
from kubelite.api.meta import Object, ObjectMeta
from kubelite.api.scheme import ResourceInfo, register


class LocalObjectReference(Model):
    name: str | None = None


class ServiceAccount(Object):
    secrets: list[ObjectReference] | None = None
    imagePullSecrets: list[LocalObjectReference] | None = None
    automountServiceAccountToken: bool | None = None


class BoundObjectReference(Model):
    kind: str | None = None  # Pod | Secret | Node
    apiVersion: str | None = None
    name: str | None = None
    uid: str | None = None


class TokenRequestSpec(Model):
    audiences: list[str] | None = None
    expirationSeconds: int | None = None
    boundObjectRef: BoundObjectReference | None = None


class TokenRequestStatus(Model):
    token: str = ""
    expirationTimestamp: str = ""


class TokenRequest(Object):
    spec: TokenRequestSpec | None = None
    status: TokenRequestStatus | None = None


class TokenReviewSpec(Model):
    token: str | None = None
    audiences: list[str] | None = None


class ReviewedUser(Model):
    username: str | None = None
    uid: str | None = None
    groups: list[str] | None = None
    extra: dict[str, list[str]] | None = None


class TokenReviewStatus(Model):
    authenticated: bool | None = None
    user: ReviewedUser | None = None
    audiences: list[str] | None = None
    error: str | None = None


class TokenReview(Object):
    spec: TokenReviewSpec | None = None
    status: TokenReviewStatus | None = None


SERVICE_ACCOUNTS = register(ResourceInfo(
    group="", version="v1", kind="ServiceAccount", plural="serviceaccounts", singular="serviceaccount",
    namespaced=True, type=ServiceAccount, short_names=("sa",), subresources=("token",), has_spec=False))

TOKEN_REVIEWS = register(ResourceInfo(
    group="authentication.k8s.io", version="v1", kind="TokenReview", plural="tokenreviews",
    singular="tokenreview", namespaced=False, type=TokenReview, verbs=("create",), has_spec=False,
    extra={"virtual": True}))


# --- what every namespace has -------------------------------------------------------------------
# Written by the apiserver with the namespace and repaired by the controller-manager's
# serviceaccount and root-ca-cert-publisher controllers: one definition for both.

DEFAULT_ACCOUNT = "default"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
_ROOT_CA_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as "
    "the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of "
    "Kubernetes clusters.")


def default_service_account(namespace: str) -> ServiceAccount:
    return ServiceAccount(apiVersion="v1", kind="ServiceAccount",
                          metadata=ObjectMeta(name=DEFAULT_ACCOUNT, namespace=namespace))


def root_ca_configmap(namespace: str, ca_pem: str) -> ConfigMap:
    """The cluster CA as pods' token volumes carry it (`ca.crt`)."""
    return ConfigMap(apiVersion="v1", kind="ConfigMap", data={"ca.crt": ca_pem},
                     metadata=ObjectMeta(name=ROOT_CA_CONFIGMAP, namespace=namespace,
                                         annotations={"kubernetes.io/description": _ROOT_CA_DESCRIPTION}))
