"""The pod spec inside any object that has one, and the patch that rewrites its containers
(what `set image` and `set env` change)."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


def spec_path(obj: JSON) -> list[str]:
    """Where the pod spec is: spec (a Pod), spec.template.spec (workloads), and a CronJob's
    spec.jobTemplate.spec.template.spec."""
    kind = obj.get("kind")
    if kind == "Pod":
        return ["spec"]
    if kind == "CronJob":
        return ["spec", "jobTemplate", "spec", "template", "spec"]
    return ["spec", "template", "spec"]


def pod_spec(obj: JSON) -> JSON:
    """The pod spec inside `obj` (created empty where missing)."""
    cursor = obj
    for key in spec_path(obj):
        cursor = cursor.setdefault(key, {})
    return cursor


def containers_patch(obj: JSON, updated: JSON) -> JSON:
    """A merge patch that sets `updated`'s init and regular containers on `obj`, with `obj`'s
    resourceVersion as precondition (a concurrent writer gets a 409, never a lost update)."""
    after = pod_spec(updated)
    patch: JSON = {"metadata": {"resourceVersion": (obj.get("metadata") or {}).get("resourceVersion")}}
    cursor = patch
    path = spec_path(obj)
    for key in path[:-1]:
        cursor = cursor.setdefault(key, {})
    cursor[path[-1]] = {k: after[k] for k in ("initContainers", "containers") if k in after}
    return patch


def all_containers(spec: JSON) -> list[JSON]:
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
