"""Questions to the authorizer, answered in the response and never stored:
SelfSubjectAccessReview (`kubectl auth can-i`), SubjectAccessReview,
LocalSubjectAccessReview, SelfSubjectRulesReview (`kubectl auth can-i --list`) and
SelfSubjectReview (`kubectl auth whoami`)."""

from __future__ import annotations

from typing import Any

from kubelite import codec, errors
from kubelite.api import authorization_v1 as az
from kubelite.api.scheme import ResourceInfo
from kubelite.api.serviceaccounts import ReviewedUser, TokenReviewStatus
from kubelite.auth import rbac
from kubelite.auth.rbac import Attributes
from kubelite.auth.user import UserInfo
from kubelite.errors import APIError


def _attributes(user: UserInfo, spec: Any, path: str) -> Attributes:
    res, non = spec.resourceAttributes, spec.nonResourceAttributes
    if (res is None) == (non is None):
        raise errors.invalid_object(
            path.split(".")[0], "", [errors.invalid(path, None, "exactly one of nonResourceAttributes or "
                                                          "resourceAttributes must be specified")],
            az.AUTHZ)
    if non is not None:
        return Attributes(user, non.verb or "", path=non.path or "", resource_request=False)
    return Attributes(user, res.verb or "", res.namespace or "", res.group or "", res.resource or "",
                      res.subresource or "", res.name or "")


def _access_review(authorizer: Any, user: UserInfo, review: Any, kind: str, namespace: str) -> Any:
    if review.spec is None:
        raise errors.invalid_object(kind, "", [errors.required("spec")], az.AUTHZ)
    attrs = _attributes(user, review.spec, "spec.resourceAttributes")
    if kind == "LocalSubjectAccessReview" and attrs.resource_request and attrs.namespace != namespace:
        raise errors.bad_request("spec.resourceAttributes.namespace must match metadata.namespace")
    decision = authorizer.authorize(attrs)
    review.status = az.SubjectAccessReviewStatus(allowed=decision.allowed, reason=decision.reason or None)
    return review


async def _token_review(authn: Any, review: Any) -> Any:
    token = review.spec.token if review.spec else None
    if not token:
        raise errors.invalid_object("TokenReview", "", [errors.required("spec.token")], "authentication.k8s.io")
    try:
        who = await authn.token_user(token)
    except APIError:
        review.status = TokenReviewStatus(authenticated=False, error="token not valid")
        return review
    review.status = TokenReviewStatus(authenticated=True, user=ReviewedUser(
        username=who.name, uid=who.uid or None, groups=list(who.groups) or None))
    return review


def _subject(spec: Any) -> UserInfo:
    return UserInfo(spec.user or "", tuple(spec.groups or ()), spec.uid or "")


def _rules_review(authorizer: Any, user: UserInfo, review: Any) -> Any:
    namespace = (review.spec.namespace if review.spec else None) or ""
    resource, non_resource = [], []
    if authorizer.unrestricted(user):
        resource = [az.ResourceRule(verbs=["*"], apiGroups=["*"], resources=["*"])]
        non_resource = [az.NonResourceRule(verbs=["*"], nonResourceURLs=["*"])]
    else:
        for _, _, rule in rbac.visit_rules(authorizer.source, user, namespace):
            if rule.nonResourceURLs:
                non_resource.append(az.NonResourceRule(verbs=list(rule.verbs or []),
                                                       nonResourceURLs=list(rule.nonResourceURLs)))
            else:
                resource.append(az.ResourceRule(verbs=list(rule.verbs or []), apiGroups=rule.apiGroups,
                                                resources=rule.resources, resourceNames=rule.resourceNames))
    review.status = az.SubjectRulesReviewStatus(resourceRules=resource, nonResourceRules=non_resource)
    return review


async def serve(authorizer: Any, authn: Any, user: UserInfo, info: ResourceInfo, namespace: str, body: bytes,
                content_type: str) -> tuple[int, bytes]:
    """The answered review (201), or a Status for a bad one."""
    if not body:
        raise APIError(400, "BadRequest", f"a {info.kind} needs a body")
    review = codec.decode_body(body, content_type, info.type)
    review.apiVersion, review.kind = info.api_version, info.kind
    if info.kind == "SelfSubjectAccessReview":
        review = _access_review(authorizer, user, review, info.kind, namespace)
    elif info.kind in ("SubjectAccessReview", "LocalSubjectAccessReview"):
        subject = _subject(review.spec) if review.spec is not None else user
        review = _access_review(authorizer, subject, review, info.kind, namespace)
    elif info.kind == "SelfSubjectRulesReview":
        review = _rules_review(authorizer, user, review)
    elif info.kind == "TokenReview":
        review = await _token_review(authn, review)
    else:  # SelfSubjectReview
        review.status = az.SelfSubjectReviewStatus(userInfo=az.UserInfo(
            username=user.name, uid=user.uid or None, groups=list(user.groups) or None))
    return 201, codec.encode(review)
