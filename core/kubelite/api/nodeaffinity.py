"""Node selection: nodeSelector and required node affinity against a node's labels and name.

One rule shared by the scheduler's NodeAffinity filter and the DaemonSet controller
(which decides which nodes should run a daemon pod), after k8s.io/component-helpers
scheduling/corev1/nodeaffinity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def requirement_matches(req: Any, value: str | None, present: bool) -> bool:
    """One NodeSelectorRequirement against one label (or field) value.

    Example: {key: disk, operator: In, values: [ssd]} matches a node labelled disk=ssd and
    no other; {operator: Gt, values: ["3"]} matches cores=4 but not cores=3 or cores=x."""
    op = req.operator
    values = req.values or []
    if op == "In":
        return present and value in values
    if op == "NotIn":
        return not present or value not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt"):
        if not present or len(values) != 1:
            return False
        try:
            have, want = int(value or ""), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def term_matches(term: Any, labels: Mapping[str, str], name: str) -> bool:
    """A NodeSelectorTerm: every expression and field must match; an empty term matches nothing.
    The only field is metadata.name (how a DaemonSet pins its pod to one node)."""
    exprs, fields = term.matchExpressions or [], term.matchFields or []
    if not exprs and not fields:
        return False
    for req in exprs:
        key = req.key or ""
        if not requirement_matches(req, labels.get(key), key in labels):
            return False
    return all(req.key == "metadata.name" and requirement_matches(req, name, True) for req in fields)


def required_terms(pod_spec: Any) -> list[Any] | None:
    """The pod's requiredDuringSchedulingIgnoredDuringExecution terms, None when it has none."""
    affinity = getattr(pod_spec, "affinity", None)
    node_affinity = affinity.nodeAffinity if affinity is not None else None
    required = node_affinity.requiredDuringSchedulingIgnoredDuringExecution if node_affinity is not None else None
    return None if required is None else list(required.nodeSelectorTerms or [])


def pod_fits_node(pod_spec: Any, labels: Mapping[str, str], name: str) -> bool:
    """nodeSelector (every label equal) and required node affinity (terms ORed)."""
    for key, value in (pod_spec.nodeSelector or {}).items():
        if labels.get(key) != value:
            return False
    terms = required_terms(pod_spec)
    return terms is None or any(term_matches(t, labels, name) for t in terms)
