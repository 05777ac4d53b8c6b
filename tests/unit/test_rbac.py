"""RBAC evaluation (kubelite.auth.rbac), table-driven after Kubernetes' rbac authorizer and
validation tests: rule matching, binding order, subjects, aggregation, escalation, wording."""

from __future__ import annotations

import pytest

from kubelite.api.core_v1 import LabelSelector
from kubelite.api.meta import ObjectMeta
from kubelite.api.rbac_v1 import (
    AggregationRule,
    ClusterRole,
    ClusterRoleBinding,
    PolicyRule,
    Role,
    RoleBinding,
    RoleRef,
    Subject,
)
from kubelite.auth import rbac
from kubelite.auth.rbac import Attributes
from kubelite.auth.user import UserInfo, service_account_user

JANE = UserInfo("jane", ("dev", "system:authenticated"))


class Source:
    """An RBACSource from plain lists (the apiserver's will be an informer cache)."""

    def __init__(self, *objs: object) -> None:
        self.objs = objs

    def _of(self, kind: type) -> list:
        return [o for o in self.objs if type(o) is kind]

    def cluster_role_bindings(self):
        return self._of(ClusterRoleBinding)

    def role_bindings(self, namespace: str):
        return [b for b in self._of(RoleBinding) if b.metadata.namespace == namespace]

    def cluster_role(self, name: str):
        return next((r for r in self._of(ClusterRole) if r.metadata.name == name), None)

    def role(self, namespace: str, name: str):
        return next((r for r in self._of(Role) if (r.metadata.namespace, r.metadata.name) == (namespace, name)), None)


def rule(verbs, groups=("",), resources=(), names=None, urls=None) -> PolicyRule:
    return PolicyRule(verbs=list(verbs), apiGroups=list(groups) if resources else None,
                      resources=list(resources) or None, resourceNames=list(names) if names else None,
                      nonResourceURLs=list(urls) if urls else None)


def subject(kind: str, name: str, namespace: str | None = None) -> Subject:
    return Subject(kind=kind, name=name, namespace=namespace)


def example_source() -> Source:
    """The module docstring's worked example."""
    return Source(
        ClusterRole(metadata=ObjectMeta(name="view"), rules=[rule(["get", "list", "watch"], resources=["pods"])]),
        ClusterRoleBinding(metadata=ObjectMeta(name="readers"), subjects=[subject("Group", "dev")],
                           roleRef=RoleRef(kind="ClusterRole", name="view")),
        Role(metadata=ObjectMeta(name="editor", namespace="web"),
             rules=[rule(["create", "delete"], ["apps"], ["deployments"])]),
        RoleBinding(metadata=ObjectMeta(name="jane-edit", namespace="web"), subjects=[subject("User", "jane")],
                    roleRef=RoleRef(kind="Role", name="editor")),
    )


@pytest.mark.parametrize(("attrs", "allowed", "why"), [
    (Attributes(JANE, "get", "db", "", "pods"), True, 'ClusterRoleBinding "readers"'),
    (Attributes(JANE, "create", "web", "apps", "deployments"), True, 'RoleBinding "jane-edit"'),
    (Attributes(JANE, "create", "db", "apps", "deployments"), False, ""),
    (Attributes(JANE, "get", "db", "", "pods", "log"), False, ""),
    (Attributes(UserInfo("bob", ("ops",)), "get", "db", "", "pods"), False, ""),
])
def test_the_worked_example(attrs: Attributes, allowed: bool, why: str) -> None:
    d = rbac.authorize(example_source(), attrs)
    assert d.allowed is allowed
    assert why in d.reason


def test_forbidden_wording_is_kubernetes() -> None:
    a = Attributes(JANE, "create", "db", "apps", "deployments")
    err = rbac.forbidden(a)
    assert (err.code, err.reason) == (403, "Forbidden")
    assert err.message == ('deployments.apps is forbidden: User "jane" cannot create resource "deployments" '
                           'in API group "apps" in the namespace "db"')
    named = rbac.forbidden(Attributes(JANE, "get", "", "", "nodes", name="n1"))
    assert named.message == ('nodes "n1" is forbidden: User "jane" cannot get resource "nodes" in API group "" '
                             "at the cluster scope")
    sub = rbac.forbidden_message(Attributes(JANE, "get", "db", "", "pods", "log", "p"))
    assert sub == 'User "jane" cannot get resource "pods/log" in API group "" in the namespace "db"'
    path = rbac.forbidden(Attributes(JANE, "get", path="/metrics", resource_request=False))
    assert path.message == 'forbidden: User "jane" cannot get path "/metrics"'


@pytest.mark.parametrize(("r", "attrs", "allowed"), [
    (rule(["*"], ["*"], ["*"]), Attributes(JANE, "delete", "x", "apps", "deployments", "scale"), True),
    (rule(["get"], resources=["pods"]), Attributes(JANE, "list", "x", "", "pods"), False),
    (rule(["get"], resources=["pods"]), Attributes(JANE, "get", "x", "apps", "pods"), False),
    (rule(["get"], resources=["pods/log"]), Attributes(JANE, "get", "x", "", "pods", "log"), True),
    (rule(["get"], resources=["*/status"]), Attributes(JANE, "get", "x", "", "pods", "status"), True),
    (rule(["get"], resources=["*/status"]), Attributes(JANE, "get", "x", "", "pods"), False),
    (rule(["get"], resources=["pods"], names=["a"]), Attributes(JANE, "get", "x", "", "pods", name="a"), True),
    (rule(["get"], resources=["pods"], names=["a"]), Attributes(JANE, "get", "x", "", "pods", name="b"), False),
    (rule(["list"], resources=["pods"], names=["a"]), Attributes(JANE, "list", "x", "", "pods"), False),
    (rule(["get"], urls=["/healthz"]), Attributes(JANE, "get", path="/healthz", resource_request=False), True),
    (rule(["get"], urls=["/healthz/*"]), Attributes(JANE, "get", path="/healthz/etcd", resource_request=False),
     True),
    (rule(["get"], urls=["/healthz"]), Attributes(JANE, "get", path="/healthz/etcd", resource_request=False),
     False),
    (rule(["get"], urls=["/api"]), Attributes(JANE, "post", path="/api", resource_request=False), False),
    (rule(["get"], resources=["pods"]), Attributes(JANE, "get", path="/api", resource_request=False), False),
])
def test_one_rule(r: PolicyRule, attrs: Attributes, allowed: bool) -> None:
    assert rbac.rule_allows(attrs, r) is allowed


def test_subjects_users_groups_and_service_accounts() -> None:
    sa = service_account_user("web", "builder")
    assert rbac.applies_to(sa, subject("ServiceAccount", "builder", "web"), "")
    assert rbac.applies_to(sa, subject("ServiceAccount", "builder"), "web"), "a RoleBinding's own namespace"
    assert not rbac.applies_to(sa, subject("ServiceAccount", "builder"), ""), "no namespace to default to"
    assert not rbac.applies_to(sa, subject("ServiceAccount", "builder", "db"), "web")
    assert rbac.applies_to(sa, subject("Group", "system:serviceaccounts:web"), "")
    assert not rbac.applies_to(JANE, subject("User", "Jane"), ""), "names are case-sensitive"
    assert not rbac.applies_to(JANE, Subject(kind="Robot", name="jane"), "")


def test_role_binding_to_a_cluster_role_applies_only_in_its_namespace() -> None:
    src = Source(
        ClusterRole(metadata=ObjectMeta(name="edit"), rules=[rule(["create"], resources=["configmaps"])]),
        RoleBinding(metadata=ObjectMeta(name="b", namespace="web"), subjects=[subject("User", "jane")],
                    roleRef=RoleRef(kind="ClusterRole", name="edit")),
    )
    assert rbac.authorize(src, Attributes(JANE, "create", "web", "", "configmaps")).allowed
    assert not rbac.authorize(src, Attributes(JANE, "create", "db", "", "configmaps")).allowed
    assert not rbac.authorize(src, Attributes(JANE, "create", "", "", "configmaps")).allowed
    # a binding to a role that does not exist grants nothing (and does not fail)
    dangling = Source(RoleBinding(metadata=ObjectMeta(name="b", namespace="web"), subjects=[subject("User", "jane")],
                                  roleRef=RoleRef(kind="Role", name="missing")))
    assert not rbac.authorize(dangling, Attributes(JANE, "get", "web", "", "pods")).allowed


def test_aggregation_collects_labelled_roles_without_duplicates() -> None:
    admin = ClusterRole(metadata=ObjectMeta(name="admin"), aggregationRule=AggregationRule(clusterRoleSelectors=[
        LabelSelector(matchLabels={"rbac.authorization.k8s.io/aggregate-to-admin": "true"})]))
    label = {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}
    crd = ClusterRole(metadata=ObjectMeta(name="crontabs-admin", labels=label),
                      rules=[rule(["*"], ["stable.example.com"], ["crontabs"])])
    pods = ClusterRole(metadata=ObjectMeta(name="a-pods", labels=label), rules=[rule(["*"], resources=["pods"])])
    twin = ClusterRole(metadata=ObjectMeta(name="b-pods", labels=label), rules=[rule(["*"], resources=["pods"])])
    other = ClusterRole(metadata=ObjectMeta(name="unlabelled"), rules=[rule(["*"], resources=["secrets"])])
    got = rbac.aggregated_rules(admin, [admin, crd, pods, twin, other])
    assert got == [rule(["*"], resources=["pods"]), rule(["*"], ["stable.example.com"], ["crontabs"])]
    assert rbac.aggregated_rules(crd, [admin, crd]) is None


def test_escalation_guard() -> None:
    owner = [rule(["get", "list"], resources=["pods"]), rule(["*"], resources=["configmaps"]),
             rule(["get"], resources=["*/status"]), rule(["get"], resources=["secrets"], names=["mine"])]
    assert rbac.uncovered(owner, [rule(["get"], resources=["pods"]), rule(["delete"], resources=["configmaps"])]) == []
    assert rbac.uncovered(owner, [rule(["get", "delete"], resources=["pods"])]) == [
        rule(["delete"], resources=["pods"])]
    assert rbac.uncovered(owner, [rule(["get"], resources=["deployments/status"], groups=["apps"])]) == [
        rule(["get"], ["apps"], ["deployments/status"])], "the group must be covered too"
    assert rbac.uncovered(owner, [rule(["get"], resources=["secrets"], names=["mine"])]) == []
    assert rbac.uncovered(owner, [rule(["get"], resources=["secrets"])]) != [], "named access never covers all"
    assert rbac.uncovered([rule(["get"], urls=["/logs/*"])], [rule(["get"], urls=["/logs/kubelet"])]) == []


# ---- the memo of rules per (user, groups, namespace) ---------------------------------------


class CountingSource(Source):
    """A Source that counts the walks over its ClusterRoleBindings and tells a generation."""

    def __init__(self, *objs: object) -> None:
        super().__init__(*objs)
        self.walks = 0
        self.gen = 0

    def cluster_role_bindings(self):
        self.walks += 1
        return super().cluster_role_bindings()

    def generation(self) -> int:
        return self.gen


@pytest.mark.parametrize("attrs", [
    Attributes(JANE, "get", "db", "", "pods"),
    Attributes(JANE, "create", "web", "apps", "deployments"),
    Attributes(JANE, "create", "db", "apps", "deployments"),
    Attributes(JANE, "get", "db", "", "pods", "log"),
    Attributes(UserInfo("bob", ("ops",)), "get", "db", "", "pods"),
    Attributes(UserInfo("jane", ("ops",)), "create", "web", "apps", "deployments"),
])
def test_memoized_rules_decide_as_the_walk_does(attrs: Attributes) -> None:
    src = example_source()
    memo = rbac.RuleMemo(src)
    for _ in range(2):  # a fresh answer, then the remembered one
        assert rbac.decide(memo.rules(attrs.user, attrs.namespace), attrs) == rbac.authorize(src, attrs)


def test_memo_walks_once_per_user_groups_and_namespace() -> None:
    src = CountingSource(*example_source().objs)
    memo = rbac.RuleMemo(src, src.generation)
    for verb in ("get", "list", "watch", "get"):
        assert rbac.decide(memo.rules(JANE, "db"), Attributes(JANE, verb, "db", "", "pods")).allowed
    assert src.walks == 1
    memo.rules(JANE, "web")
    memo.rules(UserInfo("jane", ("ops",)), "db")  # same name, other groups: other rules
    assert src.walks == 3
    assert not rbac.decide(memo.rules(UserInfo("jane", ("ops",)), "db"), Attributes(JANE, "get", "db", "", "pods")).allowed


def test_memo_forgets_everything_when_the_generation_changes() -> None:
    src = CountingSource(*example_source().objs)
    memo = rbac.RuleMemo(src, src.generation)
    bob = UserInfo("bob", ("ops",))
    wanted = Attributes(bob, "get", "db", "", "pods")
    assert not rbac.decide(memo.rules(bob, "db"), wanted).allowed
    src.objs += (ClusterRoleBinding(metadata=ObjectMeta(name="ops-read"), subjects=[subject("Group", "ops")],
                                    roleRef=RoleRef(kind="ClusterRole", name="view")),)
    src.gen += 1  # what the apiserver's informers do on any RBAC change
    assert rbac.decide(memo.rules(bob, "db"), wanted).allowed
    assert src.walks == 2


def test_a_full_memo_starts_over() -> None:
    src = CountingSource(*example_source().objs)
    memo = rbac.RuleMemo(src, src.generation, max_entries=3)
    for n in range(3):
        memo.rules(JANE, f"ns-{n}")
    memo.rules(JANE, "ns-0")
    assert src.walks == 3  # all three kept
    memo.rules(JANE, "ns-3")  # the fourth: emptied, then kept alone
    memo.rules(JANE, "ns-0")
    assert src.walks == 5
