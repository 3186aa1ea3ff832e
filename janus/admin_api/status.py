"""The gateway's status and the checks of `mcp-cli verify`: /api/v1/status, /api/v1/verify."""

from __future__ import annotations

from flask import Response, jsonify

from janus.admin_api.blueprint import bp
from janus.auth.admin import require
from janus.runtime import current_runtime
from janus.services import status as status_service


@bp.get("/status")
@require("viewer")
def get_status() -> Response:
    return jsonify(status_service.status())


@bp.get("/verify")
@require("viewer")
def verify() -> Response:
    return jsonify(status_service.verify(current_runtime().backend.executor))
