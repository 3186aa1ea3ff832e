"""POST /api/v1/import/openapi: an OpenAPI description (text, a bundle of files, or a URL) → endpoints."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, current_app, request

from janus.admin_api._http import BAD_BODY, actor
from janus.admin_api.blueprint import bp
from janus.auth.admin import require
from janus.services import openapi_import
from janus.services.errors import ServiceError
from janus.services.off_loop import OffLoop
from janus.services.openapi_documents import MAX_SPEC_BYTES


@bp.post("/import/openapi")
@require("admin")
def import_openapi() -> Response:
    # A large API's description (GitHub's is ~13 MB) is bigger than any other admin request: this route alone
    # reads up to the description's own cap (plus room for the JSON around it).
    request.max_content_length = MAX_SPEC_BYTES + 1024 * 1024
    # As json_body: only a JSON content type (a cross-site form cannot send one), and only an object.
    body = _json_work(_json_object, request.get_data(cache=False)) if request.is_json else None
    if body is None:
        raise ServiceError(BAD_BODY)
    plan = openapi_import.import_openapi(actor(), body)
    return Response(_json_work(current_app.json.dumps, plan), mimetype="application/json")


# A description's JSON (13 MB for GitHub's) and the plan's (1,200 items) are read and written off the gevent
# loop, as the description itself is (janus/services/openapi_import.py): the worker keeps serving calls.
_json_work = OffLoop(1)


def _json_object(raw: bytes) -> dict[str, Any] | None:
    """The body's JSON object, or None when it is not one (malformed, absurdly nested, an array…)."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None
