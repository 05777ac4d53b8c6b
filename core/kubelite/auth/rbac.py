"""RBAC evaluation as Kubernetes does it (pkg/apis/rbac/v1/evaluation_helpers.go,
plugin/pkg/auth/authorizer/rbac, pkg/registry/rbac/validation). Pure: the roles and
bindings come from an `RBACSource` (an informer cache in the apiserver, a dict in tests).

- RBAC is additive: a request is allowed when any rule of any role bound to the user
  allows it; nothing denies. ClusterRoleBindings are visited first, then the
  RoleBindings of the request's namespace (which may point at a Role there or at a
  ClusterRole, whose rules then apply in that namespace only).
- A rule allows a resource request when its verbs, apiGroups, resources and
  resourceNames all match; a non-resource request (/healthz, /version, /api) when its
  verbs and nonResourceURLs match.

Worked example: user "jane" in group "dev"; ClusterRoleBinding "readers" binds group
"dev" to ClusterRole "view" (get/list/watch pods); RoleBinding "jane-edit" in namespace
"web" binds user "jane" to Role "editor" (create/delete deployments.apps).
  get pods in "db"                      -> allowed (ClusterRoleBinding "readers")
  create deployments.apps in "web"      -> allowed (RoleBinding "jane-edit")
  create deployments.apps in "db"       -> denied: User "jane" cannot create resource
                                           "deployments" in API group "apps" in the namespace "db"
  get pods/log in "db"                  -> denied (a subresource needs its own rule: "pods/log")
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from kubelite.api.labels import selector_from_label_selector
from kubelite.api.rbac_v1 import (
    ClusterRole,
    ClusterRoleBinding,
    PolicyRule,
    Role,
    RoleBinding,
    Subject,
)
from kubelite.auth.user import UserInfo, service_account_username
from kubelite.errors import APIError, StatusDetails

ALL = "*"


@dataclass(frozen=True)
class Attributes:
    """What a request asks to do (authorizer.Attributes)."""

    user: UserInfo
    verb: str  # get list watch create update patch delete deletecollection, or an HTTP verb for paths
    namespace: str = ""
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""  # for non-resource requests
    resource_request: bool = True


# ---- one rule -------------------------------------------------------------------------


def verb_matches(rule: PolicyRule, verb: str) -> bool:
    return any(v == ALL or v == verb for v in rule.verbs or ())


def api_group_matches(rule: PolicyRule, group: str) -> bool:
    return any(g == ALL or g == group for g in rule.apiGroups or ())


def resource_matches(rule: PolicyRule, combined: str, subresource: str) -> bool:
    """"*" matches everything; "pods" only pods itself; "pods/log" that subresource;
    "*/scale" the scale subresource of any resource.

    Rule resources ["pods", "*/status"]: "pods" yes, "pods/log" no, "deployments/status" yes."""
    for r in rule.resources or ():
        if r == ALL or r == combined:
            return True
        if subresource and r == f"*/{subresource}":
            return True
    return False


def resource_name_matches(rule: PolicyRule, name: str) -> bool:
    """No resourceNames: any name; otherwise the request must name one of them (so a
    list or create, which name nothing, is not allowed by a rule with resourceNames)."""
    names = rule.resourceNames or ()
    return not names or name in names


def non_resource_url_matches(rule: PolicyRule, path: str) -> bool:
    """"*" any path; "/healthz" exactly; "/healthz/*" every path below (prefix match)."""
    for url in rule.nonResourceURLs or ():
        if url == ALL or url == path or (url.endswith(ALL) and path.startswith(url[:-1])):
            return True
    return False


def rule_allows(attrs: Attributes, rule: PolicyRule) -> bool:
    if not attrs.resource_request:
        return verb_matches(rule, attrs.verb) and non_resource_url_matches(rule, attrs.path)
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    return (verb_matches(rule, attrs.verb) and api_group_matches(rule, attrs.api_group)
            and resource_matches(rule, combined, attrs.subresource) and resource_name_matches(rule, attrs.name))


# ---- bindings -------------------------------------------------------------------------


def applies_to(user: UserInfo, subject: Subject, namespace: str) -> bool:
    """appliesToUser: a User by name, a Group by membership, a ServiceAccount by its
    username (its namespace defaults to the binding's, so a RoleBinding may name a local SA)."""
    if subject.kind == "User":
        return user.name == subject.name
    if subject.kind == "Group":
        return subject.name in user.groups
    if subject.kind == "ServiceAccount":
        sa_namespace = subject.namespace or namespace
        return bool(sa_namespace) and user.name == service_account_username(sa_namespace, subject.name or "")
    return False


class RBACSource(Protocol):
    def cluster_role_bindings(self) -> Iterable[ClusterRoleBinding]: ...

    def role_bindings(self, namespace: str) -> Iterable[RoleBinding]: ...

    def cluster_role(self, name: str) -> ClusterRole | None: ...

    def role(self, namespace: str, name: str) -> Role | None: ...


@dataclass(frozen=True)
class Grant:
    """Where a rule came from, for the reason of an allowed decision."""

    binding_kind: str
    binding: str
    role_kind: str
    role: str
    namespace: str = ""

    def reason(self, subject: Subject) -> str:
        where = f' in namespace "{self.namespace}"' if self.namespace else ""
        return (f'RBAC: allowed by {self.binding_kind} "{self.binding}"{where} of {self.role_kind} '
                f'"{self.role}" to {subject.kind} "{subject.name}"')


def _role_rules(source: RBACSource, kind: str, name: str, namespace: str) -> list[PolicyRule]:
    role = source.cluster_role(name) if kind == "ClusterRole" else source.role(namespace, name)
    return list(role.rules or []) if role is not None else []


def visit_rules(source: RBACSource, user: UserInfo, namespace: str) -> Iterator[tuple[Grant, Subject, PolicyRule]]:
    """VisitRulesFor: every rule that applies to `user` in `namespace` ("" = cluster scope),
    ClusterRoleBindings first, then the namespace's RoleBindings."""
    for crb in source.cluster_role_bindings():
        subject = _subject_for(user, crb.subjects, "")
        ref = crb.roleRef
        if subject is None or ref is None or ref.kind != "ClusterRole":
            continue
        grant = Grant("ClusterRoleBinding", crb.metadata.name or "", "ClusterRole", ref.name or "")
        for rule in _role_rules(source, "ClusterRole", ref.name or "", ""):
            yield grant, subject, rule
    if not namespace:
        return
    for rb in source.role_bindings(namespace):
        subject = _subject_for(user, rb.subjects, namespace)
        ref = rb.roleRef
        if subject is None or ref is None or ref.kind not in ("Role", "ClusterRole"):
            continue
        grant = Grant("RoleBinding", rb.metadata.name or "", ref.kind, ref.name or "", namespace)
        for rule in _role_rules(source, ref.kind, ref.name or "", namespace):
            yield grant, subject, rule


def _subject_for(user: UserInfo, subjects: list[Subject] | None, namespace: str) -> Subject | None:
    return next((s for s in subjects or () if applies_to(user, s, namespace)), None)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


def authorize(source: RBACSource, attrs: Attributes) -> Decision:
    return decide(visit_rules(source, attrs.user, attrs.namespace), attrs)


def decide(rules: Iterable[tuple[Grant, Subject, PolicyRule]], attrs: Attributes) -> Decision:
    """Allowed by the first of `rules` (visit_rules' answer for the request's user and
    namespace) that allows the request; denied when none does."""
    for grant, subject, rule in rules:
        if rule_allows(attrs, rule):
            return Decision(True, grant.reason(subject))
    return Decision(False, "")


MEMO_ENTRIES = 16_384  # (user, groups, namespace) answers kept; then it starts over

VisitedRule = tuple[Grant, Subject, PolicyRule]


class RuleMemo:
    """visit_rules' answer per (user, groups, namespace), kept until an RBAC object changes.

    Finding the rules that apply to a user walks the subjects of every ClusterRoleBinding
    (the bootstrap policy alone has dozens) and of the namespace's RoleBindings; the answer
    is the same for that user's next request in that namespace until a Role, ClusterRole
    or binding changes, which `generation()` tells (any new value forgets every answer).
    Example: node "n1" reports the status of 3 pods in namespace "web": the bindings are
    walked for ("system:node:n1", its groups, "web") once, and the other two requests only
    match the rules found against their verb and resource. A RoleBinding created anywhere
    changes the generation, and the next request walks again.
    The answer depends on nothing else: `applies_to` reads the user's name and groups only.
    At most `max_entries` answers are kept; a full memo is emptied (5,000 nodes × a few
    namespaces fit; rebuilding costs what one uncached request does)."""

    def __init__(self, source: RBACSource, generation: Callable[[], Hashable] = lambda: 0, *,
                 max_entries: int = MEMO_ENTRIES) -> None:
        self.source = source
        self._generation = generation
        self._seen: Hashable = generation()
        self.max_entries = max_entries
        self._memo: dict[tuple[str, tuple[str, ...], str], tuple[VisitedRule, ...]] = {}

    def rules(self, user: UserInfo, namespace: str) -> tuple[VisitedRule, ...]:
        generation = self._generation()
        if generation != self._seen:
            self._memo.clear()
            self._seen = generation
        key = (user.name, tuple(user.groups), namespace)  # a tuple already (tuple() then returns it)
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= self.max_entries:
                self._memo.clear()
            found = self._memo[key] = tuple(visit_rules(self.source, user, namespace))
        return found


def forbidden_message(attrs: Attributes) -> str:
    """responsewriters.forbiddenMessage, word for word."""
    user = attrs.user.name
    if not attrs.resource_request:
        return f'User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    where = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    return f'User "{user}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.api_group}" {where}'


def forbidden(attrs: Attributes) -> APIError:
    """The 403 Status (apierrors.NewForbidden): `pods "x" is forbidden: User ...` or, with no
    name, `pods is forbidden: ...`; non-resource paths: `forbidden: User ... path ...`."""
    message = forbidden_message(attrs)
    if not attrs.resource_request:
        return APIError(403, "Forbidden", f"forbidden: {message}", StatusDetails())
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    subject = f'{qualified} "{attrs.name}"' if attrs.name else qualified
    return APIError(403, "Forbidden", f"{subject} is forbidden: {message}",
                    StatusDetails(name=attrs.name or None, group=attrs.api_group or None, kind=attrs.resource))


# ---- ClusterRole aggregation -------------------------------------------------------------


def aggregated_rules(role: ClusterRole, all_roles: Iterable[ClusterRole]) -> list[PolicyRule] | None:
    """The rules an aggregated ClusterRole should hold: every rule of every ClusterRole whose
    labels match one of its clusterRoleSelectors, without duplicates, in role-name order
    (the ClusterRoleAggregation controller). None when `role` is not aggregated.

    "admin" selects rbac.authorization.k8s.io/aggregate-to-admin=true; a CRD's ClusterRole
    carrying that label adds its rules to "admin" without anyone editing "admin"."""
    agg = role.aggregationRule
    if agg is None or not agg.clusterRoleSelectors:
        return None
    selectors = [selector_from_label_selector(s) for s in agg.clusterRoleSelectors]
    rules: list[PolicyRule] = []
    for other in sorted(all_roles, key=lambda r: r.metadata.name or ""):
        if other.metadata.name == role.metadata.name:
            continue
        labels = other.metadata.labels or {}
        if any(not s.empty and s.matches(labels) for s in selectors):
            rules.extend(r for r in other.rules or () if r not in rules)
    return rules


# ---- escalation guard ---------------------------------------------------------------------


def _atoms(rule: PolicyRule) -> Iterator[PolicyRule]:
    """BreakdownRule: one verb, one group, one resource and at most one name per rule."""
    for verb in rule.verbs or ():
        for url in rule.nonResourceURLs or ():
            yield PolicyRule(verbs=[verb], nonResourceURLs=[url])
        for group in rule.apiGroups or ():
            for resource in rule.resources or ():
                if rule.resourceNames:
                    for name in rule.resourceNames:
                        yield PolicyRule(verbs=[verb], apiGroups=[group], resources=[resource], resourceNames=[name])
                else:
                    yield PolicyRule(verbs=[verb], apiGroups=[group], resources=[resource])


def _covers_resource(owner: list[str], resource: str) -> bool:
    if ALL in owner or resource in owner:
        return True
    return "/" in resource and f"*/{resource.split('/', 1)[1]}" in owner


def _rule_covers(owner: PolicyRule, atom: PolicyRule) -> bool:
    verbs, owned_verbs = atom.verbs or [], owner.verbs or []
    if not (ALL in owned_verbs or all(v in owned_verbs for v in verbs)):
        return False
    if atom.nonResourceURLs:
        return all(non_resource_url_matches(owner, u) for u in atom.nonResourceURLs)
    groups, owned_groups = atom.apiGroups or [], owner.apiGroups or []
    if not (ALL in owned_groups or all(g in owned_groups for g in groups)):
        return False
    if not all(_covers_resource(owner.resources or [], r) for r in atom.resources or []):
        return False
    return not owner.resourceNames or all(n in owner.resourceNames for n in atom.resourceNames or [None])


def uncovered(owner_rules: Iterable[PolicyRule], wanted: Iterable[PolicyRule]) -> list[PolicyRule]:
    """validation.Covers: the atoms of `wanted` that no rule of `owner_rules` covers. A user
    may create or update a role (or bind one) only when this is empty, or when they hold the
    `escalate` (`bind`) verb on it.

    Owner holds get/list on pods and "*" on configmaps; a role granting get pods and delete
    configmaps is covered; one granting delete pods is not: [delete pods]."""
    owner = list(owner_rules)
    return [atom for rule in wanted for atom in _atoms(rule) if not any(_rule_covers(o, atom) for o in owner)]
