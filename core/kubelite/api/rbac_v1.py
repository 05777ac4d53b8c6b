"""rbac.authorization.k8s.io/v1: Role, ClusterRole, RoleBinding, ClusterRoleBinding.

The apiserver enforces them on every HTTP request (kubelite_apiserver.authz, with the
pure evaluation in kubelite.auth.rbac).
"""

from kubelite.api.base import Model
from kubelite.api.core_v1 import LabelSelector
from kubelite.api.meta import Object
from kubelite.api.scheme import ResourceInfo, register


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


GROUP = "rbac.authorization.k8s.io"

ROLES = register(ResourceInfo(group=GROUP, version="v1", kind="Role", plural="roles", singular="role",
                              namespaced=True, type=Role, has_spec=False))
CLUSTER_ROLES = register(ResourceInfo(group=GROUP, version="v1", kind="ClusterRole", plural="clusterroles",
                                      singular="clusterrole", namespaced=False, type=ClusterRole, has_spec=False))
ROLE_BINDINGS = register(ResourceInfo(group=GROUP, version="v1", kind="RoleBinding", plural="rolebindings",
                                      singular="rolebinding", namespaced=True, type=RoleBinding, has_spec=False))
CLUSTER_ROLE_BINDINGS = register(ResourceInfo(
    group=GROUP, version="v1", kind="ClusterRoleBinding", plural="clusterrolebindings",
    singular="clusterrolebinding", namespaced=False, type=ClusterRoleBinding, has_spec=False))
