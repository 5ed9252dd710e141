"""Kubernetes API errors as the real API server words them (Status objects). Pure.

kubectl turns a Status into ``Error from server (<reason>): <message>``; for 422 it prints
``The <Kind> "<name>" is invalid: ...``. So reason, code and message wording matter.
"""

from __future__ import annotations

from typing import Any

from island_ssh.core.errors import IslandError


class ApiError(IslandError):
    """An API request failed; ``status()`` is the body the real API server would send."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                "status": "Failure", "message": self.message, "reason": self.reason,
                                "code": self.code}
        if self.details is not None:
            body["details"] = self.details
        return body


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    what = f"{resource}.{group}" if group else resource
    return ApiError(404, "NotFound", f'{what} "{name}" not found', {"name": name, "kind": resource})


def already_exists(resource: str, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{resource} "{name}" already exists',
                    {"name": name, "kind": resource})


def conflict(resource: str, name: str) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {resource} "{name}": the object '
                    "has been modified; please apply your changes to the latest version and try again",
                    {"name": name, "kind": resource})


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - '
                    f'accepted media types include: application/json-patch+json, '
                    f'application/merge-patch+json, application/strategic-merge-patch+json '
                    f'(got "{content_type}")')


def method_not_allowed(what: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", f"the server does not allow this method on the requested "
                    f"resource ({what})")


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


class FieldError:
    """One validation failure, worded like k8s.io/apimachinery's field.Error."""

    def __init__(self, field: str, kind: str, value: Any = None, detail: str = "") -> None:
        self.field, self.kind, self.value, self.detail = field, kind, value, detail

    _REASONS = {"Required value": "FieldValueRequired", "Invalid value": "FieldValueInvalid",
                "Duplicate value": "FieldValueDuplicate", "Forbidden": "FieldValueForbidden",
                "Unsupported value": "FieldValueNotSupported", "Too long": "FieldValueTooLong"}

    def text(self) -> str:
        if self.kind == "Required value":
            return f"{self.field}: Required value" + (f": {self.detail}" if self.detail else "")
        if self.kind in ("Forbidden", "Too long"):
            return f"{self.field}: {self.kind}: {self.detail}"
        shown = f'"{self.value}"' if isinstance(self.value, str) else str(self.value)
        return f"{self.field}: {self.kind}: {shown}" + (f": {self.detail}" if self.detail else "")

    def cause(self) -> dict[str, str]:
        message = self.text()[len(self.field) + 2:]
        return {"reason": self._REASONS.get(self.kind, "FieldValueInvalid"), "message": message,
                "field": self.field}


def invalid(kind: str, name: str, errors: list[FieldError]) -> ApiError:
    texts = [e.text() for e in errors]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {joined}',
                    {"name": name, "kind": kind, "causes": [e.cause() for e in errors]})
