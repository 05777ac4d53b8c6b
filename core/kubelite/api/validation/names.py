"""Name, label and identifier rules, plus ObjectMeta validation.

The rules and their messages follow k8s.io/apimachinery/pkg/util/validation
(`IsDNS1123Label`, `IsQualifiedName`, ...) and pkg/api/validation/objectmeta.go,
so a client sees the same text Kubernetes would print. Each `is_*` function
returns the list of reasons the value is not valid (empty when it is).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

from kubelite.api.labels import label_key_errors, label_value_errors
from kubelite.errors import FieldError, forbidden, invalid, required

# name_fn(value, prefix) -> reasons; prefix=True when validating generateName.
NameFn = Callable[[str, bool], list[str]]

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
DNS1035_LABEL_MAX = 63
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
FIELD_IMMUTABLE = "field is immutable"
IS_NEGATIVE = "must be greater than or equal to 0"


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """apimachinery's RegexError, including its double space before " or "."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    text = msg + " (e.g. "
    for i, example in enumerate(examples):
        if i:
            text += " or "
        text += f"'{example}', "
    return text + f"regex used for validation is '{fmt}')"


def inclusive_range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + r"(\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character"
)
_C_IDENTIFIER_FMT = "[A-Za-z_][A-Za-z0-9_]*"
_C_IDENTIFIER_MSG = (
    "a valid C identifier must start with alphabetic character or '_', followed by a string of "
    "alphanumeric characters or '_'"
)
_ENV_VAR_NAME_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"
_ENV_VAR_NAME_MSG = (
    "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', "
    "or '.', and must not start with a digit"
)
_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIG_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
_PERCENT_FMT = "[0-9]+%"
_PERCENT_MSG = "a valid percent string must be a numeric string followed by an ending '%'"

_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL_RE = re.compile(_DNS1035_LABEL_FMT)
_C_IDENTIFIER_RE = re.compile(_C_IDENTIFIER_FMT)
_ENV_VAR_NAME_RE = re.compile(_ENV_VAR_NAME_FMT)
_CONFIG_KEY_RE = re.compile(_CONFIG_KEY_FMT)
_PERCENT_RE = re.compile(_PERCENT_FMT)
_PORT_NAME_CHARSET_RE = re.compile("[-a-z0-9]+")
_ONE_LETTER_RE = re.compile("[a-z]")


def is_dns1123_label(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1123_LABEL_MAX:
        errs.append(max_len_error(DNS1123_LABEL_MAX))
    if not _DNS1123_LABEL_RE.fullmatch(value):
        if _DNS1123_SUBDOMAIN_RE.fullmatch(value):
            # A valid subdomain that is not a label: length was checked, so it has dots.
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1035_LABEL_MAX:
        errs.append(max_len_error(DNS1035_LABEL_MAX))
    if not _DNS1035_LABEL_RE.fullmatch(value):
        errs.append(regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    """Label keys, annotation keys (lower-cased first), finalizers, taint keys."""
    return label_key_errors(value)


def is_valid_label_value(value: str) -> list[str]:
    return label_value_errors(value)


def is_c_identifier(value: str) -> list[str]:
    if _C_IDENTIFIER_RE.fullmatch(value):
        return []
    return [regex_error(_C_IDENTIFIER_MSG, _C_IDENTIFIER_FMT, "my_name", "MY_NAME", "MyName")]


def _chdir_prefix(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


def is_env_var_name(value: str) -> list[str]:
    errs = []
    if not _ENV_VAR_NAME_RE.fullmatch(value):
        errs.append(
            regex_error(_ENV_VAR_NAME_MSG, _ENV_VAR_NAME_FMT, "my.env-name", "MY_ENV.NAME", "MyEnvName1")
        )
    return errs + _chdir_prefix(value)


def is_config_map_key(value: str) -> list[str]:
    """Keys of ConfigMap/Secret data and binaryData."""
    errs = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX))
    if not _CONFIG_KEY_RE.fullmatch(value):
        errs.append(regex_error(_CONFIG_KEY_MSG, _CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    return errs + _chdir_prefix(value)


def is_valid_port_num(port: int) -> list[str]:
    if isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535:
        return []
    return [inclusive_range_error(1, 65535)]


def is_valid_port_name(port: str) -> list[str]:
    """IANA_SVC_NAME (RFC 6335), lower case only."""
    errs = []
    if len(port) > 15:
        errs.append(max_len_error(15))
    if not _PORT_NAME_CHARSET_RE.fullmatch(port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _ONE_LETTER_RE.search(port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_valid_percent(value: str) -> list[str]:
    if _PERCENT_RE.fullmatch(value):
        return []
    return [regex_error(_PERCENT_MSG, _PERCENT_FMT, "1%", "93%")]


def is_valid_ip(value: str) -> list[str]:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]
    return []


def is_valid_cidr(value: str) -> list[str]:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"]
    return []


# -- name functions: which rule a kind's metadata.name follows ----------------


def _mask_trailing_dash(name: str) -> str:
    # generateName gets random characters appended, so a trailing '-' is fine there.
    if len(name) > 1 and name.endswith("-"):
        return name[:-1] + "a"
    return name


def name_is_dns_subdomain(name: str, prefix: bool = False) -> list[str]:
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool = False) -> list[str]:
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool = False) -> list[str]:
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)


# -- FieldError helpers ------------------------------------------------------


def each_invalid(path: str, value: Any, msgs: list[str]) -> list[FieldError]:
    return [invalid(path, value, m) for m in msgs]


def validate_nonnegative(value: int | None, path: str) -> list[FieldError]:
    if value is not None and value < 0:
        return [invalid(path, value, IS_NEGATIVE)]
    return []


def validate_labels(labels: Mapping[str, str] | None, path: str) -> list[FieldError]:
    """Label keys must be qualified names and values valid label values (v1validation)."""
    errs: list[FieldError] = []
    for key, value in (labels or {}).items():
        errs += each_invalid(path, key, is_qualified_name(key))
        errs += each_invalid(path, value, is_valid_label_value(value))
    return errs


def validate_label_name(key: str | None, path: str) -> list[FieldError]:
    return each_invalid(path, key or "", is_qualified_name(key or ""))


def validate_annotations(annotations: Mapping[str, str] | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    total = 0
    for key, value in (annotations or {}).items():
        # The rule is QualifiedName, except that case does not matter.
        errs += each_invalid(path, key, is_qualified_name(key.lower()))
        total += len(key) + len(value)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(
            FieldError(
                "TooLong", path, f"may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT} bytes", ""
            )
        )
    return errs


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def validate_owner_references(refs: list[Any] | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    first_controller = ""
    for ref in refs or ():
        api_version = _get(ref, "apiVersion") or ""
        kind = _get(ref, "kind") or ""
        version = api_version.rpartition("/")[2]
        if not version:
            errs.append(invalid(f"{path}.apiVersion", api_version, "version must not be empty"))
        if not kind:
            errs.append(invalid(f"{path}.kind", kind, "must not be empty"))
        if not _get(ref, "name"):
            errs.append(invalid(f"{path}.name", _get(ref, "name") or "", "must not be empty"))
        if not _get(ref, "uid"):
            errs.append(invalid(f"{path}.uid", _get(ref, "uid") or "", "must not be empty"))
        if api_version == "v1" and kind == "Event":
            errs.append(invalid(path, ref, "/v1, Kind=Event is disallowed from being an owner"))
        if _get(ref, "controller"):
            current = f"{kind}/{_get(ref, 'name') or ''}"
            if first_controller:
                errs.append(
                    invalid(
                        path,
                        refs,
                        "Only one reference can have Controller set to true. Found \"true\" in "
                        f"references for {first_controller} and {current}",
                    )
                )
            else:
                first_controller = current
    return errs


ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"


def validate_finalizers(finalizers: list[str] | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for name in finalizers or ():
        errs += each_invalid(path, name, is_qualified_name(name))
    if finalizers and ORPHAN_FINALIZER in finalizers and FOREGROUND_FINALIZER in finalizers:
        errs.append(
            invalid(
                path,
                finalizers,
                f"finalizer {ORPHAN_FINALIZER} and {FOREGROUND_FINALIZER} cannot be both set",
            )
        )
    return errs


def validate_object_meta(
    meta: Any,
    *,
    namespaced: bool,
    name_fn: NameFn = name_is_dns_subdomain,
    path: str = "metadata",
) -> list[FieldError]:
    """ValidateObjectMeta: name/generateName, namespace, labels, annotations, owners, finalizers.

    A missing `name` is accepted when `generateName` is set (the apiserver
    generates the name); `generateName` itself must satisfy the kind's rule
    with a trailing '-' allowed.
    """
    errs: list[FieldError] = []
    name = _get(meta, "name") or ""
    generate_name = _get(meta, "generateName") or ""
    if generate_name:
        errs += each_invalid(f"{path}.generateName", generate_name, name_fn(generate_name, True))
    if name:
        errs += each_invalid(f"{path}.name", name, name_fn(name, False))
    elif not generate_name:
        errs.append(required(f"{path}.name", "name or generateName is required"))

    namespace = _get(meta, "namespace") or ""
    if namespaced:
        if not namespace:
            errs.append(required(f"{path}.namespace"))
        else:
            errs += each_invalid(f"{path}.namespace", namespace, name_is_dns_label(namespace))
    elif namespace:
        errs.append(forbidden(f"{path}.namespace", "not allowed on this type"))

    errs += validate_nonnegative(_get(meta, "generation"), f"{path}.generation")
    errs += validate_labels(_get(meta, "labels"), f"{path}.labels")
    errs += validate_annotations(_get(meta, "annotations"), f"{path}.annotations")
    errs += validate_owner_references(_get(meta, "ownerReferences"), f"{path}.ownerReferences")
    errs += validate_finalizers(_get(meta, "finalizers"), f"{path}.finalizers")
    return errs


def validate_immutable(new: Any, old: Any, path: str) -> list[FieldError]:
    if new != old:
        return [invalid(path, new, FIELD_IMMUTABLE)]
    return []


def validate_object_meta_update(new: Any, old: Any, path: str = "metadata") -> list[FieldError]:
    """ValidateObjectMetaUpdate: identity fields immutable, the rest re-validated.

    generateName is ignored. An empty uid or creationTimestamp in `new` counts as
    unchanged: Kubernetes copies them from the stored object before validating
    (rest.BeforeUpdate), and the apiserver is expected to do the same.
    """
    errs: list[FieldError] = []
    old_finalizers = set(_get(old, "finalizers") or ())
    if _get(old, "deletionTimestamp"):
        added = sorted(set(_get(new, "finalizers") or ()) - old_finalizers)
        if added:
            listed = "[]string{" + ", ".join(f'"{f}"' for f in added) + "}"
            errs.append(
                forbidden(
                    f"{path}.finalizers",
                    "no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers {listed}",
                )
            )
    new_gen, old_gen = _get(new, "generation"), _get(old, "generation")
    if new_gen is not None and old_gen is not None and new_gen < old_gen:
        errs.append(invalid(f"{path}.generation", new_gen, "must not be decremented"))

    errs += validate_immutable(_get(new, "name") or "", _get(old, "name") or "", f"{path}.name")
    errs += validate_immutable(
        _get(new, "namespace") or "", _get(old, "namespace") or "", f"{path}.namespace"
    )
    for field in ("uid", "creationTimestamp"):
        new_value = _get(new, field)
        if new_value:
            errs += validate_immutable(new_value, _get(old, field), f"{path}.{field}")

    errs += validate_labels(_get(new, "labels"), f"{path}.labels")
    errs += validate_annotations(_get(new, "annotations"), f"{path}.annotations")
    errs += validate_owner_references(_get(new, "ownerReferences"), f"{path}.ownerReferences")
    errs += validate_finalizers(_get(new, "finalizers"), f"{path}.finalizers")
    return errs
