"""One JSON error shape, {"error": ..., "message": ...}, for everything that is not a page."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, jsonify
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def error_response(status: int, error: str, message: str):
    response = jsonify(error=error, message=message)
    response.status_code = status
    return response


def init_app(
    app: Flask,
    *,
    unavailable: Callable[[BaseException], bool],
    reason: Callable[[BaseException], str],
    message: str,
    retry_after: int,
) -> None:
    """`unavailable`: whether an error means the database is away or locked (janus.services.errors):
    answered 503 with Retry-After and `message`, never 500, since the request itself was fine; `reason` is
    what the log says of it."""

    def _database_unavailable(exc: BaseException):
        # The error's class and code only: a driver's message may name the database host or user.
        log.warning("answered 503: the database is unavailable (%s)", reason(exc))
        response = error_response(503, "database_unavailable", message)
        response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(DBAPIError)
    def _database_error(exc: DBAPIError):
        return _database_unavailable(exc) if unavailable(exc) else _unhandled(exc)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        response = error_response(
            exc.code or 500, (exc.name or "error").lower().replace(" ", "_"), exc.description or ""
        )
        for header in ("Allow", "WWW-Authenticate"):
            if exc.get_response().headers.get(header):
                response.headers[header] = exc.get_response().headers[header]
        return response

    @app.errorhandler(Exception)
    def _unhandled(exc: Exception):
        if unavailable(exc):  # e.g. the session store's DatabaseUnavailable on a blueprint without its own handler
            return _database_unavailable(exc)
        log.error("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "An internal error occurred; see the gateway log.")
