"""Failures of a use case, each with the HTTP status an adapter should answer with."""
from __future__ import annotations


class ServiceError(Exception):
    status = 400
    error = "bad_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field  # the input the message is about, when there is one (forms show it there)


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
