"""The tool editor's metadata inputs: title, hint selects, output schema and policy; shown again on edit and on the
detail page; refused input next to its field with nothing stored."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from janus.extensions import db
from janus.models import Endpoint
from tests.support.catalog import add_connection, add_endpoint

OUT = {"type": "object", "properties": {"id": {"type": "integer"}}}


def _errors(html: str) -> dict[str, str]:
    return {
        k: v.replace("&#39;", "'").replace("&#34;", '"')
        for k, v in re.findall(r'<p class="error" id="e-(\w+)" role="alert">([^<]*)</p>', html)
    }


def _row(app, tool_id):
    with app.app_context():
        ep = db.session.scalar(select(Endpoint).where(Endpoint.id == tool_id))
        return ep.title, ep.annotations, ep.output_schema, ep.output_validation, ep.definition_version


def _form(**extra):
    return {
        "tool_name": "drop",
        "path_template": "/d",
        "method": "DELETE",
        "input_schema": '{"type": "object"}',
        "enabled": "on",
        **extra,
    }


def test_the_editor_stores_metadata_and_shows_it_again(admin):
    conn = add_connection(admin.app, "Things", "http://127.0.0.1:9", "t_")
    tool_id = add_endpoint(admin.app, conn, "drop", "/d", method="DELETE")
    page = admin.get(f"/tools/{tool_id}/edit").get_data(as_text=True)
    assert "Derived (yes for DELETE)" in page  # destructiveHint, from the method
    reply = admin.post(
        f"/tools/{tool_id}/edit",
        _form(
            title="Drop a thing",
            hint_destructiveHint="false",
            hint_openWorldHint="",
            output_schema=json.dumps(OUT),
            output_validation="strict",
        ),
    )
    assert reply.status_code == 303, _errors(reply.get_data(as_text=True))
    assert _row(admin.app, tool_id) == ("Drop a thing", {"destructiveHint": False}, OUT, "strict", 2)
    page = admin.get(f"/tools/{tool_id}/edit").get_data(as_text=True)
    assert 'value="Drop a thing"' in page
    assert re.search(r'name="hint_destructiveHint".*?<option value="false" selected>', page, re.S)
    assert re.search(r'<option value="strict" selected>', page)
    detail = admin.get(f"/tools/{tool_id}").get_data(as_text=True)
    assert "destructiveHint: no</span>" in detail and "readOnlyHint: no (derived)" in detail
    assert "Definition version</dt><dd>2" in detail


def test_bad_metadata_is_shown_next_to_its_field_and_nothing_is_stored(admin):
    conn = add_connection(admin.app, "Things", "http://127.0.0.1:9", "t_")
    tool_id = add_endpoint(admin.app, conn, "drop", "/d", method="DELETE")
    before = _row(admin.app, tool_id)
    reply = admin.post(
        f"/tools/{tool_id}/edit",
        _form(output_schema='{"type": "array"}', output_validation="paranoid", title="x" * 300),
        htmx=True,
    )
    assert reply.status_code == 422
    shown = _errors(reply.get_data(as_text=True))
    assert shown["output_schema"].startswith('output schema must have "type": "object" at its root')
    assert shown["output_validation"] == "output_validation 'paranoid' is unknown; expected one of off, lenient, strict"
    assert shown["title"] == "title must be at most 200 characters"
    assert _row(admin.app, tool_id) == before
