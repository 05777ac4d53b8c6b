"""kubectl's `TYPE/NAME ... KEY=VALUE ... KEY-` arguments (label, annotate, set env), split (pure)."""

from __future__ import annotations


def split_changes(args: list[str]) -> tuple[list[str], dict[str, str], list[str]]:
    """(targets, KEY=VALUE to set, KEYs to remove). `KEY-` is a removal once a target came
    first (a name may end in '-' no more than a type/name may)."""
    targets: list[str] = []
    sets: dict[str, str] = {}
    removes: list[str] = []
    for arg in args:
        if "=" in arg:
            key, _, value = arg.partition("=")
            sets[key] = value
        elif arg.endswith("-") and "/" not in arg and targets:
            removes.append(arg[:-1])
        else:
            targets.append(arg)
    return targets, sets, removes
