"""The bootstrap policy the apiserver (re)creates at every start: Kubernetes' default
roles and bindings (plugin/pkg/auth/authorizer/rbac/bootstrappolicy), for the kinds
kubelite serves.

admin, edit and view are aggregated ClusterRoles, as in Kubernetes: their rules come
from every ClusterRole labelled aggregate-to-admin/-edit/-view, so the system:aggregate-to-*
roles below (and any a user adds, e.g. for a CRD) extend them. view never reads Secrets.
"""

from __future__ import annotations

from kubelite.api.core_v1 import LabelSelector
from kubelite.api.meta import ObjectMeta
from kubelite.api.rbac_v1 import (
    GROUP,
    AggregationRule,
    ClusterRole,
    ClusterRoleBinding,
    PolicyRule,
    RoleRef,
    Subject,
)
from kubelite.auth.user import AUTHENTICATED, MASTERS, NODES, UNAUTHENTICATED

AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
BOOTSTRAPPING = "kubernetes.io/bootstrapping"
AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"

READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]


def _rule(verbs: list[str], groups: list[str], resources: list[str]) -> PolicyRule:
    return PolicyRule(verbs=verbs, apiGroups=groups, resources=resources)


def _urls(verbs: list[str], urls: list[str]) -> PolicyRule:
    return PolicyRule(verbs=verbs, nonResourceURLs=urls)


def _meta(name: str, labels: dict[str, str] | None = None) -> ObjectMeta:
    return ObjectMeta(name=name, labels={BOOTSTRAPPING: "rbac-defaults", **(labels or {})},
                      annotations={AUTOUPDATE: "true"})


def _role(name: str, rules: list[PolicyRule], labels: dict[str, str] | None = None) -> ClusterRole:
    return ClusterRole(apiVersion=f"{GROUP}/v1", kind="ClusterRole", metadata=_meta(name, labels), rules=rules)


def _aggregated(name: str, to: str) -> ClusterRole:
    sel = LabelSelector(matchLabels={AGGREGATE + to: "true"})
    return ClusterRole(apiVersion=f"{GROUP}/v1", kind="ClusterRole", metadata=_meta(name), rules=[],
                       aggregationRule=AggregationRule(clusterRoleSelectors=[sel]))


def _binding(name: str, role: str, *groups: str, users: tuple[str, ...] = ()) -> ClusterRoleBinding:
    return ClusterRoleBinding(
        apiVersion=f"{GROUP}/v1", kind="ClusterRoleBinding", metadata=_meta(name),
        roleRef=RoleRef(apiGroup=GROUP, kind="ClusterRole", name=role),
        subjects=[Subject(kind="Group", apiGroup=GROUP, name=g) for g in groups]
        + [Subject(kind="User", apiGroup=GROUP, name=u) for u in users])


_DISCOVERY = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
              "/readyz", "/version", "/version/"]
# Kubernetes' system:monitoring ClusterRole, bound to the group of the same name
_MONITORING = ["/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/metrics/slis", "/readyz", "/readyz/*"]
# kubelite adds its dashboard's static files: the page holds no data (it reads the API with the
# user's own credentials), and a sign-in page must load before anyone is signed in.
_PUBLIC_INFO = ["/healthz", "/livez", "/readyz", "/version", "/version/", "/dashboard", "/dashboard/*"]

_VIEW_CORE = ["configmaps", "endpoints", "events", "namespaces", "namespaces/status", "persistentvolumeclaims",
              "persistentvolumeclaims/status", "pods", "pods/log", "pods/status", "replicationcontrollers",
              "resourcequotas", "serviceaccounts",
              "services", "services/status"]
_VIEW_APPS = ["deployments", "deployments/scale", "deployments/status", "replicasets", "replicasets/scale",
              "replicasets/status", "daemonsets", "daemonsets/status", "statefulsets", "statefulsets/scale",
              "statefulsets/status", "controllerrevisions"]
_EDIT_CORE = ["configmaps", "endpoints", "events", "persistentvolumeclaims", "pods", "pods/attach", "pods/exec",
              "pods/portforward", "secrets", "serviceaccounts", "services"]
_EDIT_APPS = ["deployments", "deployments/scale", "replicasets", "replicasets/scale", "daemonsets", "statefulsets",
              "statefulsets/scale"]


SCHEDULER = "system:kube-scheduler"
CONTROLLER_MANAGER = "system:kube-controller-manager"
NODE_PROXIER = "system:node-proxier"
_EVENTS = [_rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"])]
_LEASES = _rule(["get", "create", "update", "patch"], ["coordination.k8s.io"], ["leases"])


def component_roles() -> list[ClusterRole]:
    """One least-privilege role per kubelite component (Kubernetes' system:kube-scheduler,
    system:node and system:node-proxier, cut to what kubelite's components call). A node is
    further held to its own Node, Lease and pods by the apiserver's node restriction."""
    return [
        _role(SCHEDULER, [
            _rule(READ, [""], ["pods", "nodes", "namespaces", "services", "persistentvolumeclaims"]),
            _rule(READ, ["apps"], ["replicasets", "statefulsets"]),
            _rule(READ, [""], ["persistentvolumes"]),
            # the volume binder: a WaitForFirstConsumer claim learns the node the scheduler chose
            _rule(["patch", "update"], [""], ["persistentvolumeclaims"]),
            _rule(["create"], [""], ["pods/binding", "bindings"]),
            _rule(["patch", "update"], [""], ["pods/status"]),
            _rule(["delete"], [""], ["pods"]),  # preemption
            _LEASES, *_EVENTS,
        ]),
        # The garbage collector and the namespace controller delete any kind; the
        # workload controllers create and update theirs. No escalate, bind or impersonate.
        _role(CONTROLLER_MANAGER, [_rule([*READ, *WRITE], ["*"], ["*"]), _LEASES, *_EVENTS]),
        _role("system:node", [
            _rule([*READ, "create", "update", "patch"], [""], ["nodes"]),
            _rule(["patch", "update"], [""], ["nodes/status", "pods/status"]),
            _rule([*READ, "delete"], [""], ["pods"]),
            _rule(["get"], [""], ["configmaps", "secrets", "persistentvolumeclaims", "persistentvolumes"]),
            _rule(READ, [""], ["services", "endpoints"]),
            _rule(["create"], [""], ["serviceaccounts/token"]),
            _rule([*READ, "create", "update", "patch", "delete"], ["coordination.k8s.io"], ["leases"]),
            *_EVENTS,
        ]),
        _role(NODE_PROXIER, [
            _rule(READ, [""], ["services", "endpoints", "nodes"]),
            _rule(READ, ["discovery.k8s.io"], ["endpointslices"]),
            *_EVENTS,
        ]),
    ]


def cluster_roles() -> list[ClusterRole]:
    to_all = {AGGREGATE + "view": "true", AGGREGATE + "edit": "true", AGGREGATE + "admin": "true"}
    return [
        _role("cluster-admin", [_rule(["*"], ["*"], ["*"]), _urls(["*"], ["*"])]),
        _role("system:discovery", [_urls(["get"], _DISCOVERY)]),
        _role("system:public-info-viewer", [_urls(["get"], _PUBLIC_INFO)]),
        _role("system:monitoring", [_urls(["get"], _MONITORING)]),
        _role("system:basic-user", [
            _rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
            _rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
        ]),
        _aggregated("admin", "admin"),
        _aggregated("edit", "edit"),
        _aggregated("view", "view"),
        # metrics-server's ClusterRole: kubectl top for whoever may view
        _role("system:aggregated-metrics-reader", [_rule(READ, ["metrics.k8s.io"], ["pods", "nodes"])], to_all),
        _role("system:aggregate-to-view", [
            _rule(READ, [""], _VIEW_CORE), _rule(READ, ["apps"], _VIEW_APPS),
            _rule(READ, ["discovery.k8s.io"], ["endpointslices"]),
            _rule(READ, ["batch"], ["jobs", "jobs/status", "cronjobs", "cronjobs/status"]),
            _rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
            _rule(READ, ["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
            _rule(READ, ["storage.k8s.io"], ["storageclasses"]),
        ], to_all),
        _role("system:aggregate-to-edit", [
            _rule(["get", "list", "watch", *WRITE], [""], _EDIT_CORE),
            _rule(["get", "list", "watch", *WRITE], ["apps"], _EDIT_APPS),
            _rule(["get", "list", "watch", *WRITE], ["batch"], ["jobs", "cronjobs"]),
            _rule(["get", "list", "watch", *WRITE], ["policy"], ["poddisruptionbudgets"]),
            _rule(["get", "list", "watch", *WRITE], ["autoscaling"], ["horizontalpodautoscalers"]),
            _rule(["create"], [""], ["pods/eviction", "serviceaccounts/token"]),
        ], {AGGREGATE + "edit": "true", AGGREGATE + "admin": "true"}),
        _role("system:aggregate-to-admin", [
            _rule(["get", "list", "watch", *WRITE], [GROUP], ["roles", "rolebindings"]),
            _rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
        ], {AGGREGATE + "admin": "true"}),
        *component_roles(),
    ]


def cluster_role_bindings() -> list[ClusterRoleBinding]:
    return [
        _binding("cluster-admin", "cluster-admin", MASTERS),
        # Kubernetes has discovery for authenticated users only; kubelite's brief lets
        # anonymous clients reach health, version and discovery.
        _binding("system:discovery", "system:discovery", AUTHENTICATED, UNAUTHENTICATED),
        _binding("system:public-info-viewer", "system:public-info-viewer", AUTHENTICATED, UNAUTHENTICATED),
        _binding("system:basic-user", "system:basic-user", AUTHENTICATED),
        _binding("system:monitoring", "system:monitoring", "system:monitoring"),
        _binding(SCHEDULER, SCHEDULER, users=(SCHEDULER,)),
        _binding(CONTROLLER_MANAGER, CONTROLLER_MANAGER, users=(CONTROLLER_MANAGER,)),
        _binding("system:node", "system:node", NODES),
        _binding(NODE_PROXIER, NODE_PROXIER, NODE_PROXIER),
    ]
