"""POST /api/v1/import/openapi: an OpenAPI description (text, a bundle of files, or a URL) → endpoints."""

from __future__ import annotations

import time

from flask import Response, request

from janus.admin_api._http import actor
from janus.admin_api.blueprint import bp
from janus.auth.admin import require
from janus.services import openapi_import
from janus.services.errors import BAD_BODY, ServiceError
from janus.services.openapi_documents import MAX_SPEC_BYTES


@bp.post("/import/openapi")
@require("admin")
def import_openapi() -> Response:
    # A large API's description (GitHub's is ~13 MB) is bigger than any other admin request: this route alone
    # reads up to the description's own cap (plus room for the JSON around it).
    request.max_content_length = MAX_SPEC_BYTES + 1024 * 1024
    # As json_body: only a JSON content type (a cross-site form cannot send one). The body is read (and the
    # plan written) where the import runs, in a child process under gevent: this worker keeps serving calls.
    if not request.is_json:
        raise ServiceError(BAD_BODY)
    plan = openapi_import.run_import_json(actor(), _body())
    return Response(plan, mimetype="application/json")


def _body() -> bytes:
    """The request body, a megabyte at a time with a cooperative yield between: over loopback a 13 MB
    description is all there at once, and reading it in one go held the worker's loop for ~50 ms."""
    chunks = []
    while chunk := request.stream.read(_CHUNK):  # the stream enforces max_content_length (413)
        chunks.append(chunk)
        time.sleep(0)  # under gevent: the worker's calls in flight run between chunks
    return b"".join(chunks)


_CHUNK = 1024 * 1024
