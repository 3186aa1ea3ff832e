"""The impact preview in Debian's chromium against a real gateway: a new prefix shows the renamed tools and
the tokens it cuts off, nothing changes until Confirm, then the tools page lists the new names; a disable is
confirmed in the dialog and only the card changes."""

from __future__ import annotations

import pytest

from janus.extensions import db
from janus.models import Connection
from tests.conftest import make_app
from tests.support.browser import browser_page, screenshot
from tests.support.catalog import add_connection, add_endpoint, add_token
from tests.support.portal import portal_gateway, sign_in
from tests.support.upstream import Upstream, json_response

PASSWORD = "impact preview browser password 7"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("impact")
    upstream = Upstream().start()
    upstream.route("/", lambda request: json_response({"ok": True}))
    server = portal_gateway(tmp, PASSWORD, workers=1)
    server.app = make_app({"DATABASE_PATH": str(tmp / "gateway.db")})  # rows written beside the running server
    billing = add_connection(server.app, "Billing", upstream.url, "billing_")
    for tool in ("get_invoice", "list_invoices"):
        add_endpoint(server.app, billing, tool, f"/{tool}")
    ledger = add_connection(server.app, "Ledger", upstream.url, "ledger_")
    add_endpoint(server.app, ledger, "get_entry", "/entry")
    add_token(server.app, "Invoices bot", "mcp_browser_invoices_bot_0000000", "billing_*")
    server.ids = {"billing": billing, "ledger": ledger}
    yield server
    server.stop()
    upstream.stop()


def _prefix_and_enabled(app, conn_id: str) -> tuple[str, bool]:
    with app.app_context():
        conn = db.session.get(Connection, conn_id)
        return conn.prefix, conn.enabled


def test_a_new_prefix_is_previewed_then_confirmed_and_the_tools_page_shows_the_new_names(gateway):
    base, app = gateway.url, gateway.app
    with browser_page() as browser:
        page = browser.page
        sign_in(page, base, PASSWORD, path="/connections")
        card = page.locator("article.conn-card", has_text="Billing")
        card.get_by_role("link", name="Edit Billing").click()
        dialog = page.locator("dialog#modal")
        dialog.get_by_label("Tool namespace prefix (optional)").fill("pay_")
        page.locator("#prefix-feedback").filter(has_text="is free").wait_for()
        dialog.get_by_role("button", name="Save connection").click()

        impact = dialog.locator("#connection-impact")
        impact.wait_for()
        assert dialog.locator("#modal-title").inner_text() == "Change Billing?"
        assert impact.locator("#impact-summary").inner_text() == (
            "Impact: 2 tools renamed (2 served now); 1 of 1 active token loses tools; "
            "1 token scope stops matching any tool."
        )
        renamed = [li.inner_text() for li in impact.locator("#impact-renamed li").all()]
        assert renamed == ["billing_get_invoice → pay_get_invoice", "billing_list_invoices → pay_list_invoices"]
        row = impact.locator("#impact-tokens tbody tr")
        assert row.locator("th").text_content().startswith("Invoices bot") and "billing_*" in row.inner_text()
        screenshot(page, "connection-impact-prefix")
        assert _prefix_and_enabled(app, gateway.ids["billing"]) == ("billing_", True)  # nothing changed yet

        with page.expect_navigation(url=base + "/connections"):
            impact.get_by_role("button", name="Save and rename tools").click()
        assert page.locator(".flash", has_text="Connection Billing saved.").is_visible()
        assert _prefix_and_enabled(app, gateway.ids["billing"]) == ("pay_", True)

        page.get_by_role("link", name="MCP Tools").click()
        tools = page.locator("#tool-groups")
        tools.locator("tr", has_text="pay_get_invoice").wait_for()
        assert tools.locator("tr", has_text="pay_list_invoices").count() == 1
        assert tools.locator("tr", has_text="billing_get_invoice").count() == 0
        screenshot(page, "connection-impact-tools-renamed")
        assert browser.console_errors == [] and browser.page_errors == []
    browser.assert_requests_only_to(base)
    assert browser.failed_requests == []


def test_disable_is_confirmed_in_the_dialog_and_only_the_card_changes(gateway):
    base, app = gateway.url, gateway.app
    with browser_page() as browser:
        page = browser.page
        sign_in(page, base, PASSWORD, path="/connections")
        card = page.locator("article.conn-card", has_text="Ledger")
        card.get_by_role("button", name="Disable Ledger").click()
        dialog = page.locator("dialog#modal")
        dialog.locator("#connection-impact").wait_for()
        assert dialog.locator("#modal-title").inner_text() == "Disable Ledger?"
        assert dialog.locator("#impact-hidden li").all_inner_texts() == ["ledger_get_entry"]
        # Cancel: nothing changes, and focus is back on the button that asked.
        dialog.get_by_role("link", name="Cancel").click()
        dialog.wait_for(state="hidden")
        assert page.evaluate("document.activeElement.id") == f"toggle-{gateway.ids['ledger']}"
        assert _prefix_and_enabled(app, gateway.ids["ledger"]) == ("ledger_", True)

        card.get_by_role("button", name="Disable Ledger").click()
        dialog.locator("#connection-impact").wait_for()
        dialog.get_by_role("button", name="Disable connection").click()
        card.locator(".badge", has_text="DISABLED").wait_for()
        dialog.wait_for(state="hidden")  # the dialog closes; the page was not reloaded
        assert page.evaluate("document.activeElement.id") == f"toggle-{gateway.ids['ledger']}"
        assert card.get_by_role("button", name="Enable Ledger").is_visible()
        assert _prefix_and_enabled(app, gateway.ids["ledger"]) == ("ledger_", False)
        screenshot(page, "connection-impact-disabled")

        # Delete asks in the dialog too, with the impact; Cancel leaves the connection alone.
        card.get_by_role("link", name="Delete Ledger").click()
        dialog.locator("#connection-delete").wait_for()
        assert "Delete Ledger?" in dialog.locator("#modal-title").inner_text()
        dialog.get_by_role("link", name="Cancel").click()
        dialog.wait_for(state="hidden")
        assert _prefix_and_enabled(app, gateway.ids["ledger"]) == ("ledger_", False)
        assert browser.console_errors == [] and browser.page_errors == []
    browser.assert_requests_only_to(base)
    assert browser.failed_requests == []
