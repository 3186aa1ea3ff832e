"""The OpenAPI page in Debian's chromium against a real gateway: paste a client token, run a tool from Swagger UI."""

from __future__ import annotations

import json

import pytest

from tests.conftest import make_app
from tests.support.browser import browser_page, screenshot
from tests.support.catalog import ID_SCHEMA, add_connection, add_endpoint, add_token
from tests.support.portal import portal_gateway, sign_in
from tests.support.upstream import Upstream, echo

PASSWORD = "openapi browser test password 42"
TOKEN = "swagger_client_token_with_entropy_0001"
TOOL = "ledger_get_entry"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("openapi")
    upstream = Upstream().start()
    upstream.route("/entries/", echo)
    server = portal_gateway(tmp, PASSWORD, workers=2)
    server.upstream = upstream
    app = make_app({"DATABASE_PATH": str(tmp / "gateway.db")})  # rows written beside the running server
    conn = add_connection(app, "Ledger", upstream.url, "ledger_")
    add_endpoint(app, conn, "get_entry", "/entries/{{id}}", schema=ID_SCHEMA, description="Read one ledger entry")
    add_token(app, "Swagger", TOKEN, "ledger_*")
    yield server
    server.stop()
    upstream.stop()


def test_an_admin_pastes_a_client_token_and_runs_a_tool_from_swagger_ui(gateway):
    base = gateway.url
    with browser_page() as browser:
        page = browser.page
        sent: list[tuple[str, dict, str]] = []  # every request with its headers and body, to follow the token
        page.on("request", lambda r: sent.append((r.url, r.headers, r.post_data or "")))
        sign_in(page, base, PASSWORD, path="/guides")
        page.get_by_role("link", name="OpenAPI reference & Swagger UI").click()
        page.wait_for_url(base + "/openapi")
        # Without a token: every enabled tool to read, and nothing to execute.
        everything = page.locator(".opblock", has_text=f"/api/tools/{TOOL}")
        everything.wait_for()
        page.locator("#spec-title").filter(has_text="Every enabled tool (1)").wait_for()
        everything.locator(".opblock-summary").click()
        everything.get_by_text("Read one ledger entry").wait_for()
        assert everything.get_by_role("button", name="Try it out").count() == 0

        page.get_by_label("Client token", exact=True).fill("not_a_token_of_this_gateway_000000")
        page.get_by_role("button", name="Load tools").click()
        status = page.locator("#client-token-status")
        status.filter(has_text="The client token is not valid").wait_for()
        assert page.get_by_label("Client token", exact=True).get_attribute("aria-invalid") == "true"
        page.locator("#spec-title").filter(has_text="Every enabled tool").wait_for()  # back to reading
        assert page.get_by_role("button", name="Forget token").is_hidden()
        assert [e for e in browser.console_errors if "401" not in e] == []  # the refused token itself
        browser.console_errors.clear()

        page.get_by_label("Client token", exact=True).fill(TOKEN)
        page.get_by_role("button", name="Load tools").click()
        status.filter(has_text="1 tool loaded for this token.").wait_for()
        assert page.get_by_label("Client token", exact=True).input_value() == ""  # not left in the field
        operation = page.locator(".opblock", has_text=f"/api/tools/{TOOL}")
        operation.wait_for()
        screenshot(page, "portal-openapi-swagger", full_page=True)

        operation.locator(".opblock-summary").click()
        operation.get_by_text("Read one ledger entry").wait_for()  # the tool's description, expanded
        operation.get_by_role("button", name="Try it out").click()
        operation.locator("textarea.body-param__text").fill(json.dumps({"id": "E-42"}))
        operation.get_by_role("button", name="Execute").click()
        answer = operation.locator(".live-responses-table .response-col_description")
        answer.filter(has_text="/entries/E-42").first.wait_for()
        calls = gateway.upstream.seen
        assert [(s.method, s.path) for s in calls] == [("GET", "/entries/E-42")]
        assert all(TOKEN not in json.dumps(s.headers) for s in calls)  # never forwarded upstream
        assert operation.locator(".live-responses-table tr.response .response-col_status").inner_text().strip() == "200"
        screenshot(page, "portal-openapi-try-it-out", full_page=True)

        page.get_by_role("button", name="View unified schema").click()
        dialog = page.locator("dialog#spec-dialog")
        dialog.wait_for(state="visible")
        assert json.loads(dialog.locator("#spec-json").inner_text())["paths"].keys() == {f"/api/tools/{TOOL}"}
        screenshot(page, "portal-openapi-schema")
        dialog.get_by_role("button", name="Close").click()
        dialog.wait_for(state="hidden")

        stored = page.evaluate("JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie")
        assert TOKEN not in stored
        carried = [
            (url, headers.get("authorization"))
            for url, headers, body in sent
            if TOKEN in url or TOKEN in body or TOKEN in json.dumps(headers)
        ]
        assert carried == [
            (base + "/api/openapi.json", f"Bearer {TOKEN}"),
            (base + f"/api/tools/{TOOL}", f"Bearer {TOKEN}"),
        ]

        page.get_by_role("button", name="Forget token").click()
        page.locator("#spec-title").filter(has_text="Every enabled tool").wait_for()  # reading again, no calls
        operation.locator(".opblock-summary").click()
        operation.get_by_text("Read one ledger entry").wait_for()
        assert operation.get_by_role("button", name="Try it out").count() == 0
        # Chromium reports CSP violations as console errors: none, so Swagger UI runs under the strict policy.
        assert browser.page_errors == [] and browser.console_errors == []
    browser.assert_requests_only_to(base)
    assert browser.failed_requests == []


def test_the_admin_api_reference_renders_under_the_portals_csp(gateway):
    with browser_page() as browser:
        page = browser.page
        page.goto(gateway.url + "/apidocs/")
        page.get_by_text("/api/v1/connections", exact=True).first.wait_for()
        screenshot(page, "apidocs")
        assert browser.console_errors == [] and browser.page_errors == []
    browser.assert_requests_only_to(gateway.url)
