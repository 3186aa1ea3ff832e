"""Failures of a use case, each with the HTTP status an adapter should answer with."""

from __future__ import annotations


class ServiceError(Exception):
    status = 400
    error = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field  # the input the message is about, when there is one (forms show it there)
        # Every refused input with its message, when several were checked at once (a whole form).
        self.fields = fields or ({field: message} if field else {})


class ValidationError(ServiceError):
    status = 400
    error = "validation_error"


class NotFound(ServiceError):
    status = 404
    error = "not_found"


class Conflict(ServiceError):
    status = 409
    error = "conflict"


class Forbidden(ServiceError):
    status = 403
    error = "forbidden"
