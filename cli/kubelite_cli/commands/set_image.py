"""`kubelite set image TYPE/NAME CONTAINER=IMAGE...` (kubectl's `set image`)."""

from __future__ import annotations

import argparse
import copy
from typing import Any

from kubelite_cli.commands.rollout import parse_targets
from kubelite_cli.errors import CLIError
from kubelite_cli.session import Session, qualified_kind, resolve_resource

JSON = dict[str, Any]


def split_targets_and_images(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """kubectl: the resource arguments come first, then CONTAINER=IMAGE pairs."""
    targets = [a for a in args if "=" not in a]
    pairs = [a for a in args if "=" in a]
    if not pairs:
        raise CLIError("at least one image update is required")
    images: dict[str, str] = {}
    for pair in pairs:
        container, _, image = pair.partition("=")
        if not container or not image:
            raise CLIError(f"invalid image update {pair!r}: expected CONTAINER=IMAGE")
        images[container] = image
    return targets, images


def pod_spec_path(obj: JSON) -> JSON:
    """The pod spec inside a workload (template.spec) or a pod (spec)."""
    if obj.get("kind") == "Pod":
        return obj.setdefault("spec", {})
    return obj.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {})


def with_images(obj: JSON, images: dict[str, str]) -> JSON:
    """A copy of `obj` with the images set; '*' sets every container. Raises for unknown names."""
    out = copy.deepcopy(obj)
    spec = pod_spec_path(out)
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    for name, image in images.items():
        matched = [c for c in containers if name == "*" or c.get("name") == name]
        if not matched:
            raise CLIError(f'unable to find container named "{name}"')
        for c in matched:
            c["image"] = image
    return out


def run(args: argparse.Namespace) -> int:
    raw_targets, images = split_targets_and_images(args.args)
    session = Session.from_args(args)
    try:
        for kind, name in parse_targets(raw_targets):
            info = resolve_resource(kind)
            obj = session.api.get(info, session.namespace, name)
            updated = with_images(obj, images)
            if updated == obj:
                continue  # kubectl prints nothing when nothing changes
            path = ["spec"] if obj.get("kind") == "Pod" else ["spec", "template", "spec"]
            before, after = obj, updated
            for key in path:
                before, after = before.get(key) or {}, after[key]
            patch: JSON = {}
            cursor = patch
            for key in path[:-1]:
                cursor = cursor.setdefault(key, {})
            cursor[path[-1]] = {k: after[k] for k in ("initContainers", "containers") if k in after}
            patch_body = {**patch, "metadata": {"resourceVersion": obj["metadata"].get("resourceVersion")}}
            session.api.patch(info, session.namespace, name, patch_body, patch_type="merge")
            print(f"{qualified_kind(info)}/{name} image updated", flush=True)
        return 0
    finally:
        session.close()
