"""/apidocs/ in Debian's chromium against a real gateway: the vendored Swagger UI, and no document from elsewhere."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.support.browser import browser_page, screenshot
from tests.support.server import GatewayServer
from tests.support.upstream import Upstream, json_response

# What an attacker would host: a Swagger UI config pointing at their own document, and that document.
EVIL_SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "Evil API", "version": "1", "description": "Log in at evil"},
    "paths": {"/phish": {"get": {"responses": {"200": {"description": "ok"}}}}},
}


def _cors(response):
    response.headers["Access-Control-Allow-Origin"] = "*"  # so only the page's own rules can stop a fetch
    return response


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("apidocs")
    with GatewayServer(
        str(tmp / "gateway.db"), VAULT_LOCAL_PATH=str(tmp / "secrets.json"), WEB_CONCURRENCY="1"
    ) as server:
        yield server


@pytest.fixture
def evil():
    server = Upstream().start()
    server.route("/evil.json", lambda request: _cors(json_response({"url": f"{server.url}/evil-spec.json"})))
    server.route("/evil-spec.json", lambda request: _cors(json_response(EVIL_SPEC)))
    yield server
    server.stop()


def test_a_config_url_or_spec_url_in_the_query_string_is_never_fetched(gateway, evil):
    target = quote(f"{evil.url}/evil.json", safe="")
    spec = quote(f"{evil.url}/evil-spec.json", safe="")
    with browser_page() as browser:
        page = browser.page
        page.goto(f"{gateway.url}/apidocs/?configUrl={target}&url={spec}")
        # Janus's own document is rendered: the start-up (where a config URL would be read) is over.
        page.get_by_text("/api/v1/connections", exact=True).first.wait_for()
        page.locator(".info .title", has_text="Janus admin API").wait_for()
        screenshot(page, "apidocs-with-config-url")
        assert page.get_by_text("Evil API").count() == 0
        assert browser.console_errors == [] and browser.page_errors == []  # a CSP-blocked fetch would show here
    assert evil.seen == []
    browser.assert_requests_only_to(gateway.url)
    assert not [url for url in browser.requests if "jquery" in url.lower() or "flasgger" in url]
    assert f"{gateway.url}/static/vendor/swagger-ui/swagger-ui-bundle.js" in browser.requests
