"""The portal in Debian's chromium against a real gunicorn+gevent gateway (screenshots in test-artifacts/)."""

from __future__ import annotations

import re
import threading

import pytest
import requests

from janus.services import users
from tests.conftest import make_app
from tests.support.browser import browser_page, screenshot
from tests.support.catalog import add_connection, add_endpoint, add_token
from tests.support.http_gateway import mcp_headers, stateless_meta
from tests.support.portal import portal_gateway, sign_in
from tests.support.upstream import Upstream, json_response
from tests.support.waiting import wait_for

PASSWORD = "browser test password 42"
SLOW_TOKEN = "portal_dashboard_token_0123456789abcdef"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("portal")
    upstream = Upstream().start()
    upstream.route("/", lambda request: json_response({"service": "ledger", "ok": True}))
    release = threading.Event()
    upstream.route("/slow", lambda request: (release.wait(20), json_response({"slow": "done"}))[1])
    server = portal_gateway(tmp, PASSWORD, workers=2)
    server.upstream = upstream
    server.app = make_app({"DATABASE_PATH": str(tmp / "gateway.db")})  # rows written beside the running server
    accounts = add_connection(server.app, "Accounts", upstream.url, "acc_")
    add_endpoint(server.app, accounts, "slow_report", "/slow")
    add_token(server.app, "Dashboard check", SLOW_TOKEN, "acc_*")
    server.release = release
    with server.app.app_context():
        users.create_user("test", {"username": "vera", "password": PASSWORD, "role": "viewer"})
    yield server
    release.set()
    server.stop()
    upstream.stop()


def test_an_admin_signs_in_creates_a_connection_and_tests_it(gateway):
    base = gateway.url
    with browser_page() as browser:
        page = browser.page
        page.goto(base + "/login")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Sign in").click()
        assert page.locator("#login-error").inner_text() == "Invalid username or password."
        screenshot(page, "portal-login-refused")
        assert [e for e in browser.console_errors if "401" not in e] == []  # the refused sign-in itself
        browser.console_errors.clear()

        sign_in(page, base, PASSWORD)
        page.locator("#health table").wait_for()  # the health table loads itself
        screenshot(page, "portal-dashboard")

        page.get_by_role("link", name="API Connections").click()
        page.get_by_role("link", name="+ Connect New API").click()
        dialog = page.locator("dialog#modal")
        dialog.wait_for(state="visible")
        assert page.evaluate("document.activeElement.id") == "f-name"  # focus moved into the dialog
        dialog.get_by_label("Connection name").fill("Ledger")
        dialog.get_by_label("Base target URL").fill("ftp://ledger.internal")
        dialog.get_by_label("Tool namespace prefix (optional)").fill("acc_ledger_")
        page.locator("#prefix-feedback").filter(has_text="clashes").wait_for()
        dialog.get_by_label("Tool namespace prefix (optional)").fill("ledger_")
        page.locator("#prefix-feedback").filter(has_text="is free").wait_for()
        dialog.get_by_role("button", name="Save connection").click()
        error = dialog.locator("#e-base_url")
        error.wait_for()
        assert "base_url must be an absolute http:// or https:// URL" in error.inner_text()
        assert dialog.get_by_label("Base target URL").get_attribute("aria-invalid") == "true"
        # The re-rendered form replaced the focused button: focus goes to the refused field, in the dialog.
        wait_for(
            lambda: page.evaluate("document.activeElement.id") == "f-base_url",
            timeout=10,
            what="focus on the refused field",
        )
        screenshot(page, "portal-connection-form-error")
        assert [e for e in browser.console_errors if "422" not in e] == []  # the refused form itself
        browser.console_errors.clear()

        dialog.get_by_label("Base target URL").fill(gateway.upstream.url)
        with page.expect_navigation(url=base + "/connections"):  # a new load of the same URL
            dialog.get_by_role("button", name="Save connection").click()
        card = page.locator("article.conn-card", has_text="Ledger")
        card.get_by_role("button", name="Test connection").click()
        card.locator(".probe-result").filter(has_text="Reachable: HTTP 200").wait_for()
        card.get_by_role("button", name="Disable Ledger").click()
        # Disabling asks first, in the dialog, with what it does to live clients (here: nothing served yet).
        page.locator("dialog#modal").get_by_role("button", name="Disable connection").click()
        card.locator(".badge", has_text="DISABLED").wait_for()
        assert page.locator(".flash", has_text="Connection Ledger created").is_visible()
        screenshot(page, "portal-connections")
        assert browser.console_errors == [] and browser.page_errors == []

        # Someone else deletes it meanwhile: the stale card's button gets a 404, shown in the alert
        # area with its message, and the card is left as it was instead of holding an error page.
        with gateway.app.app_context():
            from janus.services import connections as connections_service

            ledger = next(c for c in connections_service.list_connections() if c["name"] == "Ledger")
            connections_service.delete_connection("someone-else", ledger["id"])
        card.get_by_role("button", name="Enable Ledger").click()
        alert = page.locator("#alerts .alert[role=alert]")
        alert.filter(has_text="not found").wait_for()
        assert card.locator(".badge", has_text="DISABLED").is_visible() and card.locator(".error-card").count() == 0
        screenshot(page, "portal-stale-action-alert")
        alert.get_by_role("button", name="Dismiss").click()
        assert page.locator("#alerts .alert").count() == 0


def test_a_viewer_sees_the_connections_but_cannot_change_them(gateway):
    with browser_page() as browser:
        page = browser.page
        sign_in(page, gateway.url, PASSWORD, "vera")
        page.get_by_role("link", name="API Connections").click()
        page.locator("article.conn-card").first.wait_for()
        assert page.get_by_role("link", name="+ Connect New API").count() == 0
        assert (
            page.get_by_role("link", name="Delete").count() == 0
            and page.get_by_role("button", name=re.compile("^(Disable|Enable) ")).count() == 0
        )
        response = page.request.post(
            gateway.url + "/connections/new", form={"name": "x", "base_url": "http://127.0.0.1:1"}
        )
        assert response.status in (400, 403)  # no token: CSRF refuses first; with one, the role check does
        screenshot(page, "portal-viewer")


def test_every_page_loads_only_from_the_gateway(gateway):
    base = gateway.url
    with browser_page() as browser:
        page = browser.page
        sign_in(page, base, PASSWORD)
        links = sorted(set(re.findall(r'href="(/[^"#?]*)"', page.content())))
        for path in links:
            if path.startswith("/static/"):
                continue
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
        toggle = page.get_by_role("button", name="Light theme")
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"  # the console's default
        assert toggle.get_attribute("aria-pressed") == "false"
        toggle.click()
        assert page.evaluate("document.documentElement.dataset.theme") == "light"
        assert toggle.get_attribute("aria-pressed") == "true"
        page.reload()
        page.wait_for_load_state("networkidle")  # fragments the page loads itself (health) finish first
        assert page.evaluate("document.documentElement.dataset.theme") == "light"  # remembered
        screenshot(page, "portal-dashboard-light")
    assert len(browser.requests) > 5
    browser.assert_requests_only_to(base)
    assert browser.failed_requests == [] and browser.console_errors == [] and browser.page_errors == []


def test_the_dashboard_counts_calls_running_on_any_worker(gateway):
    portal = requests.Session()
    form = portal.get(gateway.url + "/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    portal.post(
        gateway.url + "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token}, timeout=10
    )

    def running() -> str:
        html = portal.get(gateway.url + "/dashboard/activity", headers={"HX-Request": "true"}, timeout=10).text
        return re.search(r'data-stat="running">([^<]*)<', html).group(1)

    assert running() == "0 running"
    # Stateless 2026-07-28 calls: no session to set up first.
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "acc_slow_report", "arguments": {}, "_meta": stateless_meta()},
    }
    headers = mcp_headers(
        SLOW_TOKEN, **{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "acc_slow_report"}
    )
    calls = [
        threading.Thread(
            target=requests.post, args=(gateway.url + "/mcp",), kwargs={"json": call, "headers": headers, "timeout": 30}
        )
        for _ in range(3)
    ]
    for thread in calls:
        thread.start()
    try:
        wait_for(lambda: running() == "3 running", timeout=10)  # summed over both workers
    finally:
        gateway.release.set()
        for thread in calls:
            thread.join(30)
    wait_for(lambda: running() == "0 running", timeout=10)
