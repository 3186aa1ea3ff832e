"""Failures of a use case, each with the HTTP status an adapter should answer with."""

from __future__ import annotations

BAD_BODY = "request body must be a JSON object"


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


class DatabaseUnavailable(ServiceError):
    """The database is away or locked: nothing is wrong with the request, and a retry will do."""

    status = 503
    error = "database_unavailable"

    def __init__(self, message: str = "") -> None:
        super().__init__(message or DATABASE_UNAVAILABLE_MESSAGE)
        self.retry_after = DATABASE_RETRY_AFTER_SECONDS


# What a client is told (with HTTP 503 and Retry-After): no driver text, which may name hosts or users.
DATABASE_UNAVAILABLE_MESSAGE = "The gateway's database is unavailable right now; retry in a few seconds."
DATABASE_RETRY_AFTER_SECONDS = 2


def unavailable_reason(exc: BaseException) -> str:
    """What the log says of a database failure: the driver's error class and code (SQLite's extended code
    name, PostgreSQL's SQLSTATE), which tell a lock from an I/O error; never the message, which may name
    hosts or users."""
    orig = getattr(exc, "orig", None) or exc
    code = getattr(orig, "sqlite_errorname", None) or getattr(orig, "pgcode", None)
    return f"{type(orig).__name__} {code}" if code else type(orig).__name__


def database_unavailable(exc: BaseException) -> bool:
    """The database is away or locked (retry later), as opposed to refusing a statement (it never will)."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, DatabaseUnavailable | OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)
