"""Taints and tolerations: the one matching rule the scheduler and the taint manager share."""

from __future__ import annotations

from collections.abc import Iterable

from kubelite.api.core_v1 import Taint, Toleration


def tolerates(tol: Toleration, taint: Taint) -> bool:
    """v1.Toleration.ToleratesTaint: effect and key match (empty matches all); Equal compares
    values, Exists ignores them."""
    if tol.effect and tol.effect != taint.effect:
        return False
    if tol.key and tol.key != taint.key:
        return False
    if tol.operator in (None, "", "Equal"):
        return (tol.value or "") == (taint.value or "")
    return tol.operator == "Exists"


def tolerated(tolerations: Iterable[Toleration], taint: Taint) -> bool:
    return any(tolerates(t, taint) for t in tolerations)
