"""Client Tokens pages: a token's value is shown once, only a hash is kept, and scopes are previewed as typed."""

from __future__ import annotations

import html
import json
import re

from sqlalchemy import func, select

from janus.extensions import db
from janus.gateway.catalog import hash_token
from janus.models import AdminAuditLog, ClientToken
from janus.services import tokens as tokens_service
from janus.services.token_key import server_key
from tests.support.catalog import add_connection, add_endpoint, add_token

VALUE = re.compile(r'id="issued-token-value"[^>]*value="([^"]+)"')
FIELD_ERRORS = re.compile(r'<p class="error" id="e-(\w+)" role="alert">([^<]*)</p>')
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


def _issue(admin, htmx: bool = False, **fields):
    form = {"name": "Billing team", "role": "developer", "scopes": "weather_*", "enabled": "on", **fields}
    reply = admin.post("/tokens/new", form, htmx=htmx)
    assert reply.status_code == 200, reply.get_data(as_text=True)
    page = reply.get_data(as_text=True)
    return reply, page, VALUE.search(page).group(1)


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(ClientToken.id)))


def _only_row(app) -> ClientToken:
    with app.app_context():
        token = db.session.scalars(select(ClientToken)).one()
        db.session.expunge(token)
        return token


def _mcp(app, value: str):
    return app.test_client().post(
        "/mcp",
        json=INITIALIZE,
        headers={
            "Authorization": f"Bearer {value}",
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        },
    )


def test_an_issued_tokens_value_is_shown_once_never_cached_and_stored_only_as_a_hash(admin):
    reply, page, value = _issue(admin)
    assert value.startswith("mcp_") and len(value) >= 32
    assert page.count(value) == 1  # in the value box only: no snippet, no hidden field repeats it
    assert "you will not see it again" in page
    assert reply.headers["Cache-Control"] == "no-store"

    token = _only_row(admin.app)
    assert token.token_hash == hash_token(value, server_key(admin.app))
    assert value not in (token.token_hint, token.name, token.scopes)
    listing = admin.get("/tokens").get_data(as_text=True)
    assert "Billing team" in listing and value not in listing and token.token_hint + "…" in listing
    assert value not in admin.get(f"/tokens/{token.id}/edit").get_data(as_text=True)
    with admin.app.app_context():
        audit = [json.dumps(r.details) for r in db.session.scalars(select(AdminAuditLog))]
    assert audit and not any(value in row or token.token_hash in row for row in audit)


def test_issuing_in_the_modal_answers_the_value_panel_and_refreshes_the_table_out_of_band(admin):
    reply, fragment, value = _issue(admin, htmx=True, name="Modal client")
    assert "<html" not in fragment and fragment.count(value) == 1
    assert reply.headers["Cache-Control"] == "no-store"
    table = fragment[fragment.index('id="token-list"') :]
    assert 'hx-swap-oob="true"' in table[:60] and "Modal client" in table and value not in table


def test_a_pasted_value_is_accepted_once_and_a_refused_form_never_echoes_it(admin):
    pasted = "client-supplied-secret-0123456789"
    refused = admin.post("/tokens/new", {"name": "", "token": pasted, "role": "developer", "scopes": "*"})
    assert refused.status_code == 422 and pasted not in refused.get_data(as_text=True)
    _, page, value = _issue(admin, token=pasted)
    assert value == pasted and page.count(pasted) == 1
    assert _only_row(admin.app).token_hash == hash_token(pasted, server_key(admin.app))


def test_the_issued_token_opens_an_mcp_session_until_it_is_disabled_or_revoked(admin):
    _, _, value = _issue(admin, scopes="*")
    accepted = _mcp(admin.app, value)
    assert accepted.status_code == 200 and accepted.json["result"]["protocolVersion"] == "2025-11-25"
    token_id = _only_row(admin.app).id

    row = admin.post(f"/tokens/{token_id}/toggle", htmx=True).get_data(as_text=True)
    assert row.lstrip().startswith(f'<tr id="token-{token_id}"') and "DISABLED" in row and ">Enable<span" in row
    assert _mcp(admin.app, value).status_code == 401
    assert "ACTIVE" in admin.post(f"/tokens/{token_id}/toggle", htmx=True).get_data(as_text=True)
    assert _mcp(admin.app, value).status_code == 200

    assert admin.get(f"/tokens/{token_id}/revoke").status_code == 200  # the no-JavaScript confirmation page
    reply = admin.post(f"/tokens/{token_id}/revoke", htmx=True)
    assert reply.status_code == 200 and reply.headers["HX-Redirect"] == "/tokens"
    assert _count(admin.app) == 0 and _mcp(admin.app, value).status_code == 401
    with admin.app.app_context():
        actions = [r.action for r in db.session.scalars(select(AdminAuditLog).order_by(AdminAuditLog.id))]
    assert actions[-4:] == ["token.create", "token.update", "token.update", "token.delete"]


def test_bad_input_is_shown_next_to_its_field_with_422_and_nothing_is_stored(admin):
    cases = [
        ({"name": ""}, "name", "name must not be empty"),
        ({"scopes": "weather_*, bad scope!"}, "scopes", "scope 'bad scope!' is not a valid glob"),
        ({"expires_at": "2020-01-01T00:00"}, "expires_at", "expires_at must be in the future"),
        ({"expires_at": "next tuesday"}, "expires_at", "is not an ISO 8601 date-time"),
        ({"role": "root"}, "role", "role 'root' is unknown"),
        ({"token": "too-short"}, "token", "at least 24 characters"),
        ({"token": "has spaces in it but is long enough"}, "token", "visible ASCII characters without spaces"),
        ({"cert_fingerprint": "AB:CD"}, "cert_fingerprint", "the certificate's SHA-256 fingerprint"),
        ({"cert_subject": "billing agent"}, "cert_subject", "is not a distinguished name"),
    ]
    for fields, field, message in cases:
        for htmx in (False, True):
            form = {"name": "Client", "role": "developer", "scopes": "weather_*", "enabled": "on", **fields}
            reply = admin.post("/tokens/new", form, htmx=htmx)
            page = reply.get_data(as_text=True)
            assert reply.status_code == 422, (fields, page)
            shown = {k: html.unescape(v) for k, v in FIELD_ERRORS.findall(page)}
            assert message in shown.get(field, ""), (field, shown)
            assert re.search(rf'id="f-{field}"[^>]*aria-invalid="true"', page, re.S), field
            assert ("<html" in page) is not htmx
    assert _count(admin.app) == 0


def test_editing_changes_scopes_and_expiry_but_never_shows_the_value(admin):
    _, _, value = _issue(admin)
    token_id = _only_row(admin.app).id
    form = {
        "name": "Billing team v2",
        "role": "admin",
        "scopes": "billing_*,weather_get_*",
        "expires_at": "2099-01-31T12:30",
        "enabled": "on",
    }
    reply = admin.post(f"/tokens/{token_id}/edit", form)
    assert reply.status_code == 303 and reply.headers["Location"] == "/tokens"
    token = _only_row(admin.app)
    assert (token.name, token.role, token.scopes, token.token_hash) == (
        "Billing team v2",
        "admin",
        "billing_*,weather_get_*",
        hash_token(value, server_key(admin.app)),
    )
    edit = admin.get(f"/tokens/{token_id}/edit").get_data(as_text=True)
    assert 'value="2099-01-31T12:30"' in edit and value not in edit and 'name="token"' not in edit
    refused = admin.post(f"/tokens/{token_id}/edit", {**form, "expires_at": "2001-01-01T00:00"}, htmx=True)
    assert refused.status_code == 422 and "expires_at must be in the future" in refused.get_data(as_text=True)
    assert _only_row(admin.app).expires_at.year == 2099


def test_a_token_is_bound_to_a_client_certificate_and_unbound_in_the_form(admin):
    fingerprint = ":".join(["C2"] * 32)
    _issue(admin, cert_fingerprint=fingerprint, cert_subject="CN = agent, O = Example Corp")
    token = _only_row(admin.app)
    assert (token.cert_fingerprint, token.cert_subject) == ("c2" * 32, "CN=agent,O=Example Corp")
    listing = admin.get("/tokens").get_data(as_text=True)
    assert ">mTLS</span>" in listing and "Bound to a client certificate: CN=agent,O=Example Corp" in listing
    edit = admin.get(f"/tokens/{token.id}/edit").get_data(as_text=True)
    assert f'value="{"c2" * 32}"' in edit and 'value="CN=agent,O=Example Corp"' in edit
    form = {"name": token.name, "role": "developer", "scopes": "weather_*", "enabled": "on"}
    reply = admin.post(f"/tokens/{token.id}/edit", {**form, "cert_fingerprint": "", "cert_subject": ""})
    assert reply.status_code == 303
    token = _only_row(admin.app)
    assert (token.cert_fingerprint, token.cert_subject) == (None, None)


def test_the_scopes_preview_lists_the_exposed_tools_the_globs_match(admin):
    weather = add_connection(admin.app, "Weather", "http://127.0.0.1:9", "weather_")
    billing = add_connection(admin.app, "Billing", "http://127.0.0.1:9", "billing_")
    for conn, tool in ((weather, "get_forecast"), (weather, "get_alerts"), (billing, "get_invoice")):
        add_endpoint(admin.app, conn, tool, "/" + tool)

    with admin.app.app_context():
        assert tokens_service.preview_scopes("weather_*") == ["weather_get_alerts", "weather_get_forecast"]
        assert tokens_service.preview_scopes("*_get_[fi]*") == ["billing_get_invoice", "weather_get_forecast"]
        assert tokens_service.preview_scopes("") == []

    def preview(scopes: str) -> str:
        reply = admin.client.get(
            "/tokens/scopes-preview", query_string={"scopes": scopes}, headers={"HX-Request": "true"}
        )
        assert reply.status_code == 200
        return reply.get_data(as_text=True)

    shown = preview("weather_*")
    assert "Matches 2 tools" in shown and "weather_get_alerts" in shown and "billing_get_invoice" not in shown
    assert "<html" not in shown
    assert "Matches 1 tool:" in preview("billing_get_invoice")
    assert "Matches no existing tool" in preview("stripe_*")
    assert "is not a valid glob" in html.unescape(preview("weather_*, bad scope!"))
    assert "sees no tools" in preview("")
    form = admin.get(f"/tokens/{_issue_id(admin)}/edit").get_data(as_text=True)
    assert "Matches 2 tools" in form  # the edit form opens with its current scopes previewed


def _issue_id(admin) -> str:
    _issue(admin, name="Preview", scopes="weather_*")
    with admin.app.app_context():
        return db.session.scalar(select(ClientToken.id).where(ClientToken.name == "Preview"))


def test_a_viewer_sees_the_tokens_but_cannot_issue_change_or_revoke_them(viewer):
    token_id = add_token(viewer.app, "Existing", "existing-token-0123456789abcdef", "weather_*")
    page = viewer.get("/tokens").get_data(as_text=True)
    assert "Existing" in page and "Issue Client Token" not in page
    assert "Revoke" not in page and "Disable" not in page and "Edit" not in page
    assert "existing-token-0123456789abcdef" not in page
    for url in ("/tokens/new", f"/tokens/{token_id}/toggle", f"/tokens/{token_id}/edit", f"/tokens/{token_id}/revoke"):
        reply = viewer.post(url, {"name": "x", "role": "developer", "scopes": "*"})
        assert reply.status_code == 403 and "only admins may change" in reply.get_data(as_text=True)
    assert viewer.get("/tokens/new").status_code == 403
    assert viewer.get("/tokens/scopes-preview?scopes=*").status_code == 403
    with viewer.app.app_context():
        token = db.session.get(ClientToken, token_id)
        assert (token.enabled, token.name, _count(viewer.app)) == (True, "Existing", 1)


def test_an_unknown_token_is_a_404_page(admin):
    reply = admin.get("/tokens/nope/edit")
    assert reply.status_code == 404 and "token 'nope' not found" in html.unescape(reply.get_data(as_text=True))


def test_a_tokens_own_rate_limit_is_set_shown_refused_when_malformed_and_cleared_to_the_default(admin):
    _issue(admin, rate_per_second="20", rate_burst="40")
    token = _only_row(admin.app)
    assert (token.rate_per_second, token.rate_burst) == (20, 40)
    form = {"name": token.name, "role": "developer", "scopes": "weather_*", "enabled": "on"}
    edit = admin.get(f"/tokens/{token.id}/edit").get_data(as_text=True)
    assert 'name="rate_per_second"' in edit and 'value="20"' in edit and 'value="40"' in edit
    refused = admin.post(f"/tokens/{token.id}/edit", {**form, "rate_per_second": "fast"}, htmx=True)
    assert refused.status_code == 422
    assert ("rate_per_second", "rate_per_second must be a whole number") in FIELD_ERRORS.findall(
        refused.get_data(as_text=True)
    )
    cleared = admin.post(f"/tokens/{token.id}/edit", {**form, "rate_per_second": "", "rate_burst": ""})
    assert cleared.status_code == 303
    token = _only_row(admin.app)
    assert (token.rate_per_second, token.rate_burst) == (None, None)


# -- the list: search, filter, sort and pages in the database -------------------------------------------

ROW_NAMES = re.compile(r'<th scope="row" class="token-name">([^<]+)</th>')


def _many_tokens(app, count: int) -> None:
    from datetime import UTC, datetime, timedelta

    base = datetime(2025, 1, 1, tzinfo=UTC)
    with app.app_context():
        db.session.add_all(
            ClientToken(
                name=f"tok{i:03d}",
                token_hash=f"{i:064x}",
                scopes="billing_*" if i % 10 == 0 else "weather_*",
                enabled=i % 7 != 0,
                created_at=base + timedelta(minutes=i),
            )
            for i in range(count)
        )
        db.session.commit()


def test_the_tokens_page_searches_filters_sorts_and_pages_in_the_database(admin, viewer):
    _many_tokens(admin.app, 105)  # the page holds 100
    first = admin.get("/tokens").get_data(as_text=True)
    second = admin.get("/tokens?page=2").get_data(as_text=True)
    assert ROW_NAMES.findall(first) == [f"tok{i:03d}" for i in range(100)] and "Page 1 of 2" in first
    assert ROW_NAMES.findall(second) == [f"tok{i:03d}" for i in range(100, 105)]
    assert 'href="/tokens?page=1"' in second  # the way back

    billing = admin.get("/tokens?q=BILLING_").get_data(as_text=True)  # the scopes, any case
    assert ROW_NAMES.findall(billing) == [f"tok{i:03d}" for i in range(0, 105, 10)]
    assert "11 tokens match" in billing
    assert ROW_NAMES.findall(admin.get("/tokens?q=tok10").get_data(as_text=True)) == [
        f"tok{i:03d}" for i in range(100, 105)
    ]
    disabled = admin.get("/tokens?enabled=false&q=billing").get_data(as_text=True)
    assert ROW_NAMES.findall(disabled) == ["tok000", "tok070"]
    newest = admin.get("/tokens?sort=-created_at").get_data(as_text=True)
    assert ROW_NAMES.findall(newest) == [f"tok{i:03d}" for i in range(104, 4, -1)]
    [next_page] = re.findall(r'rel="next" href="([^"]+)"', newest)
    assert html.unescape(next_page) == "/tokens?page=2&sort=-created_at"  # the order goes along
    assert ROW_NAMES.findall(admin.get(html.unescape(next_page)).get_data(as_text=True)) == [
        f"tok{i:03d}" for i in range(4, -1, -1)
    ]
    enabled_newest = ROW_NAMES.findall(admin.get("/tokens?sort=-created_at&enabled=true").get_data(as_text=True))
    assert enabled_newest[:3] == ["tok104", "tok103", "tok102"] and "tok098" not in enabled_newest

    fragment = admin.get("/tokens?q=tok00", htmx=True).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div class="card token-table-card" id="token-list"')
    assert ROW_NAMES.findall(fragment) == [f"tok{i:03d}" for i in range(10)] and "<html" not in fragment
    nothing = admin.get("/tokens?q=nowhere").get_data(as_text=True)
    assert ROW_NAMES.findall(nothing) == [] and "No client tokens match." in nothing
    refused = admin.get("/tokens?enabled=maybe")
    assert refused.status_code == 200 and "enabled must be true or false" in refused.get_data(as_text=True)
    assert ROW_NAMES.findall(viewer.get("/tokens?q=billing").get_data(as_text=True))[:2] == ["tok000", "tok010"]


def test_issuing_a_token_from_a_filtered_list_refreshes_the_first_page(admin):
    _many_tokens(admin.app, 3)
    _, page, _ = _issue(admin, htmx=True, name="aaa first")
    assert 'id="token-list" hx-swap-oob="true"' in page
    assert ROW_NAMES.findall(page) == ["aaa first", "tok000", "tok001", "tok002"]
