"""Import an OpenAPI description (upload a file or give a URL), see the plan, tick what to apply."""

from __future__ import annotations

from typing import Any

from flask import Response, flash, request, url_for
from flask_login import current_user

from janus.portal.blueprint import bp
from janus.portal.forms import errors_of, texts
from janus.portal.rendering import redirect_to, render
from janus.portal.security import admin_required
from janus.services import openapi_import
from janus.services.errors import ServiceError, ValidationError
from janus.services.openapi_documents import MAX_SPEC_BYTES

TEMPLATE = "portal/imports/index.html"
FIELDS = ("url", "prefix", "name", "connection_id", "base_url", "include", "exclude")


ENDPOINT = "portal.connection_import"


def allow_large_description() -> None:
    """Room for a large API's description (GitHub's is 13 MB) in this page's form: an upload, then a text field
    of the multipart plan. Registered on the app before CSRF protection, which reads the form first (under
    MAX_REQUEST_BYTES, 4 MiB by default, it would answer 413 before the view ran); only for a signed-in admin,
    so nobody else makes the gateway read tens of megabytes."""
    if request.endpoint != ENDPOINT or request.method != "POST":
        return
    if current_user.is_authenticated and current_user.is_admin:
        request.max_content_length = 2 * MAX_SPEC_BYTES + 1024 * 1024
        request.max_form_memory_size = MAX_SPEC_BYTES + 1024 * 1024


@bp.route("/connections/import", methods=["GET", "POST"])
@admin_required
def connection_import() -> Response | str:
    values: dict[str, Any] = texts(request.form, FIELDS) if request.method == "POST" else {}
    if request.method == "GET":
        return render(TEMPLATE, values=values, errors={}, plan=None, spec_text="")
    try:
        spec_text = _description()
        data = _options(values, spec_text)
        if request.form.get("action") == "apply":
            data["approve"] = request.form.getlist("approve")
            result = openapi_import.run_import(current_user.username, data)
            applied = len(result["applied"])
            flash(
                f"Applied {applied} change(s) to {result['connection']['name']}."
                if applied
                else "Nothing was applied: no operation was ticked."
            )
            return redirect_to(url_for("portal.tools"))
        plan = openapi_import.run_import(current_user.username, {**data, "dry_run": True})
    except ServiceError as exc:
        return render(
            TEMPLATE, status=422, values=values, errors=errors_of(exc, (*FIELDS, "file")), plan=None, spec_text=""
        )
    return render(TEMPLATE, values=values, errors={}, plan=plan, spec_text=spec_text)


def _description() -> str:
    """The description's text: the one previewed (hidden field), else the uploaded file, else fetched from the URL."""
    previewed = request.form.get("spec_text")
    if previewed:
        return previewed
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        raw = upload.read(MAX_SPEC_BYTES + 1)
        if len(raw) > MAX_SPEC_BYTES:
            raise ValidationError(f"the file is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MiB", field="file")
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError("the file is not UTF-8 text", field="file") from None
    url = (request.form.get("url") or "").strip()
    if url:
        return openapi_import.fetch_description(url)
    raise ValidationError("upload a description file or give its URL", field="file")


def _options(values: dict[str, Any], spec_text: str) -> dict[str, Any]:
    data: dict[str, Any] = {"spec": spec_text}
    for name in ("prefix", "name", "connection_id", "base_url"):
        if (values.get(name) or "").strip():
            data[name] = values[name].strip()
    for name in ("include", "exclude"):
        patterns = [p.strip() for p in (values.get(name) or "").replace("\n", ",").split(",") if p.strip()]
        if patterns:
            data[name] = patterns
    return data
