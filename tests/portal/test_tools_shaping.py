"""The endpoint editor's response shaping: stored from the form, tested in place on a pasted sample (never
the upstream), and the connection form's masking choice."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from sqlalchemy import select

from janus.extensions import db
from janus.models import Connection, Endpoint
from tests.support.catalog import add_connection, add_endpoint
from tests.support.fake_credentials import card_number, email_address

SAMPLE = json.dumps({"items": [{"id": i, "name": f"n{i}"} for i in range(3)], "total": 3})


def _test(admin, **form):
    reply = admin.post("/tools/shaping-test", {"shaping_sample": SAMPLE, **form}, htmx=True)
    assert reply.status_code == 200
    return unescape(reply.get_data(as_text=True))


def test_the_projection_is_tested_in_place_on_the_sample_without_calling_anyone(admin, upstream):
    html = _test(admin, response_projection="items[].name")
    assert '[\n  "n0",\n  "n1",\n  "n2"\n]' in html
    assert "No structuredContent" in html  # an array is never structuredContent
    assert upstream.seen == []
    assert "<html" not in html  # the fragment only


def test_caps_and_the_table_are_tested_with_their_note_and_marker(admin):
    html = _test(admin, response_projection="items", max_items="2", render_table="on")
    assert "| id | name |\n|---|---|\n| 0 | n0 |\n| 1 | n1 |" in html
    assert "[truncated by Janus: the result: 2 of 3 items shown]" in html
    assert '"items": [' in html and '"total": 3' in html  # the marker


def test_a_bad_projection_or_sample_is_explained_in_place(admin):
    assert "response_projection is not a valid JMESPath expression: Invalid jmespath expression" in _test(
        admin, response_projection="items["
    )
    reply = admin.post("/tools/shaping-test", {"shaping_sample": "{nope", "response_projection": "a"}, htmx=True)
    assert "the sample is not valid JSON" in reply.get_data(as_text=True)
    assert "max_items must be a whole number of at least 1" in _test(admin, max_items="0")


def test_a_viewer_cannot_use_the_test(viewer):
    assert viewer.post("/tools/shaping-test", {"shaping_sample": SAMPLE}, htmx=True).status_code == 403


def test_the_editor_stores_the_shaping_and_shows_a_refusal_next_to_its_field(admin):
    conn = add_connection(admin.app, "Billing", "http://127.0.0.1:9", "billing_")
    base = {
        "connection_id": conn,
        "tool_name": "list",
        "path_template": "/items",
        "method": "GET",
        "input_schema": '{"type": "object"}',
        "enabled": "on",
    }
    refused = admin.post("/tools/new", {**base, "response_projection": "items[?"}, htmx=True)
    assert refused.status_code == 422
    assert 'id="e-response_projection"' in refused.get_data(as_text=True)
    saved = admin.post(
        "/tools/new", {**base, "response_projection": "items", "max_items": "5", "render_table": "on"}, htmx=True
    )
    assert saved.status_code == 200 and saved.headers["HX-Redirect"].endswith("/tools")
    with admin.app.app_context():
        ep = db.session.scalars(select(Endpoint)).one()
        assert (ep.response_projection, ep.max_items, ep.max_text_chars, ep.render_table) == ("items", 5, None, True)
        endpoint_id = ep.id
    form = admin.get(f"/tools/{endpoint_id}/edit").get_data(as_text=True)
    assert 'name="response_projection" type="text" value="items"' in form and 'id="shaping-test"' in form


def test_the_connection_form_sets_and_clears_the_masking_override(admin):
    form = {"name": "HR", "base_url": "http://127.0.0.1:9", "prefix": "hr_", "auth_type": "none", "enabled": "on"}
    assert admin.post("/connections/new", {**form, "redaction": "true"}).status_code == 303
    with admin.app.app_context():
        conn = db.session.scalars(select(Connection)).one()
        assert conn.redaction is True
        conn_id = conn.id
    page = admin.get(f"/connections/{conn_id}/edit").get_data(as_text=True)
    assert '<option value="true" selected>' in page
    assert admin.post(f"/connections/{conn_id}/edit", {**form, "redaction": "default"}).status_code == 303
    with admin.app.app_context():
        assert db.session.get(Connection, conn_id).redaction is None


def _card_and_mail_sample() -> tuple[str, str, str]:
    mail, card = email_address(), card_number()
    return json.dumps({"customer": {"mail": mail, "card": card}, "note": "paid"}), mail, card


@pytest.mark.parametrize(
    "gateway, override, masked",
    [(False, True, True), (True, False, False), (True, None, True), (False, None, False)],
    ids=["connection-on", "connection-off", "follows-gateway-on", "follows-gateway-off"],
)
def test_the_test_masks_the_sample_as_the_connections_calls_are(admin, gateway, override, masked):
    admin.app.config["REDACTION_ENABLED"] = gateway
    conn = add_connection(admin.app, "Billing", "http://127.0.0.1:9", "billing_", redaction=override)
    sample, mail, card = _card_and_mail_sample()
    html = _test(admin, shaping_sample=sample, connection_id=conn, response_projection="customer")
    output = re.search(r'<pre class="code-output" id="shaping-output">(.*?)</pre>', html, re.S).group(1)
    note = re.search(r'<p class="hint" id="shaping-masking">(.*?)</p>', html, re.S).group(1)
    note = " ".join(note.split())
    by = "the connection's own setting" if override is not None else "the gateway setting REDACTION_ENABLED"
    if masked:
        assert mail not in html and card not in html
        assert '"mail": "[redacted:email]"' in output and '"card": "[redacted:card]"' in output
        assert output.endswith("[redacted by Janus: 1 email, 1 card]")
        assert note == f"DLP masking is <strong>on</strong> for the connection Billing ({by}): masked " + (
            '<span id="shaping-redacted">email×1, card×1</span>.'
        )
        assert '"redacted": {' in html  # the marker too
    else:
        assert f'"mail": "{mail}"' in output and f'"card": "{card}"' in output
        assert "[redacted" not in html
        assert note == f"DLP masking is <strong>off</strong> for the connection Billing ({by})."


def test_masking_on_with_nothing_to_mask_says_so(admin):
    conn = add_connection(admin.app, "Billing", "http://127.0.0.1:9", "billing_", redaction=True)
    html = " ".join(_test(admin, connection_id=conn).split())
    assert "DLP masking is <strong>on</strong> for the connection Billing" in html
    assert "nothing in the sample was masked" in html and 'id="shaping-redacted"' not in html


def test_without_a_connection_the_test_follows_the_gateway_setting(admin):
    admin.app.config["REDACTION_ENABLED"] = True
    sample, mail, _ = _card_and_mail_sample()
    html = " ".join(_test(admin, shaping_sample=sample).split())
    assert mail not in html and "email×1, card×1" in html
    assert "for an endpoint whose connection is not chosen yet (the gateway setting REDACTION_ENABLED)" in html


def test_an_unknown_connection_is_explained_in_place(admin):
    html = _test(admin, connection_id="no-such-connection")
    assert '<p class="error" role="alert">connection \'no-such-connection\' not found</p>' in html


def test_the_editor_sends_the_endpoints_connection_with_the_test(admin):
    conn = add_connection(admin.app, "Billing", "http://127.0.0.1:9", "billing_")
    endpoint = add_endpoint(admin.app, conn, "list", "/items")
    edit = unescape(admin.get(f"/tools/{endpoint}/edit").get_data(as_text=True))
    button = re.search(r'<button type="button" class="button" id="shaping-test"(.*?)>', edit, re.S).group(1)
    assert f'hx-vals=\'{{"connection_id": "{conn}"}}\'' in button  # the edit form shows it but does not post it
    new = admin.get(f"/tools/new?connection_id={conn}").get_data(as_text=True)
    button = re.search(r'<button type="button" class="button" id="shaping-test"(.*?)>', new, re.S).group(1)
    assert "hx-vals" not in button and "select[name=connection_id]" in button  # the chosen one, as it changes
