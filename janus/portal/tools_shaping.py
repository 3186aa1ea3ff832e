"""The endpoint editor's response-shaping fields and their test-in-place (issue 15, item 3)."""

from __future__ import annotations

import json
from typing import Any

from flask import request
from werkzeug.datastructures import MultiDict

from janus.portal.blueprint import bp
from janus.portal.forms import checkbox, whole_number
from janus.portal.rendering import render
from janus.portal.security import admin_required
from janus.services import response_shaping
from janus.services.errors import ServiceError

FIELDS = ("response_projection", "max_items", "max_text_chars", "render_table")
TEMPLATE = "portal/tools/_shaping.html"


def form_values(form: MultiDict) -> dict[str, Any]:
    """The shaping inputs as the endpoint service takes them ("" is null, numbers as numbers)."""
    return {
        "response_projection": form.get("response_projection", ""),
        "max_items": whole_number(form, "max_items"),
        "max_text_chars": whole_number(form, "max_text_chars"),
        "render_table": checkbox(form, "render_table"),
    }


@bp.post("/tools/shaping-test")
@admin_required
def tool_shaping_test():
    """The projection, caps, table and DLP masking applied to the pasted sample, by the gateway's own
    function; masking on or off as the endpoint's connection would have it (its override, else
    REDACTION_ENABLED)."""
    values = form_values(request.form)
    masking: dict[str, Any] | None = None
    try:
        masking = response_shaping.masking(request.form.get("connection_id", "").strip() or None)
    except ServiceError as exc:
        result: dict[str, Any] = {"problem": str(exc)}
    if masking is not None:
        result = response_shaping.preview(
            values["response_projection"] or "",
            request.form.get("shaping_sample", ""),
            values["max_items"],
            values["max_text_chars"],
            values["render_table"],
            redact=masking["on"],
        )
    marker = result.get("marker")
    return render(
        TEMPLATE,
        "shaping_result",
        result=result,
        masking=masking,
        redacted=counts_text(result.get("redacted") or {}),
        marker_json=json.dumps(marker, indent=2, ensure_ascii=False) if marker else "",
    )


def counts_text(counts: dict[str, int]) -> str:
    """DLP's classes and counts as the portal shows them: "email×2, jwt×1" ("" for none)."""
    return ", ".join(f"{name}×{count}" for name, count in counts.items())
