"""rbac.authorization.k8s.io/v1 types: Role, ClusterRole, RoleBinding, ClusterRoleBinding.

Not registered in the scheme yet: the API serves them only once the apiserver
enforces them (an object accepted and ignored would be a side door). The pure
evaluation that will enforce them lives in kubelite.auth.rbac.
"""

from kubelite.api.base import Model
from kubelite.api.core_v1 import LabelSelector
from kubelite.api.meta import Object


class PolicyRule(Model):
    verbs: list[str] | None = None
    apiGroups: list[str] | None = None
    resources: list[str] | None = None
    resourceNames: list[str] | None = None
    nonResourceURLs: list[str] | None = None


class AggregationRule(Model):
    clusterRoleSelectors: list[LabelSelector] | None = None


class Role(Object):
    rules: list[PolicyRule] | None = None


class ClusterRole(Object):
    rules: list[PolicyRule] | None = None
    aggregationRule: AggregationRule | None = None


class Subject(Model):
    kind: str | None = None  # User | Group | ServiceAccount
    apiGroup: str | None = None
    name: str | None = None
    namespace: str | None = None


class RoleRef(Model):
    apiGroup: str | None = None
    kind: str | None = None  # Role | ClusterRole
    name: str | None = None


class RoleBinding(Object):
    subjects: list[Subject] | None = None
    roleRef: RoleRef | None = None


class ClusterRoleBinding(Object):
    subjects: list[Subject] | None = None
    roleRef: RoleRef | None = None
