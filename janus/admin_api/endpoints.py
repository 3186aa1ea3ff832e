"""Endpoints (the MCP tools): /api/v1/endpoints and /api/v1/endpoints/<id>."""

from __future__ import annotations

from flask import Response, jsonify, url_for

from janus.admin_api._http import actor, created, json_body, list_args, no_content
from janus.admin_api.blueprint import bp
from janus.auth.admin import require
from janus.services import endpoints as endpoints_service


@bp.get("/endpoints")
@require("viewer")
def list_endpoints() -> Response:
    filters = ("connection_id", "method", "enabled", *endpoints_service.ANNOTATION_FILTERS)
    return jsonify(endpoints_service.page_endpoints(**list_args(*filters)))


@bp.post("/endpoints/bulk")
@require("admin")
def bulk_endpoints() -> Response:
    """Enable, disable or delete several endpoints at once; unknown ids come back in `not_found`."""
    return jsonify(endpoints_service.bulk_endpoints(actor(), json_body()))


@bp.post("/endpoints")
@require("admin")
def create_endpoint() -> Response:
    ep = endpoints_service.create_endpoint(actor(), json_body())
    return created(ep, url_for(".get_endpoint", endpoint_id=ep["id"]))


@bp.get("/endpoints/<endpoint_id>")
@require("viewer")
def get_endpoint(endpoint_id: str) -> Response:
    return jsonify(endpoints_service.get_endpoint(endpoint_id))


@bp.patch("/endpoints/<endpoint_id>")
@require("admin")
def update_endpoint(endpoint_id: str) -> Response:
    return jsonify(endpoints_service.update_endpoint(actor(), endpoint_id, json_body()))


@bp.delete("/endpoints/<endpoint_id>")
@require("admin")
def delete_endpoint(endpoint_id: str) -> Response:
    endpoints_service.delete_endpoint(actor(), endpoint_id)
    return no_content()
