"""What every admin API view shares: the JSON body, the acting user, the one error shape."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request

from janus.admin_api.blueprint import bp
from janus.services.errors import BAD_BODY, ServiceError


def json_body() -> dict[str, Any]:
    """The request's JSON object; anything else (missing, malformed, an array, a string…) is a 400."""
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # absurdly nested JSON: malformed for our purposes
        data = None
    if not isinstance(data, dict):
        raise ServiceError(BAD_BODY)  # 400 bad_request
    return data


LIST_PARAMS = ("q", "sort", "page", "cursor", "limit")


def list_args(*filters: str) -> dict[str, str]:
    """The list parameters the caller sent (`q`, `sort`, `page`, `cursor`, `limit` and these filters); the
    service owns the defaults and the checks."""
    return {name: request.args[name] for name in (*LIST_PARAMS, *filters) if name in request.args}


def actor() -> str:
    """The signed-in user's name, recorded by the services as the actor of a change."""
    return g.user["username"]


def created(body: dict[str, Any], location: str | None = None) -> Response:
    response = jsonify(body)
    response.status_code = 201
    if location:
        response.headers["Location"] = location
    return response


def no_content() -> Response:
    return Response(status=204)


@bp.errorhandler(ServiceError)
def service_error(exc: ServiceError) -> Response:
    body: dict[str, Any] = {"error": exc.error, "message": exc.message}
    if len(exc.fields) > 1:  # a whole form refused: every input's message, keyed by field
        body["fields"] = exc.fields
    response = jsonify(body)
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="janus-admin"'
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:  # a throttled sign-in says when to try again
        response.headers["Retry-After"] = str(retry_after)
    return response
