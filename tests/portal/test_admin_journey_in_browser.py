"""The portal issue's acceptance walk, in one browser session against a real gateway:

sign in → connection (bad input first) → its secret in the vault → a POST tool with a schema and a
body template → a token read once → the tool called from "try it" and from Swagger UI → both calls in
the audit log and on the dashboard → a viewer who cannot change anything. Screenshots per step.
"""

from __future__ import annotations

import json
import re

import pytest

from janus.services import users
from tests.conftest import make_app
from tests.support.browser import browser_page, screenshot
from tests.support.portal import portal_gateway, sign_in
from tests.support.upstream import Upstream, json_response

PASSWORD = "journey password 2026"
SECRET = "sk_ledger_journey_secret_7731"
SCHEMA = {
    "type": "object",
    "properties": {"entry_id": {"type": "string"}, "note": {"type": "string"}},
    "required": ["entry_id", "note"],
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("journey")
    upstream = Upstream().start()
    upstream.route(
        "/entries/",
        lambda request: json_response(
            {
                "entry": request.path.rsplit("/", 1)[-1],
                "received": request.get_json(silent=True),
                "authorized": request.headers.get("Authorization") == f"Bearer {SECRET}",
            }
        ),
    )
    server = portal_gateway(tmp, PASSWORD, workers=2)
    with make_app({"DATABASE_PATH": str(tmp / "gateway.db")}).app_context():
        users.create_user("test", {"username": "vera", "password": PASSWORD, "role": "viewer"})
    server.upstream = upstream
    yield server
    server.stop()
    upstream.stop()


def _expected_errors_only(browser, status: str) -> None:
    """Chromium logs each refused request (401/422) as a console error: those and nothing else."""
    assert [e for e in browser.console_errors if status not in e] == []
    browser.console_errors.clear()


def test_an_admin_wires_an_api_end_to_end_and_a_viewer_cannot_change_it(gateway):
    base, upstream = gateway.url, gateway.upstream
    with browser_page() as browser:
        page = browser.page
        sign_in(page, base, PASSWORD)

        # 1. A connection; bad input is answered next to the field.
        page.get_by_role("link", name="API Connections").click()
        page.get_by_role("link", name="+ Connect New API").click()
        dialog = page.locator("dialog#modal")
        dialog.get_by_label("Connection name").fill("Ledger")
        dialog.get_by_label("Base target URL").fill(upstream.url)
        dialog.get_by_label("Tool namespace prefix (optional)").fill("ledger_")
        dialog.get_by_label("Auth type").select_option("bearer")
        dialog.get_by_role("button", name="Save connection").click()
        dialog.locator("#e-auth_secret_ref").filter(has_text="needs a vault secret reference").wait_for()
        _expected_errors_only(browser, "422")
        dialog.get_by_label("Auth secret reference").fill("ledger/api-key")
        # The dialog sits on /connections and the save redirects there: wait for that new navigation
        # (wait_for_url would return at once, on the old page).
        with page.expect_navigation(url=base + "/connections"):
            dialog.get_by_role("button", name="Save connection").click()
        screenshot(page, "journey-1-connection")

        # 2. Its secret, stored in the vault; the value never comes back.
        page.get_by_role("link", name="Security Vault").click()
        page.get_by_label("Secret key reference path").fill("ledger/api-key")
        page.get_by_label("Secret value / API token").fill(SECRET)
        page.get_by_role("button", name="Store secret securely").click()
        page.get_by_role("rowheader", name="ledger/api-key").wait_for()
        assert SECRET not in page.content()
        screenshot(page, "journey-2-vault")

        # 3. A POST tool with a schema and a body template.
        page.get_by_role("link", name="MCP Tools").click()
        page.get_by_role("link", name="+ Add MCP Tool").click()
        dialog.get_by_label("API connection source").select_option(label="Ledger (ledger_)")
        dialog.get_by_label("MCP tool name").fill("annotate_entry")
        dialog.get_by_label("Tool description (instructions for the LLM)").fill("Attach a note to a ledger entry")
        dialog.get_by_label("Endpoint path (supports {{variables}})").fill("/entries/{{entry_id}}")
        dialog.get_by_label("HTTP method").select_option("POST")
        dialog.get_by_label("Parameters schema (JSON Schema)").fill(json.dumps(SCHEMA, indent=2))
        dialog.locator("#schema-feedback").filter(has_text="Valid JSON Schema.").wait_for()
        dialog.get_by_label("HTTP request body template (POST, PUT, PATCH)").fill('{"note": "{{note}}", "by": "janus"}')
        with page.expect_navigation(url=base + "/tools"):
            dialog.get_by_role("button", name="Save tool").click()
        page.get_by_role("cell", name="ledger_annotate_entry", exact=True).wait_for()

        # 4. Try it: a real call through the gateway with the vault's credentials.
        page.get_by_role("link", name="Try it").click()
        dialog.get_by_label("Arguments (JSON)").fill(json.dumps({"entry_id": "E-1", "note": "from try it"}))
        dialog.get_by_role("button", name="Preview request").click()  # a POST: first the request, to confirm
        dialog.locator("#try-request-line").filter(has_text=f"POST {upstream.url}/entries/E-1").wait_for()
        assert SECRET not in dialog.inner_text()  # the credentials are added on sending, never shown
        dialog.get_by_role("button", name="Confirm: send POST").click()
        dialog.locator("#try-result .badge", has_text="success").wait_for()
        result = dialog.locator("#try-result pre.result").inner_text()
        assert '"authorized": true' in result and '"note": "from try it"' in result and SECRET not in result
        screenshot(page, "journey-4-try-it")
        dialog.get_by_role("link", name="Close").click()

        # 5. A client token, its value read exactly once.
        page.get_by_role("link", name="Client Tokens").click()
        page.get_by_role("link", name=re.compile("Issue Client Token")).click()
        dialog.get_by_label("Client name / identity").fill("Ledger agents")
        dialog.get_by_label("Access scopes (comma-separated globs)").fill("ledger_*")
        dialog.locator("#scopes-preview").get_by_text("ledger_annotate_entry").wait_for()
        dialog.get_by_role("button", name="Issue token").click()
        value = dialog.locator("#issued-token-value").input_value()
        assert len(value) >= 32
        screenshot(page, "journey-5-token")
        page.goto(base + "/tokens")
        assert value not in page.content()

        # 6. The same tool from Swagger UI with that token.
        page.get_by_role("link", name="OpenAPI Reference").click()
        page.get_by_label("Client token", exact=True).fill(value)
        page.get_by_role("button", name="Load tools").click()
        page.locator("#client-token-status").filter(has_text="1 tool loaded for this token.").wait_for()
        operation = page.locator(".opblock", has_text="/api/tools/ledger_annotate_entry")
        operation.locator(".opblock-summary").click()
        operation.get_by_role("button", name="Try it out").click()
        operation.locator("textarea.body-param__text").fill(json.dumps({"entry_id": "E-2", "note": "from swagger"}))
        operation.get_by_role("button", name="Execute").click()
        operation.locator(".live-responses-table .response-col_description").filter(
            has_text="from swagger"
        ).first.wait_for()
        screenshot(page, "journey-6-swagger", full_page=True)
        calls = [(s.method, s.path, json.loads(s.body)) for s in upstream.seen]
        assert calls == [
            ("POST", "/entries/E-1", {"note": "from try it", "by": "janus"}),
            ("POST", "/entries/E-2", {"note": "from swagger", "by": "janus"}),
        ]
        assert all(s.headers["authorization"] == f"Bearer {SECRET}" for s in upstream.seen)

        # 7. Both calls in the audit log, under who made them; the dashboard counted them.
        page.get_by_role("link", name="Audit Logs").click()
        rows = page.locator("table tbody tr", has_text="ledger_annotate_entry")
        # A locator wait, not wait_for_function: when its first check fails, Playwright polls a predicate built
        # with eval, which the portal's CSP refuses (this failed on a busy machine, where the rows came late).
        page.locator("table tbody tr").nth(1).wait_for(state="attached")
        text = " ".join(rows.all_inner_texts())
        assert "portal:admin" in text and "Ledger agents" in text
        screenshot(page, "journey-7-audit")
        page.get_by_role("link", name="Dashboard").click()
        assert page.locator('[data-stat="requests_24h"]').inner_text() == "2"
        assert page.locator('[data-stat="tools"]').inner_text() == "1"
        screenshot(page, "journey-7-dashboard")
        assert browser.console_errors == [] and browser.page_errors == []
        browser.assert_requests_only_to(base)

    with browser_page() as browser:
        page = browser.page
        sign_in(page, base, PASSWORD, "vera")
        for name, forbidden in [("API Connections", "+ Connect New API"), ("MCP Tools", "+ Add MCP Tool")]:
            page.get_by_role("link", name=name).click()
            page.get_by_role("heading", level=1).wait_for()
            assert page.get_by_role("link", name=forbidden).count() == 0
            assert page.get_by_role("link", name="Edit").count() == 0
        page.get_by_role("link", name="Security Vault").click()
        page.wait_for_url(base + "/vault")
        assert (
            page.get_by_role("button", name="Store secret securely").count() == 0
            or page.get_by_role("button", name="Store secret securely").is_disabled()
        )
        status = page.evaluate("""async () => (await fetch('/connections/new', {method: 'POST',
            headers: {'X-CSRFToken': document.querySelector('input[name=csrf_token]').value,
                      'Content-Type': 'application/x-www-form-urlencoded'},
            body: 'name=x&base_url=http://127.0.0.1:1'})).status""")
        assert status == 403  # the server refuses even with a valid CSRF token
        screenshot(page, "journey-8-viewer")
