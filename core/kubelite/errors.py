"""API errors as Kubernetes reports them: a `Status` object with an HTTP code.

Every layer raises `APIError`; the HTTP and NATS front ends turn it into the
same `Status` body, so both transports answer identically.
"""

from __future__ import annotations

import msgspec

from kubelite.api.meta import Status, StatusCause, StatusDetails


class FieldError(msgspec.Struct, frozen=True):
    """One invalid field, shaped like k8s.io/apimachinery/pkg/util/validation/field.Error."""

    type: str  # Required | Invalid | NotSupported | Duplicate | Forbidden | TooLong | TooMany
    field: str  # path such as "spec.containers[0].name"
    detail: str = ""
    value: object = None
    show_value: bool = True

    @property
    def reason(self) -> str:
        return "FieldValue" + self.type

    def message(self) -> str:
        text = {
            "Required": "Required value",
            "Invalid": "Invalid value",
            "NotSupported": "Unsupported value",
            "Duplicate": "Duplicate value",
            "Forbidden": "Forbidden",
            "NotFound": "Not found",
            "TooLong": "Too long",
            "TooMany": "Too many",
        }.get(self.type, self.type)
        if self.type in ("Invalid", "NotSupported", "Duplicate", "NotFound") and self.show_value:
            text += ": " + _render_value(self.value)
        if self.detail:
            text += ": " + self.detail
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.message()}"


def _render_value(value: object) -> str:
    if isinstance(value, str):
        return msgspec.json.encode(value).decode()
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def required(field: str, detail: str = "") -> FieldError:
    return FieldError("Required", field, detail)


def invalid(field: str, value: object, detail: str = "") -> FieldError:
    return FieldError("Invalid", field, detail, value)


def not_supported(field: str, value: object, allowed: list[str]) -> FieldError:
    quoted = ", ".join(f'"{a}"' for a in allowed)
    return FieldError("NotSupported", field, f"supported values: {quoted}", value)


def duplicate(field: str, value: object) -> FieldError:
    return FieldError("Duplicate", field, "", value)


def forbidden(field: str, detail: str) -> FieldError:
    return FieldError("Forbidden", field, detail)


def field_not_found(field: str, value: object) -> FieldError:
    """field.NotFound: a reference to something that does not exist (e.g. a volume name)."""
    return FieldError("NotFound", field, "", value)


class APIError(Exception):
    """An error with a Kubernetes Status: code, reason, message, details."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: StatusDetails | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def to_status(self) -> Status:
        return Status(
            apiVersion="v1",
            kind="Status",
            status="Failure",
            message=self.message,
            reason=self.reason,
            details=self.details,
            code=self.code,
        )

    @classmethod
    def from_status(cls, status: Status) -> APIError:
        return cls(status.code or 500, status.reason or "", status.message or "", status.details)

    def __repr__(self) -> str:
        return f"APIError({self.code}, {self.reason!r}, {self.message!r})"


# Constructors, one per Kubernetes StatusReason this project uses. `resource` is
# the group-qualified plural ("pods", "deployments.apps"), as Kubernetes prints it.


def _split(resource: str) -> tuple[str, str]:
    plural, _, group = resource.partition(".")
    return plural, group


def _about(code: int, reason: str, resource: str, name: str, message: str) -> APIError:
    """An error about one named object: details name it as Kubernetes does (kind = plural)."""
    plural, group = _split(resource)
    return APIError(code, reason, message, StatusDetails(name=name, group=group or None, kind=plural))


def not_found(resource: str, name: str) -> APIError:
    return _about(404, "NotFound", resource, name, f'{resource} "{name}" not found')


def already_exists(resource: str, name: str) -> APIError:
    return _about(409, "AlreadyExists", resource, name, f'{resource} "{name}" already exists')


def conflict(resource: str, name: str, why: str | None = None) -> APIError:
    why = why or (
        "the object has been modified; please apply your changes to the latest version and try again"
    )
    return _about(409, "Conflict", resource, name, f'Operation cannot be fulfilled on {resource} "{name}": {why}')


def invalid_object(kind: str, name: str, errors: list[FieldError], group: str = "") -> APIError:
    """422 Invalid listing every failing field, as Kubernetes' NewInvalid does."""
    if len(errors) == 1:
        summary = str(errors[0])
    else:
        summary = "[" + ", ".join(str(e) for e in errors) + "]"
    causes = [StatusCause(reason=e.reason, message=e.message(), field=e.field) for e in errors]
    return APIError(
        422,
        "Invalid",
        f'{kind} "{name}" is invalid: {summary}',
        StatusDetails(name=name, group=group or None, kind=kind, causes=causes),
    )


def no_such_resource() -> APIError:
    """A path that names no served resource: Kubernetes' generic 404, with an empty `details`
    (clients such as kubectl debug read it and crash on a missing one)."""
    return APIError(404, "NotFound", "the server could not find the requested resource", StatusDetails())


def bad_request(message: str) -> APIError:
    return APIError(400, "BadRequest", message)


def expired(message: str) -> APIError:
    """410: a watch or list asked for a revision etcd has compacted away."""
    return APIError(410, "Expired", message)


def gone(message: str) -> APIError:
    return APIError(410, "Gone", message)


def unsupported_media_type(content_type: str) -> APIError:
    return APIError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {content_type!r})")


def method_not_allowed(message: str) -> APIError:
    return APIError(405, "MethodNotAllowed", message)


def forbidden_error(resource: str, name: str, why: str) -> APIError:
    plural, group = _split(resource)
    return APIError(
        403,
        "Forbidden",
        f'{resource} "{name}" is forbidden: {why}',
        StatusDetails(name=name, group=group or None, kind=plural),
    )


def internal(message: str) -> APIError:
    return APIError(500, "InternalError", f"Internal error occurred: {message}")


def timeout(message: str) -> APIError:
    return APIError(504, "Timeout", message)


def service_unavailable(message: str) -> APIError:
    return APIError(503, "ServiceUnavailable", message)
