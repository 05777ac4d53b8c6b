"""Unit tests for kubelite.api.labels (label selector parsing and matching)."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.labels import (
    DOES_NOT_EXIST,
    EQUALS,
    EXISTS,
    IN,
    NOT_IN,
    Selector,
    make_requirement,
    parse_selector,
    selector_from_label_selector,
    selector_from_set,
)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("   ", ""),
        ("x=a,y=b,z=c", "x=a,y=b,z=c"),
        ("z=c,x=a", "x=a,z=c"),  # sorted by key
        ("x==a", "x==a"),
        ("x!=a", "x!=a"),
        ("x = a , y != b", "x=a,y!=b"),
        ("x in (a,b)", "x in (a,b)"),
        ("x in ( b , a )", "x in (a,b)"),
        ("x notin (a)", "x notin (a)"),
        ("x", "x"),
        ("!x", "!x"),
        ("! x", "!x"),
        ("x=", "x="),
        ("x=,z= ", "x=,z="),
        ("x in ()", "x in ()"),
        ("x in (a,)", "x in (,a)"),
        ("x in (,a)", "x in (,a)"),
        ("x in (a,,b)", "x in (,a,b)"),
        ("x>1", "x>1"),
        ("x<-2", "x<-2"),
        ("in in (in)", "in in (in)"),
        ("notin notin (notin)", "notin notin (notin)"),
        ("example.com/app=web,tier", "example.com/app=web,tier"),
        ("a=b,!c,d in (e)", "a=b,!c,d in (e)"),
    ],
)
def test_parse_and_render(text: str, canonical: str) -> None:
    sel = parse_selector(text)
    assert str(sel) == canonical
    assert parse_selector(str(sel)) == sel  # canonical form parses back to the same selector


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x=a||y=b", "unable to parse requirement"),
        ("x==a==b", "found '==', expected: ',' or 'end of string'"),
        ("!x=a", "found '=', expected: ',' or 'end of string'"),
        ("x in a", "unable to parse requirement: found 'a' expected: '('"),
        ("x in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("x in (a b)", "found 'b', expected: ',' or ')'"),
        ("x,", "found '', expected: identifier after ','"),
        ("x,,y", "found ',', expected: identifier after ','"),
        (",x", "found ',', expected: !, identifier, or 'end of string'"),
        ("x y", "found 'y', expected: in, notin, =, ==, !=, gt, lt"),
        ("x>a", "the value must be an integer"),
        ("a b=c", "expected: in, notin"),
        ("=a", "expected: !, identifier, or 'end of string'"),
        ("x=a b", "found 'b', expected: ',' or 'end of string'"),
        ("-x=a", 'unable to parse requirement: key: Invalid value: "-x": name part must consist'),
        ("a/b/c=d", "a qualified name must consist"),
        ("Example.com/x=y", "prefix part a lowercase RFC 1123 subdomain"),
        ("x=-a", 'values[0][x]: Invalid value: "-a": a valid label must be an empty string'),
        ("x=" + "a" * 64, "must be no more than 63 characters"),
        ("x!!=a", "found '!', expected: in, notin"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_selector(text)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "labels", "want"),
    [
        ("", {"x": "y"}, True),
        ("", None, True),
        ("x=y", {"x": "y"}, True),
        ("x=y", {"x": "z"}, False),
        ("x=y", {}, False),
        ("x=y", None, False),
        ("x=y,z=w", {"x": "y", "z": "w"}, True),
        ("x=y,z=w", {"x": "y", "z": "x"}, False),
        ("x!=y", {}, True),  # NotEquals matches a missing label
        ("x!=y", {"x": "y"}, False),
        ("x!=y", {"x": "z"}, True),
        ("x in (a,b)", {"x": "b"}, True),
        ("x in (a,b)", {"x": "c"}, False),
        ("x in (a,b)", {}, False),
        ("x notin (a,b)", {}, True),
        ("x notin (a,b)", {"x": "a"}, False),
        ("x", {"x": ""}, True),
        ("x", {"y": "1"}, False),
        ("!x", {"y": "1"}, True),
        ("!x", {"x": "1"}, False),
        ("x=", {"x": ""}, True),
        ("x=", {}, False),
        ("x>1", {"x": "2"}, True),
        ("x>1", {"x": "1"}, False),
        ("x>1", {"x": "abc"}, False),
        ("x>1", {}, False),
        ("x<1", {"x": "-5"}, True),
    ],
)
def test_matches(text: str, labels: dict[str, str] | None, want: bool) -> None:
    assert parse_selector(text).matches(labels) is want


class LabelSelectorRequirement(msgspec.Struct):
    key: str
    operator: str
    values: list[str] | None = None


class LabelSelector(msgspec.Struct):
    matchLabels: dict[str, str] | None = None
    matchExpressions: list[LabelSelectorRequirement] | None = None


def test_from_label_selector_dict_and_struct_agree() -> None:
    as_dict = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "edge"]},
            {"key": "env", "operator": "NotIn", "values": ["dev"]},
            {"key": "track", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    }
    as_struct = msgspec.convert(as_dict, LabelSelector)
    a, b = selector_from_label_selector(as_dict), selector_from_label_selector(as_struct)
    assert a == b
    assert str(a) == "app=web,env notin (dev),!legacy,tier in (edge,front),track"
    assert a.matches({"app": "web", "tier": "edge", "track": "x"})
    assert not a.matches({"app": "web", "tier": "edge", "track": "x", "legacy": "1"})
    assert not a.matches({"app": "web", "tier": "edge", "track": "x", "env": "dev"})
    assert not a.matches({"app": "web", "tier": "edge"})


def test_empty_and_none_label_selectors() -> None:
    for ls in (None, {}, {"matchLabels": {}}, LabelSelector()):
        sel = selector_from_label_selector(ls)
        assert sel.empty
        assert sel.matches({"any": "thing"})  # list filtering: everything
    nothing = selector_from_label_selector(None, none_selects_nothing=True)
    assert not nothing.matches({}) and not nothing.matches({"a": "b"})
    assert Selector.nothing().empty and not Selector.nothing().matches({})
    assert not selector_from_label_selector({"matchLabels": {"a": "b"}}).empty


def test_label_selector_errors() -> None:
    with pytest.raises(ValueError, match='"Equals" is not a valid label selector operator'):
        selector_from_label_selector({"matchExpressions": [{"key": "a", "operator": "Equals"}]})
    with pytest.raises(ValueError, match="values set can't be empty"):
        selector_from_label_selector(
            {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}
        )
    with pytest.raises(ValueError, match="values set must be empty"):
        selector_from_label_selector(
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}
        )
    with pytest.raises(ValueError, match="name part must consist"):
        selector_from_label_selector({"matchLabels": {"bad key": "v"}})
    with pytest.raises(ValueError, match="must be strings"):
        selector_from_label_selector({"matchLabels": {"replicas": 3}})


def test_selector_from_set_and_exact_match() -> None:
    sel = selector_from_set({"b": "2", "a": "1"})
    assert str(sel) == "a=1,b=2"
    assert sel.matches({"a": "1", "b": "2", "c": "3"})
    assert sel.requires_exact_match("a") == "1"
    assert sel.requires_exact_match("c") is None
    assert parse_selector("x in (y)").requires_exact_match("x") == "y"
    assert parse_selector("x in (y,z)").requires_exact_match("x") is None
    assert selector_from_set(None).empty
    assert [r.key for r in parse_selector("b,a=1").requirements] == ["a", "b"]


def test_make_requirement_and_add() -> None:
    sel = Selector.everything().add(make_requirement("z", EXISTS), make_requirement("a", IN, ["x"]))
    assert str(sel) == "a in (x),z"
    assert make_requirement("k", DOES_NOT_EXIST).matches({})
    assert make_requirement("k", NOT_IN, ["v"]).matches({"k": "w"})
    with pytest.raises(ValueError, match="exact-match compatibility requires one single value"):
        make_requirement("k", EQUALS, ["a", "b"])


_name = st.from_regex(r"[a-z0-9]([a-z0-9_.-]{0,8}[a-z0-9])?", fullmatch=True)
_labels = st.dictionaries(_name, _name, max_size=5)


@given(_labels, _labels)
def test_set_selector_matches_iff_subset(required: dict[str, str], have: dict[str, str]) -> None:
    sel = selector_from_set(required)
    assert sel.matches(have) == all(have.get(k) == v for k, v in required.items())
    assert parse_selector(str(sel)) == sel


@given(_name, st.lists(_name, min_size=1, max_size=4), _labels)
def test_in_and_notin_are_complements_when_key_present(
    key: str, values: list[str], have: dict[str, str]
) -> None:
    in_sel = parse_selector(f"{key} in ({','.join(values)})")
    notin_sel = parse_selector(f"{key} notin ({','.join(values)})")
    if key in have:
        assert in_sel.matches(have) != notin_sel.matches(have)
    else:
        assert not in_sel.matches(have) and notin_sel.matches(have)
