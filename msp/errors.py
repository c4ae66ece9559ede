"""Named exceptions of the application and their one error shape (RFC 9457 problem details)."""

from __future__ import annotations

from typing import Any


class ConfigError(RuntimeError):
    """The configuration is missing or invalid; the process refuses to start."""


class AppError(Exception):
    """An error a client caused or may see; rendered as ``application/problem+json``."""

    status = 500
    title = "Internal Server Error"

    def __init__(self, detail: str | None = None, *, errors: Any = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors

    def to_problem(self) -> dict[str, Any]:
        problem: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors is not None:
            problem["errors"] = self.errors
        return problem


class BadRequest(AppError):
    status = 400
    title = "Bad Request"


class Unauthorized(AppError):
    status = 401
    title = "Unauthorized"


class Forbidden(AppError):
    status = 403
    title = "Forbidden"


class NotFound(AppError):
    status = 404
    title = "Not Found"


class Conflict(AppError):
    status = 409
    title = "Conflict"


class PayloadTooLarge(AppError):
    status = 413
    title = "Payload Too Large"


class ValidationFailed(AppError):
    status = 422
    title = "Unprocessable Entity"


class TooManyRequests(AppError):
    status = 429
    title = "Too Many Requests"


def problem(status: int, title: str, detail: str, errors: Any = None) -> dict[str, Any]:
    """A problem-details body for errors raised outside AppError (Werkzeug, webargs)."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return body
