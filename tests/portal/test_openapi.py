"""The OpenAPI page as the server sends it: a token form that cannot leak, strict headers, vendored Swagger UI only."""

from __future__ import annotations

import re
from pathlib import Path

from janus.portal.security import CONTENT_SECURITY_POLICY
from tests.support.catalog import add_connection, add_endpoint, add_token

STATIC = Path(__file__).resolve().parents[2] / "janus" / "static"
TOKEN = "openapi_page_token_with_enough_entropy_1"


def test_the_page_offers_a_token_form_that_never_submits_the_token_to_the_portal(admin):
    page = admin.get("/openapi")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    form = re.search(r'<form id="spec-form"[^>]*>(.*?)</form>', text, re.S)
    assert form and 'data-spec-url="/api/openapi.json"' in form.group(0)
    assert "method=" not in form.group(0).split(">", 1)[0]  # no POST to the portal
    token_input = re.search(r'<input id="client-token"[^>]*>', form.group(1)).group(0)
    assert "name=" not in token_input and "value=" not in token_input  # a nameless input is never submitted
    assert 'type="password"' in token_input and 'autocomplete="off"' in token_input
    assert re.search(r'<label for="client-token">Client token</label>', text)
    for asset in (
        "/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "/static/vendor/swagger-ui/swagger-ui.css",
        "/static/js/swagger-init.js",
        "/static/css/portal-openapi.css",
    ):
        assert f'"{asset}' in text, asset
    assert re.findall(r'(?:src|href)="(https?:)?//', text) == []  # nothing from outside the gateway
    assert 'href="/apidocs/"' in text and 'href="/guides#rest"' in text


def test_the_page_keeps_the_portals_strict_headers(admin):
    page = admin.get("/openapi")
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY  # Swagger UI needs no relaxation
    assert "'unsafe-inline'" not in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Cache-Control"] == "no-store"


def test_a_viewer_may_read_the_reference_and_a_stranger_is_sent_to_sign_in(viewer, portal_app):
    assert viewer.get("/openapi").status_code == 200
    stranger = portal_app.test_client().get("/openapi")
    assert stranger.status_code == 302 and stranger.headers["Location"].startswith("/login")


def test_swagger_init_loads_nothing_from_outside_and_stores_nothing():
    script = (STATIC / "js" / "swagger-init.js").read_text()
    assert "validatorUrl: null" in script and "queryConfigEnabled: false" in script
    assert "persistAuthorization: false" in script and "requestInterceptor: withToken" in script
    assert re.findall(r"https?://", script) == []
    code = re.sub(r"//.*", "", script)  # the comments name what is never done
    assert "localStorage" not in code and "sessionStorage" not in code and "document.cookie" not in code


def test_the_document_the_page_fetches_lists_exactly_the_tokens_tools(admin, upstream):
    conn = add_connection(admin.app, "Ledger", upstream.url, "ledger_")
    other = add_connection(admin.app, "Payroll", upstream.url, "payroll_")
    add_endpoint(admin.app, conn, "get_entry", "/entries/{{id}}")
    add_endpoint(admin.app, other, "get_salary", "/salaries/{{id}}")
    add_token(admin.app, "Ledger only", TOKEN, "ledger_*")
    client = admin.app.test_client()  # no portal session: the bearer token alone decides
    assert client.get("/api/openapi.json").status_code == 401
    spec = client.get("/api/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert list(spec["paths"]) == ["/api/tools/ledger_get_entry"]
    assert admin.get("/api/openapi.json").status_code == 401  # a portal session is no client token


def test_a_signed_in_user_reads_every_enabled_tool_without_a_client_token(viewer, upstream):
    conn = viewer.app
    ledger = add_connection(conn, "Ledger", upstream.url, "ledger_")
    payroll = add_connection(conn, "Payroll", upstream.url, "payroll_", enabled=False)
    for i in range(120):  # more than one tools/list page (TOOLS_PAGE_SIZE 100)
        add_endpoint(conn, ledger, f"get_entry_{i:03d}", "/entries/{{id}}")
    add_endpoint(conn, payroll, "get_salary", "/salaries/{{id}}")
    reply = viewer.get("/openapi/spec.json")
    assert reply.status_code == 200 and reply.mimetype == "application/json"
    paths = reply.get_json()["paths"]
    assert len(paths) == 120 and "/api/tools/payroll_get_salary" not in paths  # disabled connection
    assert viewer.app.test_client().get("/openapi/spec.json").status_code == 302  # strangers sign in first


def test_a_tokens_document_lists_all_its_tools_beyond_one_tools_list_page(admin, upstream):
    conn = add_connection(admin.app, "Ledger", upstream.url, "ledger_")
    for i in range(130):
        add_endpoint(admin.app, conn, f"get_entry_{i:03d}", "/entries/{{id}}")
    add_token(admin.app, "Ledger only", TOKEN, "ledger_*")
    reply = admin.app.test_client().get("/api/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200 and len(reply.get_json()["paths"]) == 130
