"""Resource quantities, as k8s.io/apimachinery/pkg/api/resource.Quantity.

Values are kept exactly as a `Fraction` (never a float). Parsing rounds non-zero
magnitudes *up* to the nearest nano, like Kubernetes, so "you asked for some,
you get some". The format (DecimalSI, BinarySI, DecimalExponent) comes from the
suffix the user wrote and decides how `canonical()` prints the value.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from functools import total_ordering

DECIMAL_SI = "DecimalSI"
BINARY_SI = "BinarySI"
DECIMAL_EXPONENT = "DecimalExponent"

_SPLIT_RE = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_FORMAT = f"quantities must match the regular expression '{_SPLIT_RE}'"
ERR_NUMERIC = "unable to parse numeric part of quantity"
ERR_SUFFIX = "unable to parse quantity's suffix"

_NUMBER_RE = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?")
_EXPONENT_RE = re.compile(r"[eE]([+-]?[0-9]+)")

# suffix -> power of ten
_DECIMAL_SUFFIXES = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_DECIMAL_BY_EXP = {v: k for k, v in _DECIMAL_SUFFIXES.items()}
# suffix -> power of 1024
_BINARY_SUFFIXES = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_BINARY_BY_EXP = {v: k for k, v in _BINARY_SUFFIXES.items()}

_NANO = 10**9
_MAX_INT64 = 2**63 - 1


def _round_away(x: Fraction) -> int:
    """Round to an integer away from zero (Kubernetes' inf.RoundUp / ScaledValue)."""
    return math.ceil(x) if x >= 0 else -math.ceil(-x)


def _round_up_to_nano(x: Fraction) -> Fraction:
    return Fraction(_round_away(x * _NANO), _NANO)


@total_ordering
class Quantity:
    """An exact, immutable resource quantity. Compares and hashes by value only."""

    __slots__ = ("_value", "format")

    def __init__(self, value: Fraction | int, format: str = DECIMAL_SI) -> None:
        self._value = Fraction(value)
        self.format = format

    @property
    def amount(self) -> Fraction:
        """The exact value (e.g. Fraction(1, 10) for "100m")."""
        return self._value

    def value(self) -> int:
        """The value as an integer, rounded up away from zero (Kubernetes' Value())."""
        return _round_away(self._value)

    def milli_value(self) -> int:
        """The value in thousandths, rounded up away from zero (Kubernetes' MilliValue())."""
        return _round_away(self._value * 1000)

    def is_zero(self) -> bool:
        return self._value == 0

    # -- arithmetic: the result keeps the left operand's format unless it is zero,
    # as Kubernetes' Quantity.Add/Sub do.
    def _result_format(self, other: Quantity) -> str:
        return other.format if self._value == 0 else self.format

    def __add__(self, other: object) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        return Quantity(self._value + other._value, self._result_format(other))

    def __sub__(self, other: object) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        return Quantity(self._value - other._value, self._result_format(other))

    def __radd__(self, other: object) -> Quantity:
        # Lets sum(quantities) start from the integer 0.
        if other == 0 and not isinstance(other, bool):
            return self
        return NotImplemented

    def __mul__(self, factor: object) -> Quantity:
        """Scale by an integer (e.g. replicas x per-pod request)."""
        if isinstance(factor, bool) or not isinstance(factor, int):
            return NotImplemented
        return Quantity(self._value * factor, self.format)

    __rmul__ = __mul__

    def __neg__(self) -> Quantity:
        return Quantity(-self._value, self.format)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self._value == other._value

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self._value < other._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return f"Quantity({self.canonical()!r})"

    def __str__(self) -> str:
        return self.canonical()

    def canonical(self) -> str:
        """The string Kubernetes prints for this quantity (CanonicalizeBytes)."""
        v = self._value
        if v == 0:
            return "0"
        fmt = self.format
        if fmt == BINARY_SI and (-1024 < v < 1024 or v.denominator != 1):
            # Small or fractional binary values print as DecimalSI to avoid rounding.
            fmt = DECIMAL_SI
        if fmt == BINARY_SI:
            return _binary_string(int(v))
        return _decimal_string(v, fmt)


def _decimal_string(v: Fraction, fmt: str) -> str:
    # The value is mantissa * 10**exponent with an integral mantissa; finer than nano
    # only if built by arithmetic on unrounded Fractions, so round up to nano here too.
    mantissa = _round_away(v * _NANO)
    exponent = -9
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    # Exponent must be a multiple of three so an SI suffix (or e3k) applies.
    shift = exponent % 3
    mantissa *= 10**shift
    exponent -= shift
    if fmt == DECIMAL_EXPONENT:
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    if exponent > 18:
        # Beyond "E" there is no SI suffix; keep the value exact in E units.
        mantissa *= 10 ** (exponent - 18)
        exponent = 18
    return f"{mantissa}{_DECIMAL_BY_EXP[exponent]}"


def _binary_string(n: int) -> str:
    exponent = 0
    while n % 1024 == 0 and exponent < 6:
        n //= 1024
        exponent += 1
    return f"{n}{_BINARY_BY_EXP.get(exponent, '')}"


def parse_quantity(s: str | int | float | Quantity) -> Quantity:
    """Parse a quantity string ("100m", "128Mi", "1e3") or a JSON/YAML number.

    Raises ValueError with Kubernetes' messages for malformed input.
    """
    if isinstance(s, Quantity):
        return s
    if isinstance(s, bool):
        raise ValueError(ERR_FORMAT)
    if isinstance(s, int):
        s = str(s)
    elif isinstance(s, float):
        if not math.isfinite(s):
            raise ValueError(ERR_FORMAT)
        s = repr(s)
    elif not isinstance(s, str):
        raise ValueError(ERR_FORMAT)
    text = s.strip()
    if not text:
        raise ValueError(ERR_FORMAT)

    m = _NUMBER_RE.match(text)
    assert m is not None  # every part of the pattern is optional
    sign, whole, frac = m.group(1), m.group(2), m.group(3) or ""
    if not whole and not frac:
        raise ValueError(ERR_FORMAT)
    suffix = text[m.end() :]
    if not re.fullmatch(r"[eEinumkKMGTP]*[-+]?[0-9]*", suffix):
        raise ValueError(ERR_FORMAT)

    value = Fraction(int(whole or "0") * 10 ** len(frac) + int(frac or "0"), 10 ** len(frac))
    if suffix in _DECIMAL_SUFFIXES:
        fmt = DECIMAL_SI
        value *= Fraction(10) ** _DECIMAL_SUFFIXES[suffix]
    elif suffix in _BINARY_SUFFIXES:
        fmt = BINARY_SI
        value *= 1024 ** _BINARY_SUFFIXES[suffix]
    elif em := _EXPONENT_RE.fullmatch(suffix):
        fmt = DECIMAL_EXPONENT
        value *= Fraction(10) ** int(em.group(1))
    else:
        raise ValueError(ERR_SUFFIX)

    value = _round_up_to_nano(value)
    if fmt == BINARY_SI:
        value = min(value, Fraction(_MAX_INT64))
        if 0 < value < 1:
            fmt = DECIMAL_SI
    if sign == "-":
        value = -value
    return Quantity(value, fmt)


def cpu_millis(q: Quantity | str | int | float) -> int:
    """CPU in millicores, rounded up ("100m" -> 100, "0.5" -> 500, 2 -> 2000)."""
    return parse_quantity(q).milli_value()


def memory_bytes(q: Quantity | str | int | float) -> int:
    """Memory (or any byte count) as an integer, rounded up ("128Mi" -> 134217728)."""
    return parse_quantity(q).value()
