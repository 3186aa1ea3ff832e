"""The connection form's retries and circuit breaker inputs, the tool form's timeout (janus/portal/resilience_fields.py)."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from janus.extensions import db
from janus.models import Connection, Endpoint
from tests.support.catalog import add_connection


def _errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="error" id="e-(\w+)" role="alert">([^<]*)</p>', html))


def _connection(app, name: str) -> Connection:
    with app.app_context():
        row = db.session.scalars(select(Connection).where(Connection.name == name)).one()
        db.session.expunge(row)
        return row


BASE = {"name": "Ledger", "base_url": "http://127.0.0.1:9", "auth_type": "none", "enabled": "on"}


def test_a_new_connection_stores_its_retries_and_breaker_settings(admin):
    form = admin.get("/connections/new").get_data(as_text=True)
    assert 'name="retries"' in form and 'name="breaker_threshold"' in form and 'name="breaker_cooldown_seconds"' in form
    reply = admin.post(
        "/connections/new", {**BASE, "retries": "2", "breaker_threshold": "3", "breaker_cooldown_seconds": "12.5"}
    )
    assert reply.status_code == 303
    row = _connection(admin.app, "Ledger")
    assert (row.retries, row.breaker_threshold, row.breaker_cooldown_seconds) == (2, 3, 12.5)


def test_empty_inputs_leave_the_defaults(admin):
    assert admin.post("/connections/new", BASE).status_code == 303
    row = _connection(admin.app, "Ledger")
    assert (row.retries, row.breaker_threshold, row.breaker_cooldown_seconds) == (0, 5, 30.0)


def test_out_of_range_or_non_numeric_inputs_are_shown_under_their_fields(admin):
    reply = admin.post(
        "/connections/new",
        {**BASE, "retries": "9", "breaker_threshold": "many", "breaker_cooldown_seconds": "0"},
        htmx=True,
    )
    assert reply.status_code == 422
    shown = _errors(reply.get_data(as_text=True))
    assert shown == {
        "retries": "retries must be between 0 and 5",
        "breaker_threshold": "breaker_threshold must be a whole number",
        "breaker_cooldown_seconds": "breaker_cooldown_seconds must be between 1 and 3600",
    }


def test_a_tools_timeout_is_stored_and_an_empty_one_falls_back_to_the_connections(admin):
    conn = add_connection(admin.app, "Billing", "http://127.0.0.1:9", "billing_")
    base = {
        "connection_id": conn,
        "tool_name": "get_invoice",
        "path_template": "/invoices",
        "method": "GET",
        "input_schema": json.dumps({"type": "object"}),
        "enabled": "on",
    }
    assert admin.post("/tools/new", {**base, "timeout_seconds": "2.5"}).status_code == 303
    with admin.app.app_context():
        endpoint = db.session.scalars(select(Endpoint)).one()
        endpoint_id, timeout = endpoint.id, endpoint.timeout_seconds
    assert timeout == 2.5
    assert 'value="2.5"' in admin.get(f"/tools/{endpoint_id}/edit").get_data(as_text=True)
    assert admin.post(f"/tools/{endpoint_id}/edit", {**base, "timeout_seconds": ""}).status_code == 303
    with admin.app.app_context():
        assert db.session.get(Endpoint, endpoint_id).timeout_seconds is None
    reply = admin.post(f"/tools/{endpoint_id}/edit", {**base, "timeout_seconds": "700"}, htmx=True)
    assert reply.status_code == 422
    assert _errors(reply.get_data(as_text=True))["timeout_seconds"] == "timeout_seconds must be between 0.1 and 600"
