"""Client tokens: /api/v1/tokens and /api/v1/tokens/<id>. A token's value is shown once, on creation."""

from __future__ import annotations

from flask import Response, jsonify

from janus.admin_api._http import actor, created, json_body, list_args, no_content
from janus.admin_api.blueprint import bp
from janus.auth.admin import require
from janus.services import tokens as tokens_service


@bp.get("/tokens")
@require("viewer")
def list_tokens() -> Response:
    return jsonify(tokens_service.page_tokens(**list_args("enabled")))


@bp.post("/tokens")
@require("admin")
def create_token() -> Response:
    token, value = tokens_service.create_token(actor(), json_body())
    return created({**token, "token": value})


@bp.patch("/tokens/<token_id>")
@require("admin")
def update_token(token_id: str) -> Response:
    return jsonify(tokens_service.update_token(actor(), token_id, json_body()))


@bp.delete("/tokens/<token_id>")
@require("admin")
def delete_token(token_id: str) -> Response:
    tokens_service.delete_token(actor(), token_id)
    return no_content()
