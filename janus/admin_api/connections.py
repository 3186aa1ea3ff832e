"""Connections: /api/v1/connections and /api/v1/connections/<id>."""

from __future__ import annotations

from flask import Response, jsonify, request, url_for

from janus.admin_api._http import actor, created, json_body, list_args, no_content
from janus.admin_api.blueprint import bp
from janus.auth.admin import require
from janus.services import connections as connections_service
from janus.services import listing


@bp.get("/connections")
@require("viewer")
def list_connections() -> Response:
    return jsonify(connections_service.page_connections(**list_args("enabled")))


@bp.post("/connections")
@require("admin")
def create_connection() -> Response:
    conn = connections_service.create_connection(actor(), json_body())
    return created(conn, url_for(".get_connection", connection_id=conn["id"]))


@bp.get("/connections/<connection_id>")
@require("viewer")
def get_connection(connection_id: str) -> Response:
    return jsonify(connections_service.get_connection(connection_id))


@bp.patch("/connections/<connection_id>")
@require("admin")
def update_connection(connection_id: str) -> Response:
    if _dry_run():
        return jsonify(connections_service.update_impact(connection_id, json_body()))
    return jsonify(connections_service.update_connection(actor(), connection_id, json_body()))


@bp.delete("/connections/<connection_id>")
@require("admin")
def delete_connection(connection_id: str) -> Response:
    if _dry_run():
        return jsonify(connections_service.delete_impact(connection_id))
    connections_service.delete_connection(actor(), connection_id)
    return no_content()


@bp.post("/connections/<connection_id>/impact")
@require("admin")  # the preview names client tokens and their scopes
def connection_impact(connection_id: str) -> Response:
    """What a change would do to live clients: renamed and hidden tools, tokens that lose tools."""
    return jsonify(connections_service.impact(connection_id, json_body()))


def _dry_run() -> bool:
    """`?dry_run=true`: answer the change's impact and write nothing (400 for a value that is no yes/no)."""
    return bool(listing.flag("dry_run", request.args.get("dry_run")))
