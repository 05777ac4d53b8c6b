"""Validation of rbac.authorization.k8s.io/v1, after pkg/apis/rbac/validation.

Names are path segments (system:controller:x is a valid role name); a rule needs
verbs and either resources with apiGroups or nonResourceURLs (the latter only in a
ClusterRole); a binding's roleRef names a Role or ClusterRole and never changes;
subjects are Users, Groups or ServiceAccounts with a name (a ServiceAccount in a
ClusterRoleBinding also needs its namespace).
"""

from __future__ import annotations

from typing import Any

from kubelite.api.rbac_v1 import (
    GROUP,
    ClusterRole,
    ClusterRoleBinding,
    PolicyRule,
    Role,
    RoleBinding,
)
from kubelite.api.validation.names import (
    validate_immutable,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.errors import FieldError, forbidden, invalid, not_supported, required

SUBJECT_KINDS = ["Group", "ServiceAccount", "User"]


def path_segment_name(name: str, prefix: bool = False) -> list[str]:
    """path.IsValidPathSegmentName (and its prefix form)."""
    if not prefix and name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def _rules(rules: list[PolicyRule] | None, path: str, *, cluster: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, r in enumerate(rules or []):
        p = f"{path}[{i}]"
        if not r.verbs:
            errs.append(required(f"{p}.verbs", "verbs must contain at least one value"))
        if r.nonResourceURLs:
            if not cluster:
                errs.append(invalid(f"{p}.nonResourceURLs", r.nonResourceURLs,
                                    "namespaced rules cannot apply to non-resource URLs"))
            if r.apiGroups or r.resources or r.resourceNames:
                errs.append(invalid(f"{p}.nonResourceURLs", r.nonResourceURLs,
                                    "rules cannot apply to both regular resources and non-resource URLs"))
            continue
        if not r.apiGroups:
            errs.append(required(f"{p}.apiGroups", "resource rules must supply at least one api group"))
        if not r.resources:
            errs.append(required(f"{p}.resources", "resource rules must supply at least one resource"))
    return errs


def _binding_body(obj: Any, *, cluster: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    ref = obj.roleRef
    kinds = ["ClusterRole"] if cluster else ["ClusterRole", "Role"]
    if ref is None:
        errs.append(required("roleRef"))
    else:
        if ref.apiGroup != GROUP:
            errs.append(not_supported("roleRef.apiGroup", ref.apiGroup, [GROUP]))
        if ref.kind not in kinds:
            errs.append(not_supported("roleRef.kind", ref.kind, kinds))
        if not ref.name:
            errs.append(required("roleRef.name"))
        else:
            errs += [invalid("roleRef.name", ref.name, m) for m in path_segment_name(ref.name)]
    for i, s in enumerate(obj.subjects or []):
        errs += _subject(s, f"subjects[{i}]", cluster=cluster)
    return errs


def _subject(s: Any, p: str, *, cluster: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    if s.kind not in SUBJECT_KINDS:
        errs.append(not_supported(f"{p}.kind", s.kind, SUBJECT_KINDS))
    if not s.name:
        errs.append(required(f"{p}.name"))
    if s.kind == "ServiceAccount":
        if s.apiGroup:
            errs.append(not_supported(f"{p}.apiGroup", s.apiGroup, [""]))
        if cluster and not s.namespace:
            errs.append(required(f"{p}.namespace"))
    elif s.kind in ("User", "Group") and s.apiGroup != GROUP:
        errs.append(not_supported(f"{p}.apiGroup", s.apiGroup, [GROUP]))
    return errs


def _cluster_role_body(obj: ClusterRole) -> list[FieldError]:
    errs = _rules(obj.rules, "rules", cluster=True)
    agg = obj.aggregationRule
    if agg is not None and not agg.clusterRoleSelectors:
        errs.append(required("aggregationRule.clusterRoleSelectors"))
    return errs


# kind -> (namespaced, what to check besides metadata, roleRef immutable)
_KINDS: dict[type, tuple[bool, Any, bool]] = {
    Role: (True, lambda o: _rules(o.rules, "rules", cluster=False), False),
    ClusterRole: (False, _cluster_role_body, False),
    RoleBinding: (True, lambda o: _binding_body(o, cluster=False), True),
    ClusterRoleBinding: (False, lambda o: _binding_body(o, cluster=True), True),
}


def validate_rbac(obj: Any) -> list[FieldError]:
    namespaced, body, _ = _KINDS[type(obj)]
    return validate_object_meta(obj.metadata, namespaced=namespaced, name_fn=path_segment_name) + body(obj)


def validate_rbac_update(new: Any, old: Any) -> list[FieldError]:
    _, body, ref_immutable = _KINDS[type(new)]
    errs = validate_object_meta_update(new.metadata, old.metadata) + body(new)
    if ref_immutable and validate_immutable(new.roleRef, old.roleRef, "roleRef"):
        errs.append(forbidden("roleRef", "cannot change roleRef"))
    return errs
