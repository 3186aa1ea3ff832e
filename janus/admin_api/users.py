"""Portal users: /api/v1/users and /api/v1/users/<id>."""

from __future__ import annotations

from flask import Response, jsonify

from janus.admin_api._http import actor, created, json_body, no_content
from janus.admin_api.blueprint import bp
from janus.auth.admin import require
from janus.services import users as users_service


@bp.get("/users")
@require("viewer")
def list_users() -> Response:
    return jsonify(items=users_service.list_users())


@bp.post("/users")
@require("admin")
def create_user() -> Response:
    return created(users_service.create_user(actor(), json_body()))


@bp.patch("/users/<user_id>")
@require("admin")
def update_user(user_id: str) -> Response:
    return jsonify(users_service.update_user(actor(), user_id, json_body()))


@bp.delete("/users/<user_id>")
@require("admin")
def delete_user(user_id: str) -> Response:
    users_service.delete_user(actor(), user_id)
    return no_content()
