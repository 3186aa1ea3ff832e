"""Failures of a use case, each with the HTTP status an adapter should answer with."""
from __future__ import annotations


class ServiceError(Exception):
    status = 400
    error = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
