"""`kubelite set image TYPE/NAME CONTAINER=IMAGE...` (kubectl's `set image`)."""

from __future__ import annotations

import argparse
import copy
from typing import Any

from kubelite_cli.errors import CLIError
from kubelite_cli.podtemplate import all_containers, containers_patch, pod_spec
from kubelite_cli.session import Session, parse_targets, qualified_kind, resolve_resource

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


def with_images(obj: JSON, images: dict[str, str]) -> JSON:
    """A copy of `obj` with the images set; '*' sets every container. Raises for unknown names."""
    out = copy.deepcopy(obj)
    containers = all_containers(pod_spec(out))
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
            patch_body = containers_patch(obj, updated)
            session.api.patch(info, session.namespace, name, patch_body, patch_type="merge")
            print(f"{qualified_kind(info)}/{name} image updated", flush=True)
        return 0
    finally:
        session.close()
