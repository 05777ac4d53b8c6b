"""Label selectors, as k8s.io/apimachinery/pkg/labels and metav1.LabelSelector.

Parse once (`parse_selector`, `selector_from_label_selector`, `selector_from_set`),
then call `Selector.matches(labels)` as often as needed: requirements hold
frozensets and matching is a handful of dict lookups.

Which "empty" do you want?
- A list/watch call with no `labelSelector` (or an empty string) selects everything:
  `parse_selector("")` and `Selector.everything()`.
- `selector_from_label_selector(None)` or `({})` also selects everything (list filtering,
  NetworkPolicy-style). Kubernetes' LabelSelectorAsSelector(nil) selects *nothing*;
  callers where an absent/empty selector must select nothing (ReplicaSet, Deployment,
  PodDisruptionBudget, pod affinity terms) must check `Selector.empty` first, or call
  `selector_from_label_selector(ls, none_selects_nothing=True)` for the nil case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

# Operators, spelled as k8s.io/apimachinery/pkg/selection spells them.
IN = "in"
NOT_IN = "notin"
EQUALS = "="
DOUBLE_EQUALS = "=="
NOT_EQUALS = "!="
EXISTS = "exists"
DOES_NOT_EXIST = "!"
GREATER_THAN = "gt"
LESS_THAN = "lt"

# metav1.LabelSelectorRequirement operators -> selection operators.
_EXPRESSION_OPERATORS = {
    "In": IN,
    "NotIn": NOT_IN,
    "Exists": EXISTS,
    "DoesNotExist": DOES_NOT_EXIST,
}


# ---------------------------------------------------------------- validation
# Kept here (not in api/validation/names.py) so the selector parser has no
# dependency on object validation; messages match apimachinery's.
_QUALIFIED_NAME_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE_RE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_DNS1123_SUBDOMAIN_RE = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
)
_NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def _invalid(path: str, value: str, detail: str) -> str:
    return f'{path}: Invalid value: "{value}": {detail}'


def label_key_errors(key: str) -> list[str]:
    """Why `key` is not a qualified label key (empty list if it is)."""
    parts = key.split("/")
    if len(parts) == 1:
        prefix, name = "", parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return ["prefix part must be non-empty"]
    else:
        return [
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
            "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') "
            "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    errors = []
    if prefix:
        if len(prefix) > 253:
            errors.append("prefix part must be no more than 253 characters")
        if not _DNS1123_SUBDOMAIN_RE.fullmatch(prefix):
            errors.append("prefix part " + _SUBDOMAIN_MSG)
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    if name and not _QUALIFIED_NAME_RE.fullmatch(name):
        errors.append(_NAME_PART_MSG)
    return errors


def label_value_errors(value: str) -> list[str]:
    """Why `value` is not a valid label value (empty list if it is)."""
    errors = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if not _LABEL_VALUE_RE.fullmatch(value):
        errors.append(_LABEL_VALUE_MSG)
    return errors


# ---------------------------------------------------------------- requirements
@dataclass(frozen=True, slots=True)
class Requirement:
    """One clause of a selector: `key <operator> values`. Build with `make_requirement`."""

    key: str
    operator: str
    values: tuple[str, ...] = ()  # sorted, deduplicated
    _value_set: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            value = labels.get(self.key)
            return value is not None and value in self._value_set
        if op in (NOT_IN, NOT_EQUALS):
            value = labels.get(self.key)
            return value is None or value not in self._value_set
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        # gt / lt: the label must hold an integer.
        value = labels.get(self.key)
        if value is None:
            return False
        try:
            have = int(value)
        except ValueError:
            return False
        want = int(self.values[0])
        return have > want if op == GREATER_THAN else have < want

    def __str__(self) -> str:
        op = self.operator
        if op == EXISTS:
            return self.key
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        if op in (IN, NOT_IN):
            return f"{self.key} {op} ({','.join(self.values)})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(op, op)
        return f"{self.key}{symbol}{self.values[0]}"


def make_requirement(key: str, operator: str, values: Iterable[str] = ()) -> Requirement:
    """Validate and build a Requirement (labels.NewRequirement). Raises ValueError."""
    values = list(values)
    if not isinstance(key, str) or not all(isinstance(v, str) for v in values):
        raise ValueError(
            f"label selector keys and values must be strings: {key!r} {list(values)!r}"
        )
    vals = sorted(set(values))
    key_errors = label_key_errors(key)
    errors = [_invalid("key", key, "; ".join(key_errors))] if key_errors else []
    if operator in (IN, NOT_IN):
        if not vals:
            errors.append(
                "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"
            )
    elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
        if len(vals) != 1:
            errors.append(
                f"values: Invalid value: {vals}: exact-match compatibility requires one single value"
            )
    elif operator in (EXISTS, DOES_NOT_EXIST):
        if vals:
            errors.append(
                f"values: Invalid value: {vals}: values set must be empty for exists and does not exist"
            )
    elif operator in (GREATER_THAN, LESS_THAN):
        if len(vals) != 1:
            errors.append(
                f"values: Invalid value: {vals}: for 'Gt', 'Lt' operators, exactly one value is required"
            )
        else:
            try:
                int(vals[0])
            except ValueError:
                errors.append(
                    f'values[0]: Invalid value: "{vals[0]}": '
                    "for 'Gt', 'Lt' operators, the value must be an integer"
                )
    else:
        errors.append(f'operator: Unsupported value: "{operator}"')
    if operator not in (GREATER_THAN, LESS_THAN):
        for i, v in enumerate(vals):
            value_errors = label_value_errors(v)
            if value_errors:
                errors.append(_invalid(f"values[{i}][{key}]", v, "; ".join(value_errors)))
    if errors:
        raise ValueError(errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")
    return Requirement(key, operator, tuple(vals), frozenset(vals))


# ---------------------------------------------------------------- selectors
@dataclass(frozen=True, slots=True)
class Selector:
    """A conjunction of requirements. Immutable and hashable."""

    requirements: tuple[Requirement, ...] = ()
    selects_nothing: bool = False  # labels.Nothing()

    @classmethod
    def everything(cls) -> Selector:
        return _EVERYTHING

    @classmethod
    def nothing(cls) -> Selector:
        return _NOTHING

    @property
    def empty(self) -> bool:
        """True when there are no requirements (labels.Selector.Empty()).

        Controllers that own pods (ReplicaSet, Deployment) must treat an empty selector
        as selecting nothing, whereas list filtering treats it as selecting everything.
        """
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.selects_nothing:
            return False
        if labels is None:
            labels = _NO_LABELS
        for r in self.requirements:
            if not r.matches(labels):
                return False
        return True

    def requires_exact_match(self, key: str) -> str | None:
        """The single value `key` must equal, if the selector pins one (for indexing)."""
        for r in self.requirements:
            if r.key == key and r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1:
                return r.values[0]
        return None

    def add(self, *requirements: Requirement) -> Selector:
        """A new selector with extra requirements, kept sorted by key."""
        reqs = sorted((*self.requirements, *requirements), key=lambda r: r.key)
        return Selector(tuple(reqs), self.selects_nothing)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


_NO_LABELS: Mapping[str, str] = {}
_EVERYTHING = Selector()
_NOTHING = Selector((), selects_nothing=True)


def selector_from_set(labels: Mapping[str, str] | None) -> Selector:
    """`key=value` for every entry (labels.SelectorFromValidatedSet); Service selectors.

    An empty or missing map gives a selector with no requirements (selects everything;
    a Service without a selector must be special-cased by its caller).
    """
    if not labels:
        return _EVERYTHING
    return Selector(tuple(make_requirement(k, EQUALS, [v]) for k, v in sorted(labels.items())))


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def selector_from_label_selector(ls: Any, *, none_selects_nothing: bool = False) -> Selector:
    """Convert a metav1.LabelSelector (dict or Struct with matchLabels/matchExpressions).

    None or an empty selector selects everything unless `none_selects_nothing` (Kubernetes'
    LabelSelectorAsSelector semantics for nil). Raises ValueError for a bad operator,
    key or value.
    """
    if ls is None:
        return _NOTHING if none_selects_nothing else _EVERYTHING
    reqs: list[Requirement] = []
    for k, v in (_get(ls, "matchLabels") or {}).items():
        reqs.append(make_requirement(k, EQUALS, [v]))
    for expr in _get(ls, "matchExpressions") or ():
        operator = _get(expr, "operator")
        op = _EXPRESSION_OPERATORS.get(operator)  # type: ignore[arg-type]
        if op is None:
            raise ValueError(f'"{operator}" is not a valid label selector operator')
        reqs.append(make_requirement(_get(expr, "key") or "", op, _get(expr, "values") or ()))
    if not reqs:
        return _EVERYTHING
    reqs.sort(key=lambda r: r.key)
    return Selector(tuple(reqs))


# ---------------------------------------------------------------- string parser
class _Tok(Enum):
    ID = "identifier"
    IN = "in"
    NOTIN = "notin"
    EQ = "="
    DEQ = "=="
    NEQ = "!="
    NOT = "!"
    GT = ">"
    LT = "<"
    OPEN = "("
    CLOSE = ")"
    COMMA = ","
    END = "end of string"
    ERROR = "error"


_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
_SYMBOLS = {
    "=": _Tok.EQ,
    "==": _Tok.DEQ,
    "!=": _Tok.NEQ,
    "!": _Tok.NOT,
    ">": _Tok.GT,
    "<": _Tok.LT,
    "(": _Tok.OPEN,
    ")": _Tok.CLOSE,
    ",": _Tok.COMMA,
}
_BINARY_OPS_TEXT = "in, notin, =, ==, !=, gt, lt"


def _lex(s: str) -> list[tuple[_Tok, str]]:
    """Tokenise like apimachinery's labels.Lexer (longest special-symbol match)."""
    out: list[tuple[_Tok, str]] = []
    i, n = 0, len(s)
    while True:
        while i < n and s[i] in _WHITESPACE:
            i += 1
        if i >= n:
            out.append((_Tok.END, ""))
            return out
        if s[i] in _SPECIAL:
            j, last = i, None
            while j < n and s[j] in _SPECIAL:
                tok = _SYMBOLS.get(s[i : j + 1])
                if tok is not None:
                    last = (tok, s[i : j + 1])
                elif last is not None:
                    break
                j += 1
            if last is None:
                out.append((_Tok.ERROR, f"error expected: keyword found '{s[i:j]}'"))
                out.append((_Tok.END, ""))
                return out
            out.append(last)
            i += len(last[1])
        else:
            j = i
            while j < n and s[j] not in _SPECIAL and s[j] not in _WHITESPACE:
                j += 1
            word = s[i:j]
            out.append(({"in": _Tok.IN, "notin": _Tok.NOTIN}.get(word, _Tok.ID), word))
            i = j


class _Parser:
    def __init__(self, s: str) -> None:
        self.items = _lex(s)
        self.pos = 0

    @staticmethod
    def _as_value(item: tuple[_Tok, str]) -> tuple[_Tok, str]:
        # In value context the keywords "in"/"notin" are ordinary identifiers.
        return (_Tok.ID, item[1]) if item[0] in (_Tok.IN, _Tok.NOTIN) else item

    def lookahead(self) -> tuple[_Tok, str]:
        return self._as_value(self.items[self.pos])

    def consume(self, keywords: bool = False) -> tuple[_Tok, str]:
        item = self.items[self.pos]
        if self.pos < len(self.items) - 1:
            self.pos += 1
        return item if keywords else self._as_value(item)

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.lookahead()
            if tok in (_Tok.ID, _Tok.NOT):
                try:
                    reqs.append(self.requirement())
                except ValueError as e:
                    raise ValueError(f"unable to parse requirement: {e}") from None
                t, lt = self.consume()
                if t == _Tok.END:
                    return reqs
                if t == _Tok.COMMA:
                    t2, l2 = self.lookahead()
                    if t2 not in (_Tok.ID, _Tok.NOT):
                        raise ValueError(f"found '{l2}', expected: identifier after ','")
                    continue
                raise ValueError(f"found '{lt}', expected: ',' or 'end of string'")
            if tok == _Tok.END:
                return reqs
            raise ValueError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def requirement(self) -> Requirement:
        tok, key = self.consume()
        negated = tok == _Tok.NOT
        if negated:
            tok, key = self.consume()
        if tok != _Tok.ID:
            raise ValueError(f"found '{key}', expected: identifier")
        key_errors = label_key_errors(key)
        if key_errors:
            raise ValueError(_invalid("key", key, "; ".join(key_errors)))
        if self.lookahead()[0] in (_Tok.END, _Tok.COMMA):
            return make_requirement(key, DOES_NOT_EXIST if negated else EXISTS)
        if negated:
            return make_requirement(key, DOES_NOT_EXIST)  # "!a b": rejected by the caller
        tok, lit = self.consume(keywords=True)
        op = {
            _Tok.IN: IN,
            _Tok.NOTIN: NOT_IN,
            _Tok.EQ: EQUALS,
            _Tok.DEQ: DOUBLE_EQUALS,
            _Tok.NEQ: NOT_EQUALS,
            _Tok.GT: GREATER_THAN,
            _Tok.LT: LESS_THAN,
        }.get(tok)
        if op is None:
            raise ValueError(f"found '{lit}', expected: {_BINARY_OPS_TEXT}")
        values = self.value_set() if op in (IN, NOT_IN) else self.exact_value()
        return make_requirement(key, op, values)

    def value_set(self) -> set[str]:
        tok, lit = self.consume()
        if tok != _Tok.OPEN:
            raise ValueError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok == _Tok.CLOSE:  # "()" means the empty string
            self.consume()
            return {""}
        if tok not in (_Tok.ID, _Tok.COMMA):
            raise ValueError(f"found '{lit}', expected: ',', ')' or identifier")
        values: set[str] = set()
        while True:
            tok, lit = self.consume()
            if tok == _Tok.ID:
                values.add(lit)
                t2, l2 = self.lookahead()
                if t2 == _Tok.COMMA:
                    continue
                if t2 == _Tok.CLOSE:
                    break
                raise ValueError(f"found '{l2}', expected: ',' or ')'")
            if tok == _Tok.COMMA:  # "(,", ",)" and ",," stand for empty strings
                if not values:
                    values.add("")
                t2, _ = self.lookahead()
                if t2 == _Tok.CLOSE:
                    values.add("")
                    break
                if t2 == _Tok.COMMA:
                    self.consume()
                    values.add("")
                continue
            raise ValueError(f"found '{lit}', expected: ',', or identifier")
        tok, lit = self.consume()
        if tok != _Tok.CLOSE:
            raise ValueError(f"found '{lit}', expected: ')'")
        return values

    def exact_value(self) -> list[str]:
        tok, _ = self.lookahead()
        if tok in (_Tok.END, _Tok.COMMA):  # "a=" means a equals ""
            return [""]
        tok, lit = self.consume()
        if tok == _Tok.ID:
            return [lit]
        raise ValueError(f"found '{lit}', expected: identifier")


def parse_selector(s: str) -> Selector:
    """Parse the label selector string syntax (labels.Parse). Raises ValueError.

    An empty (or all-whitespace) string selects everything.
    """
    reqs = _Parser(s).parse()
    if not reqs:
        return _EVERYTHING
    reqs.sort(key=lambda r: r.key)
    return Selector(tuple(reqs))
