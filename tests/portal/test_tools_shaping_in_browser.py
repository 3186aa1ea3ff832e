"""The endpoint editor's "Test on the sample" in Debian's chromium against a real gateway: the sample is masked
as the endpoint's connection masks its calls, on the edit form (the connection is shown, not posted) and on the
new-tool form (the connection chosen in the select)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import make_app
from tests.support.browser import browser_page, screenshot
from tests.support.catalog import add_connection, add_endpoint
from tests.support.fake_credentials import card_number, email_address
from tests.support.portal import portal_gateway, sign_in

PASSWORD = "shaping browser test password 42"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shaping-test")
    server = portal_gateway(tmp, PASSWORD, workers=1)
    app = make_app({"DATABASE_PATH": str(tmp / "gateway.db")})  # rows written beside the running server
    masked = add_connection(app, "HR", "http://127.0.0.1:9", "hr_", redaction=True)
    add_connection(app, "Clear", "http://127.0.0.1:9", "clear_", redaction=False)
    server.endpoint_id = add_endpoint(app, masked, "people", "/people")
    yield server
    server.stop()


def _test_on_the_sample(page, sample: str) -> None:
    page.get_by_label("Sample JSON answer").fill(sample)
    page.get_by_role("button", name="Test on the sample").click()
    page.locator("#shaping-masking").wait_for()


def test_the_sample_is_masked_as_the_connections_calls_are(gateway):
    mail, card = email_address(), card_number()
    sample = json.dumps({"people": [{"mail": mail, "card": card}]})
    with browser_page() as browser:
        page = browser.page
        sign_in(page, gateway.url, PASSWORD, path=f"/tools/{gateway.endpoint_id}/edit")
        _test_on_the_sample(page, sample)
        output = page.locator("#shaping-output").inner_text()
        assert mail not in output and card not in output and "[redacted:email]" in output
        assert page.locator("#shaping-redacted").inner_text() == "email×1, card×1"
        assert "for the connection HR" in page.locator("#shaping-masking").inner_text()
        screenshot(page, "tools-shaping-test-masked")

        page.goto(gateway.url + "/tools/new")
        page.get_by_label("API connection source").select_option(label="Clear (clear_)")
        _test_on_the_sample(page, sample)
        assert mail in page.locator("#shaping-output").inner_text()
        assert "DLP masking is off for the connection Clear" in page.locator("#shaping-masking").inner_text()
        page.get_by_label("API connection source").select_option(label="HR (hr_)")
        page.get_by_role("button", name="Test on the sample").click()
        page.locator("#shaping-redacted").wait_for()
        assert mail not in page.locator("#shaping-output").inner_text()
