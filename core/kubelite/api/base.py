"""The Struct base every API type derives from."""

from __future__ import annotations

import msgspec


class Model(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """Base of every API Struct: strict on decode, sparse on encode.

    Optional scalars default to None (not 0/""), so an explicit zero written by
    the user survives a round trip and is distinguishable from "unset".
    """


# IntOrString, as Kubernetes' intstr.IntOrString (targetPort, maxSurge, probe ports).
IntOrString = int | str
# Quantities are kept as the user wrote them; numbers from YAML are allowed
# and normalised to strings by defaulting (see api/quantity.py).
QuantityValue = str | int | float
