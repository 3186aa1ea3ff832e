"""POST /api/v1/import/openapi: an OpenAPI description (text, a bundle of files, or a URL) → endpoints."""

from __future__ import annotations

from flask import Response, jsonify, request

from janus.admin_api._http import actor, json_body
from janus.admin_api.blueprint import bp
from janus.auth.admin import require
from janus.services import openapi_import
from janus.services.openapi_documents import MAX_SPEC_BYTES


@bp.post("/import/openapi")
@require("admin")
def import_openapi() -> Response:
    # A large API's description (GitHub's is ~13 MB) is bigger than any other admin request: this route alone
    # reads up to the description's own cap (plus room for the JSON around it).
    request.max_content_length = MAX_SPEC_BYTES + 1024 * 1024
    return jsonify(openapi_import.import_openapi(actor(), json_body()))
