"""Unit tests for kubelite.api.quantity (Kubernetes resource.Quantity semantics)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.quantity import (
    BINARY_SI,
    DECIMAL_EXPONENT,
    DECIMAL_SI,
    ERR_FORMAT,
    ERR_SUFFIX,
    Quantity,
    cpu_millis,
    memory_bytes,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("text", "amount", "fmt"),
    [
        ("100m", Fraction(1, 10), DECIMAL_SI),
        ("0.5", Fraction(1, 2), DECIMAL_SI),
        ("128Mi", 128 * 2**20, BINARY_SI),
        ("1G", 10**9, DECIMAL_SI),
        ("1e3", 1000, DECIMAL_EXPONENT),
        ("1E-3", Fraction(1, 1000), DECIMAL_EXPONENT),
        ("-1", -1, DECIMAL_SI),
        ("+5k", 5000, DECIMAL_SI),
        (".5", Fraction(1, 2), DECIMAL_SI),
        ("1.", 1, DECIMAL_SI),
        ("5n", Fraction(5, 10**9), DECIMAL_SI),
        ("3u", Fraction(3, 10**6), DECIMAL_SI),
        ("2Ei", 2 * 2**60, BINARY_SI),
        ("0", 0, DECIMAL_SI),
        (" 250m ", Fraction(1, 4), DECIMAL_SI),
    ],
)
def test_parse(text: str, amount: Fraction | int, fmt: str) -> None:
    q = parse_quantity(text)
    assert q.amount == amount
    assert q.format == fmt


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("1000m", "1"),
        ("0.5", "500m"),
        ("1024Mi", "1Gi"),
        ("1536Mi", "1536Mi"),
        ("1000", "1k"),
        ("100m", "100m"),
        ("1e3", "1e3"),
        ("1E-3", "1e-3"),
        ("1.5e3", "1500"),
        ("-1", "-1"),
        ("-1Ki", "-1Ki"),
        ("1.5Ki", "1536"),
        ("512", "512"),
        ("0.5Ki", "512"),
        ("0.5Mi", "512Ki"),
        ("0.1Ki", "102400m"),
        ("0Mi", "0"),
        ("12e6", "12e6"),
        ("1000000", "1M"),
        ("1.2345", "1234500u"),
        ("0.0000000001", "1n"),  # rounded up to the nearest nano
        ("-0.0000000001", "-1n"),
        ("1000E", "1000E"),
    ],
)
def test_canonical(text: str, canonical: str) -> None:
    assert parse_quantity(text).canonical() == canonical
    assert str(parse_quantity(text)) == canonical


@pytest.mark.parametrize("bad", ["", " ", ".", "-", "abc", "1.2.3", "1 Gi", "Mi", "--1"])
def test_invalid_format(bad: str) -> None:
    with pytest.raises(ValueError, match="quantities must match the regular expression"):
        parse_quantity(bad)


@pytest.mark.parametrize("bad", ["1K", "1Gb", "1e", "1mm", "1Kii", "1ee3", "1i1"])
def test_invalid_suffix(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_quantity(bad)
    assert str(info.value) in (ERR_SUFFIX, ERR_FORMAT)


def test_invalid_suffix_message() -> None:
    with pytest.raises(ValueError, match="unable to parse quantity's suffix"):
        parse_quantity("1K")


def test_numbers_from_yaml() -> None:
    assert parse_quantity(2).amount == 2
    assert parse_quantity(0.5).amount == Fraction(1, 2)
    assert parse_quantity(0.1).milli_value() == 100  # exact decimal, not binary float
    with pytest.raises(ValueError):
        parse_quantity(float("nan"))
    with pytest.raises(ValueError):
        parse_quantity(True)  # type: ignore[arg-type]


def test_value_and_milli_value_round_up_away_from_zero() -> None:
    assert parse_quantity("100m").value() == 1
    assert parse_quantity("1500m").value() == 2
    assert parse_quantity("-1500m").value() == -2
    assert parse_quantity("1.0001m").milli_value() == 2
    assert parse_quantity("1n").milli_value() == 1
    assert parse_quantity("128Mi").value() == 134217728


def test_helpers() -> None:
    assert cpu_millis("100m") == 100
    assert cpu_millis("0.5") == 500
    assert cpu_millis(2) == 2000
    assert memory_bytes("128Mi") == 134217728
    assert memory_bytes("1G") == 10**9
    assert memory_bytes(parse_quantity("1Ki")) == 1024


def test_ordering_equality_hash() -> None:
    a, b = parse_quantity("1000m"), parse_quantity("1")
    assert a == b and hash(a) == hash(b)
    assert parse_quantity("1Ki") > parse_quantity("1k")
    assert parse_quantity("999m") < parse_quantity("1")
    assert sorted([parse_quantity("2"), parse_quantity("1Ki"), parse_quantity("5m")]) == [
        parse_quantity("5m"),
        parse_quantity("2"),
        parse_quantity("1Ki"),
    ]
    assert len({parse_quantity("1k"), parse_quantity("1000"), parse_quantity("1e3")}) == 1


def test_arithmetic_keeps_left_format_unless_zero() -> None:
    s = parse_quantity("1Gi") + parse_quantity("1Gi")
    assert s.canonical() == "2Gi"
    assert (parse_quantity("1") - parse_quantity("250m")).canonical() == "750m"
    assert (parse_quantity("0") + parse_quantity("1Mi")).canonical() == "1Mi"
    assert (-parse_quantity("1Mi")).canonical() == "-1Mi"


def test_binary_cap_at_max_int64() -> None:
    assert parse_quantity("16Ei").value() == 2**63 - 1


_SUFFIXES = [
    "n",
    "u",
    "m",
    "",
    "k",
    "M",
    "G",
    "T",
    "P",
    "E",
    "Ki",
    "Mi",
    "Gi",
    "Ti",
    "Pi",
    "e3",
    "e-3",
    "E6",
]


@given(
    whole=st.integers(min_value=0, max_value=10**6),
    frac=st.one_of(st.none(), st.text(alphabet="0123456789", min_size=0, max_size=6)),
    suffix=st.sampled_from(_SUFFIXES),
    negative=st.booleans(),
)
def test_round_trip_through_canonical(
    whole: int, frac: str | None, suffix: str, negative: bool
) -> None:
    text = ("-" if negative else "") + str(whole) + ("" if frac is None else "." + frac) + suffix
    q = parse_quantity(text)
    again = parse_quantity(q.canonical())
    assert again == q
    assert again.canonical() == q.canonical()  # canonical form is a fixed point


@given(st.integers(min_value=-(2**62), max_value=2**62))
def test_integers_round_trip(n: int) -> None:
    q = parse_quantity(n)
    assert q.value() == n
    assert q.milli_value() == n * 1000
    assert parse_quantity(q.canonical()) == q


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=10**12))
def test_addition_matches_milli_values(a: int, b: int) -> None:
    qa, qb = parse_quantity(f"{a}m"), parse_quantity(f"{b}m")
    assert (qa + qb).milli_value() == a + b
    assert (qa - qb).milli_value() == a - b
    assert isinstance(qa + qb, Quantity)


def test_sum_and_integer_scaling() -> None:
    total = sum([parse_quantity("100m"), parse_quantity("250m"), parse_quantity("1")])
    assert isinstance(total, Quantity)
    assert total.milli_value() == 1350
    assert (parse_quantity("128Mi") * 3).canonical() == "384Mi"
    assert (2 * parse_quantity("500m")).canonical() == "1"
    with pytest.raises(TypeError):
        parse_quantity("1") * 1.5  # type: ignore[operator]
