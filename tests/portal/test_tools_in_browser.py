"""The tools page's "Try it" in Debian's chromium against a real gateway: a write tool is sent only once confirmed."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import make_app
from tests.support.browser import browser_page, screenshot
from tests.support.catalog import add_connection, add_endpoint
from tests.support.portal import portal_gateway, sign_in
from tests.support.upstream import Upstream, json_response

PASSWORD = "try it browser test password 42"
SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "string"}, "quantity": {"type": "integer"}},
    "required": ["order_id", "quantity"],
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("try-it")
    upstream = Upstream().start()
    upstream.route("/orders/", lambda request: json_response({"created": request.get_json()}, status=201))
    server = portal_gateway(tmp, PASSWORD, workers=1)
    server.upstream = upstream
    app = make_app({"DATABASE_PATH": str(tmp / "gateway.db")})  # rows written beside the running server
    conn = add_connection(app, "Shop", upstream.url, "shop_")
    add_endpoint(
        app,
        conn,
        "place_order",
        "/orders/{{order_id}}",
        method="POST",
        schema=SCHEMA,
        body_template='{"quantity": {{quantity}}}',
    )
    yield server
    server.stop()
    upstream.stop()


def test_try_it_on_a_post_tool_shows_the_request_and_calls_only_on_confirm(gateway):
    base, upstream = gateway.url, gateway.upstream
    with browser_page() as browser:
        page = browser.page
        sign_in(page, base, PASSWORD, path="/tools")
        page.locator("#tool-groups tr", has_text="shop_place_order").get_by_role("link", name="Try it").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_role("heading", name="Try shop_place_order").wait_for()
        assert upstream.seen == []  # opening the panel calls nothing

        dialog.get_by_role("button", name="Preview request").click()
        line = dialog.locator("#try-request-line")
        line.wait_for()
        # The sample arguments from the schema, filled into the path and the body template.
        assert line.inner_text().strip() == f"POST {base.replace(str(gateway.port), str(upstream.port))}/orders/example"
        assert json.loads(dialog.locator("#try-request-body").inner_text()) == {"quantity": 1}
        confirm = dialog.get_by_role("button", name="Confirm: send POST")
        assert confirm.is_visible() and upstream.seen == []
        screenshot(page, "tools-try-it-preview")

        confirm.click()
        status = dialog.locator("#try-status")
        status.wait_for()
        assert [(s.method, s.path, json.loads(s.body)) for s in upstream.seen] == [
            ("POST", "/orders/example", {"quantity": 1})
        ]
        assert re.fullmatch(r"Upstream answered HTTP 201 in \d+\.\d ms", status.inner_text().strip())
        assert dialog.get_by_text("Request sent").is_visible()
        screenshot(page, "tools-try-it-result")
        assert browser.console_errors == [] and browser.page_errors == []
    browser.assert_requests_only_to(base)
    assert browser.failed_requests == []
