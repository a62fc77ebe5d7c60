"""Errors as the API answers them: one ``Problem`` shape (RFC 9457 style) for every route.

A route raises ``ApiError`` for anything the caller can fix or must know (bad parameter, forbidden, not
found); the framework turns it into ``application/problem+json``. Any other exception is a fault of
ours: it is logged with the request id and answered 500 without a word of detail, so no stack trace or
internal name ever reaches a caller.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

# Problem types are URNs: they identify the kind without pointing at a web page that does not exist.
_TYPE_PREFIX = "urn:dmc:problem:"
TITLES = {
    400: "Bad request",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Payload too large",
    500: "Internal error",
    504: "Query timeout",
}


class ApiError(Exception):
    """A problem the caller is told about: status, a slug naming its kind, what is wrong and how to fix it."""

    def __init__(
        self, status: int, kind: str, detail: str, *, field: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.field = field
        self.headers = headers or {}

    def problem(self, request_id: str) -> dict[str, Any]:
        """The ``Problem`` body of this error."""
        return problem(self.status, self.kind, self.detail, field=self.field, request_id=request_id)


def problem(
    status: int, kind: str, detail: str | None = None, *, field: str | None = None, request_id: str = ""
) -> dict[str, Any]:
    """A ``Problem`` object; ``detail`` and ``field`` only when there is something to say."""
    title = TITLES.get(status) or HTTPStatus(status).phrase
    body: dict[str, Any] = {"type": _TYPE_PREFIX + kind, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if field:
        body["field"] = field
    if request_id:
        body["requestId"] = request_id
    return body


def bad_parameter(field: str, detail: str) -> ApiError:
    """400 naming the parameter or body field at fault."""
    return ApiError(400, "bad-parameter", detail, field=field)


def not_found(detail: str, *, field: str | None = None) -> ApiError:
    """404: the thing the path names does not exist (in this site)."""
    return ApiError(404, "not-found", detail, field=field)
