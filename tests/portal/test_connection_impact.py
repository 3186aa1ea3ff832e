"""The portal asks before a change that affects live clients: a new prefix, disabling, deleting show what
happens to tools and client tokens, and the change is made only when the confirmation comes back."""

from __future__ import annotations

import html
import json
import re

from sqlalchemy import func, select

from janus.extensions import db
from janus.models import AdminAuditLog, Connection, Endpoint
from tests.support.catalog import add_connection, add_endpoint, add_token

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def _billing(app, tools: int = 2) -> str:
    conn = add_connection(app, "Billing", "http://127.0.0.1:9", "billing_")
    for name in ("get_invoice", "list_invoices", *(f"extra_{i:02d}" for i in range(tools - 2)))[:tools]:
        add_endpoint(app, conn, name, "/x")
    add_token(app, "Invoices bot", "mcp_invoices_bot_000000000000000", "billing_*")
    add_token(app, "Reader", "mcp_reader_00000000000000000000000", "*_get_*")
    return conn


def _row(app, conn_id: str) -> tuple:
    with app.app_context():
        conn = db.session.get(Connection, conn_id)
        return (conn.prefix, conn.enabled) if conn else None


def _audit_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(AdminAuditLog.id)))


def _form(**changes) -> dict:
    return {"name": "Billing", "base_url": "http://127.0.0.1:9", "prefix": "billing_", "auth_type": "none"} | {
        "enabled": "on",
        "timeout_seconds": "30",
        **changes,
    }


def _confirmation(page: str) -> dict:
    """What the browser posts back from the confirmation: its hidden fields (CSRF token included)."""
    return {name: html.unescape(value) for name, value in HIDDEN.findall(page)}


def test_a_new_prefix_shows_the_renamed_tools_and_cut_off_tokens_and_changes_nothing_until_confirmed(admin):
    conn = _billing(admin.app)
    audited = _audit_count(admin.app)
    for htmx in (False, True):
        reply = admin.post(f"/connections/{conn}/edit", _form(prefix="pay_"), htmx=htmx)
        page = reply.get_data(as_text=True)
        assert reply.status_code == 200, page
        assert ("<html" in page) is not htmx  # the dialog gets the question in place of the form
        assert "Impact on live clients" in page and "Save and rename tools" in page
        assert "<code>billing_get_invoice</code> → <code>pay_get_invoice</code>" in page
        assert "Invoices bot" in page and "<code>billing_*</code>" in page  # the token's scope that dies
        assert "Reader" not in page  # "*_get_*" still matches pay_get_invoice
        assert "Impact: 2 tools renamed (2 served now); 1 of 2 active tokens loses tools" in page
    assert _row(admin.app, conn) == ("billing_", True) and _audit_count(admin.app) == audited  # nothing yet
    sent = _confirmation(page)
    assert sent["prefix"] == "pay_" and sent["confirmed"] == "1" and sent["enabled"] == "on"
    reply = admin.client.post(f"/connections/{conn}/edit", data=sent, headers={"HX-Request": "true"})
    assert reply.status_code == 200 and reply.headers["HX-Redirect"] == "/connections"
    assert _row(admin.app, conn) == ("pay_", True)
    with admin.app.app_context():
        row = db.session.scalars(select(AdminAuditLog).order_by(AdminAuditLog.id.desc())).first()
        assert row.action == "connection.update" and row.details["impact"]["renamed"] == 2


def test_a_new_prefix_for_a_connection_without_tools_goes_straight_through(admin):
    conn = add_connection(admin.app, "Empty", "http://127.0.0.1:9", "empty_")
    reply = admin.post(f"/connections/{conn}/edit", _form(name="Empty", prefix="void_"))
    assert reply.status_code == 303 and _row(admin.app, conn) == ("void_", True)


def test_a_refused_prefix_is_shown_next_to_its_field_not_previewed(admin):
    conn = _billing(admin.app)
    add_connection(admin.app, "CRM", "http://127.0.0.1:9", "crm_")
    for prefix, message in (("Pay", "prefix &#39;Pay&#39; is invalid"), ("crm_x_", "clashes with connection")):
        reply = admin.post(f"/connections/{conn}/edit", _form(prefix=prefix), htmx=True)
        page = reply.get_data(as_text=True)
        assert reply.status_code == 422 and message in page and "Impact on live clients" not in page
    assert _row(admin.app, conn) == ("billing_", True)


def test_unticking_enabled_in_the_form_asks_first(admin):
    conn = _billing(admin.app)
    form = _form()
    del form["enabled"]
    page = admin.post(f"/connections/{conn}/edit", form).get_data(as_text=True)
    assert "Disable connection" in page and "Tools hidden from every client: 2" in page
    assert _row(admin.app, conn) == ("billing_", True)
    assert admin.client.post(f"/connections/{conn}/edit", data=_confirmation(page)).status_code == 303
    assert _row(admin.app, conn) == ("billing_", False)


def test_disable_shows_the_impact_in_the_dialog_and_confirming_updates_the_card(admin):
    conn = _billing(admin.app)
    reply = admin.post(f"/connections/{conn}/toggle", htmx=True)
    page = reply.get_data(as_text=True)
    assert reply.headers["HX-Retarget"] == "#modal-body" and reply.headers["HX-Reswap"] == "innerHTML"
    assert 'id="modal-title">Disable Billing?' in page and "Tools hidden from every client: 2" in page
    assert "Reader" in page and "Invoices bot" in page  # both lose tools now
    assert _row(admin.app, conn) == ("billing_", True)
    sent = _confirmation(page)
    assert sent == {"csrf_token": sent["csrf_token"], "enabled": "false", "confirmed": "1"}
    reply = admin.client.post(f"/connections/{conn}/toggle", data=sent, headers={"HX-Request": "true"})
    card = reply.get_data(as_text=True)
    assert card.lstrip().startswith("<article") and "DISABLED" in card
    assert reply.headers["HX-Retarget"] == f"#conn-{conn}" and reply.headers["HX-Reswap"] == "outerHTML"
    assert json.loads(reply.headers["HX-Trigger-After-Settle"]) == {"janus-close-modal": {"focus": f"#toggle-{conn}"}}
    assert _row(admin.app, conn) == ("billing_", False)
    # A second confirmation (a double click) keeps it disabled: the form names the state, not "toggle".
    admin.client.post(f"/connections/{conn}/toggle", data=sent, headers={"HX-Request": "true"})
    assert _row(admin.app, conn) == ("billing_", False)
    # Enabling asks nothing.
    card = admin.post(f"/connections/{conn}/toggle", htmx=True).get_data(as_text=True)
    assert "ENABLED" in card and _row(admin.app, conn) == ("billing_", True)


def test_disable_without_javascript_is_a_page_then_a_redirect(admin):
    conn = _billing(admin.app)
    page = admin.post(f"/connections/{conn}/toggle").get_data(as_text=True)
    assert "<html" in page and "Disable Billing?" in page and _row(admin.app, conn) == ("billing_", True)
    reply = admin.client.post(f"/connections/{conn}/toggle", data=_confirmation(page))
    assert reply.status_code == 303 and _row(admin.app, conn) == ("billing_", False)
    assert "Connection Billing disabled." in admin.get("/connections").get_data(as_text=True)


def test_the_delete_confirmation_lists_the_impact_with_long_lists_cut_short(admin):
    conn = _billing(admin.app, tools=25)
    for htmx in (False, True):
        page = admin.get(f"/connections/{conn}/delete", htmx=htmx).get_data(as_text=True)
        assert ("<html" in page) is not htmx
        assert "Delete Billing?" in page and "Tools removed from every client: 25" in page
        assert page.count("<li><code>billing_") == 20 and "and 5 more" in page
        assert "Invoices bot" in page and "<code>billing_*</code>" in page
    assert _row(admin.app, conn) == ("billing_", True)
    assert admin.post(f"/connections/{conn}/delete").status_code == 303
    assert _row(admin.app, conn) is None
    with admin.app.app_context():
        assert db.session.scalar(select(func.count(Endpoint.id))) == 0


def test_a_viewer_gets_no_preview(viewer, admin):
    conn = _billing(admin.app)
    assert viewer.post(f"/connections/{conn}/toggle").status_code == 403
    assert viewer.get(f"/connections/{conn}/delete").status_code == 403
    assert viewer.post(f"/connections/{conn}/edit", _form(prefix="pay_")).status_code == 403
    assert _row(admin.app, conn) == ("billing_", True)
