"""Query parameters of list/watch/write calls, parsed once into a typed value."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import msgspec

from kubelite import errors
from kubelite.errors import APIError, bad_request


@dataclass(frozen=True, slots=True)
class ListOptions:
    label_selector: str = ""
    field_selector: str = ""
    limit: int = 0
    continue_token: str = ""
    resource_version: str = ""
    resource_version_match: str = ""
    timeout_seconds: int = 0
    allow_bookmarks: bool = False
    send_initial_events: bool = False


def exact_revision_asked(opts: ListOptions) -> bool:
    """Whether a LIST asks for exactly its resourceVersion: `resourceVersionMatch=Exact`, or
    the legacy form, a limit with a resourceVersion other than 0 and no match (Kubernetes' API
    concepts, "semantics for get and list"). Example: limit=500&resourceVersion=900 reads at
    900; resourceVersion=900 alone means "not older than 900"."""
    if not opts.resource_version:
        return False
    if opts.resource_version_match == "Exact":
        return True
    return bool(opts.limit) and not opts.resource_version_match and opts.resource_version != "0"


def check_list_options(opts: ListOptions) -> None:
    """The 422 Kubernetes' ValidateListOptions gives a LIST whose resourceVersionMatch cannot
    be honoured. Example: resourceVersionMatch=Exact&resourceVersion=0 -> 422, field
    resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for
    resourceVersion "0"."""
    match, problems = opts.resource_version_match, []
    if match and not opts.resource_version:
        problems.append(errors.forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden unless resourceVersion is provided"))
    if match and opts.continue_token:
        problems.append(errors.forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided"))
    if match not in ("", "Exact", "NotOlderThan"):
        problems.append(errors.not_supported("resourceVersionMatch", match, ["Exact", "NotOlderThan", ""]))
    if match == "Exact" and opts.resource_version == "0":
        problems.append(errors.forbidden("resourceVersionMatch", 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'))
    if problems:
        raise errors.invalid_object("ListOptions", "", problems, "meta.k8s.io")


def _int(query: dict[str, str], key: str) -> int:
    raw = query.get(key, "")
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"invalid value for {key}: {raw!r} is not an integer") from None
    if value < 0:
        raise bad_request(f"invalid value for {key}: must be non-negative")
    return value


def list_options(query: dict[str, str]) -> ListOptions:
    return ListOptions(
        label_selector=query.get("labelSelector", ""),
        field_selector=query.get("fieldSelector", ""),
        limit=_int(query, "limit"),
        continue_token=query.get("continue", ""),
        resource_version=query.get("resourceVersion", ""),
        resource_version_match=query.get("resourceVersionMatch", ""),
        timeout_seconds=_int(query, "timeoutSeconds"),
        allow_bookmarks=query.get("allowWatchBookmarks") in ("true", "1"),
        send_initial_events=query.get("sendInitialEvents") in ("true", "1"),
    )


def dry_run(query: dict[str, str]) -> bool:
    value = query.get("dryRun", "")
    if value and value != "All":
        raise bad_request(f'Invalid dry run value: "{value}" (supported: "All")')
    return value == "All"


def dry_run_option(options: dict | None) -> bool:
    """`dryRun` inside a DeleteOptions body (["All"]), where kubectl delete puts it."""
    value = (options or {}).get("dryRun") or []
    if not isinstance(value, list) or any(v != "All" for v in value):
        raise bad_request(f'Invalid dry run value: {value!r} (supported: ["All"])')
    return value == ["All"]


def force(query: dict[str, str]) -> bool:
    value = query.get("force", "")
    if value not in ("", "true", "false", "1", "0", "True", "False"):
        raise bad_request(f'invalid value for force: "{value}"')
    return value in ("true", "1", "True")


def grace_period(query: dict[str, str], body: dict | None) -> int | None:
    if "gracePeriodSeconds" in query:
        return _int(query, "gracePeriodSeconds")
    if body and body.get("gracePeriodSeconds") is not None:
        return int(body["gracePeriodSeconds"])
    return None


PROPAGATION_POLICIES = ("Orphan", "Background", "Foreground")


def propagation_policy(query: dict[str, str], body: dict | None) -> str:
    value = query.get("propagationPolicy") or (body or {}).get("propagationPolicy") or ""
    if not value and body and body.get("orphanDependents") is True:
        value = "Orphan"
    if value and value not in PROPAGATION_POLICIES:
        raise APIError(
            422, "Invalid",
            f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: '
            f'"{value}": supported values: "Foreground", "Background", "Orphan"',
        )
    return value


class ContinueToken(msgspec.Struct):
    """Opaque to clients: where the next page starts and the revision all pages read at."""

    rv: int
    start: str  # last key returned


def encode_continue(rv: int, last_key: str) -> str:
    raw = msgspec.json.encode(ContinueToken(rv, last_key))
    return base64.urlsafe_b64encode(raw).decode()


def decode_continue(token: str) -> ContinueToken:
    try:
        return msgspec.json.decode(base64.urlsafe_b64decode(token.encode()), type=ContinueToken)
    except Exception:
        raise bad_request("continue key is not valid: invalid token") from None
