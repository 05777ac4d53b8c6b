"""authorization.k8s.io/v1 access reviews and authentication.k8s.io/v1 SelfSubjectReview:
questions to the authorizer ("may user X do Y?") answered in the response and never
stored (`kubectl auth can-i`, `kubectl auth can-i --list`, `kubectl auth whoami`)."""

from kubelite.api.base import Model
from kubelite.api.meta import Object
from kubelite.api.scheme import ResourceInfo, register


class ResourceAttributes(Model):
    namespace: str | None = None
    verb: str | None = None
    group: str | None = None
    version: str | None = None
    resource: str | None = None
    subresource: str | None = None
    name: str | None = None


class NonResourceAttributes(Model):
    path: str | None = None
    verb: str | None = None


class SubjectAccessReviewSpec(Model):
    resourceAttributes: ResourceAttributes | None = None
    nonResourceAttributes: NonResourceAttributes | None = None
    user: str | None = None
    groups: list[str] | None = None
    extra: dict[str, list[str]] | None = None
    uid: str | None = None


class SelfSubjectAccessReviewSpec(Model):
    resourceAttributes: ResourceAttributes | None = None
    nonResourceAttributes: NonResourceAttributes | None = None


class SubjectAccessReviewStatus(Model):
    allowed: bool = False
    denied: bool | None = None
    reason: str | None = None
    evaluationError: str | None = None


class SubjectAccessReview(Object):
    spec: SubjectAccessReviewSpec | None = None
    status: SubjectAccessReviewStatus | None = None


class LocalSubjectAccessReview(Object):
    spec: SubjectAccessReviewSpec | None = None
    status: SubjectAccessReviewStatus | None = None


class SelfSubjectAccessReview(Object):
    spec: SelfSubjectAccessReviewSpec | None = None
    status: SubjectAccessReviewStatus | None = None


class SelfSubjectRulesReviewSpec(Model):
    namespace: str | None = None


class ResourceRule(Model):
    verbs: list[str]
    apiGroups: list[str] | None = None
    resources: list[str] | None = None
    resourceNames: list[str] | None = None


class NonResourceRule(Model):
    verbs: list[str]
    nonResourceURLs: list[str] | None = None


class SubjectRulesReviewStatus(Model):
    resourceRules: list[ResourceRule] = []
    nonResourceRules: list[NonResourceRule] = []
    incomplete: bool = False
    evaluationError: str | None = None


class SelfSubjectRulesReview(Object):
    spec: SelfSubjectRulesReviewSpec | None = None
    status: SubjectRulesReviewStatus | None = None


class UserInfo(Model):
    username: str | None = None
    uid: str | None = None
    groups: list[str] | None = None
    extra: dict[str, list[str]] | None = None


class SelfSubjectReviewStatus(Model):
    userInfo: UserInfo | None = None


class SelfSubjectReview(Object):
    status: SelfSubjectReviewStatus | None = None


AUTHZ = "authorization.k8s.io"
CREATE_ONLY = ("create",)
VIRTUAL = {"virtual": True}  # answered by the apiserver, never stored


def _review(kind: str, plural: str, tp: type, *, namespaced: bool = False, group: str = AUTHZ) -> ResourceInfo:
    return register(ResourceInfo(group=group, version="v1", kind=kind, plural=plural, singular=kind.lower(),
                                 namespaced=namespaced, type=tp, verbs=CREATE_ONLY, has_spec=False,
                                 extra=dict(VIRTUAL)))


SUBJECT_ACCESS_REVIEWS = _review("SubjectAccessReview", "subjectaccessreviews", SubjectAccessReview)
LOCAL_SUBJECT_ACCESS_REVIEWS = _review("LocalSubjectAccessReview", "localsubjectaccessreviews",
                                       LocalSubjectAccessReview, namespaced=True)
SELF_SUBJECT_ACCESS_REVIEWS = _review("SelfSubjectAccessReview", "selfsubjectaccessreviews", SelfSubjectAccessReview)
SELF_SUBJECT_RULES_REVIEWS = _review("SelfSubjectRulesReview", "selfsubjectrulesreviews", SelfSubjectRulesReview)
SELF_SUBJECT_REVIEWS = _review("SelfSubjectReview", "selfsubjectreviews", SelfSubjectReview,
                               group="authentication.k8s.io")
