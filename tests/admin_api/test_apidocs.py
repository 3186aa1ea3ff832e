"""The OpenAPI document and Swagger UI: every route documented, nothing loaded from the internet."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from janus.admin_api.apidocs import SPEC_ROUTE, openapi_document

ROOT = Path(__file__).resolve().parents[2]

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def spec(app):
    response = app.test_client().get(SPEC_ROUTE)
    assert response.status_code == 200 and response.is_json
    return response.json


def _operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_the_spec_is_a_valid_openapi_3_1_document(spec):
    # 3.1: its schemas are JSON Schema 2020-12, the dialect of the resource models (janus.schemas) and of MCP.
    assert spec["openapi"] == "3.1.0"
    validate(spec)  # raises on any deviation from the OpenAPI 3.1 schema


def test_the_spec_documents_exactly_the_routes_of_the_blueprint(app, spec):
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert {(path, method) for path, method, _ in _operations(spec)} == routes
    assert not [p for p in spec["paths"] if not p.startswith("/api/v1/")]


def test_every_operation_states_its_security_parameters_body_and_error_answers(spec):
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert spec["security"] == [{"bearerAuth": []}]
    for path, method, op in _operations(spec):
        where = f"{method.upper()} {path}"
        codes = set(op["responses"])
        if path == "/api/v1/login":
            assert op["security"] == [] and codes == {"200", "400", "401", "429"}, where
            continue
        if path == "/api/v1/login/sso":  # before any session, like /login
            assert op["security"] == [] and "404" in codes, where
            continue
        assert "security" not in op and "401" in codes, where  # the document's bearer JWT applies
        if path == "/api/v1/logout":  # any signed-in user may end their own session, and it has no body
            assert codes == {"204", "401"} and "requestBody" not in op, where
            continue
        if method != "get":
            assert "403" in codes, where
        if method in {"post", "put", "patch"}:
            assert op["requestBody"]["required"] and "400" in codes, where
        params = {p["name"] for p in spec["paths"][path].get("parameters", [])}
        assert params == set(re.findall(r"{(\w+)}", path)), where
        for code, answer in op["responses"].items():
            if code[0] in "45":
                assert answer["$ref"].startswith("#/components/responses/"), where
            elif path.endswith("/export"):  # a streamed download, not a JSON document
                assert set(answer["content"]) == {"application/x-ndjson", "text/csv"}, where
            elif code != "204":
                assert answer["content"]["application/json"]["schema"], where
    audit = {p["name"] for p in spec["paths"]["/api/v1/audit/tool-calls"]["get"]["parameters"]}
    assert audit == {"tool", "status", "token", "trace", "retried", "redacted", "since", "until", "page", "per_page"}


def test_error_answers_share_one_shape(spec):
    for name, answer in spec["components"]["responses"].items():
        schema = answer["content"]["application/json"]["schema"]
        assert schema["required"] == ["error", "message"] and schema["additionalProperties"] is False, name


def test_token_and_user_shapes_cannot_carry_a_hash_or_a_password(spec):
    schemas = spec["components"]["schemas"]
    for name in ("Token", "User", "Connection", "Endpoint"):
        assert schemas[name]["additionalProperties"] is False
        assert not {"token_hash", "password_hash", "password", "token"} & set(schemas[name]["properties"])


def test_the_served_spec_is_the_document_janus_builds_itself(app, spec):
    assert spec == json.loads(json.dumps(openapi_document()))
    assert app.test_client().get(SPEC_ROUTE).headers["Content-Type"] == "application/json"


def test_swagger_ui_is_served_from_the_gateway_alone(app):
    client = app.test_client()
    assert client.get("/apidocs").status_code in {301, 308}
    page = client.get("/apidocs/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert not re.findall(r"https?://", html), "the page must not load or link anything off the gateway"
    assert f'data-spec-url="{SPEC_ROUTE}"' in html
    # The portal's CSP applies here too, and the page needs no exception from it.
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and page.headers["X-Frame-Options"] == "DENY"
    assert not re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html), "no inline script"
    assert " style=" not in html and "<style" not in html, "no inline style"
    assets = re.findall(r'(?:src|href)="(/[^"]+)"', html)
    # Swagger UI is the copy the portal vendors (VENDORED.md pins its version and hashes); no jQuery at all.
    assert {a for a in assets if "swagger-ui" in a} == {
        "/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "/static/vendor/swagger-ui/swagger-ui.css",
        "/static/vendor/swagger-ui/favicon-32x32.png",
    }
    assert "jquery" not in html.lower()
    for asset in assets:
        assert asset.startswith("/static/") or asset == SPEC_ROUTE, asset
        response = client.get(asset)
        assert response.status_code == 200, asset
        response.close()


def test_the_start_up_script_names_the_spec_and_never_takes_one_from_the_query_string():
    script = (ROOT / "janus/static/js/apidocs-init.js").read_text()
    assert "queryConfigEnabled: false" in script and "validatorUrl: null" in script
    assert "location." not in script and "URLSearchParams" not in script  # nothing read from the page's URL


def test_flasgger_and_its_bundled_assets_are_gone(app):
    client = app.test_client()
    for url in (
        "/flasgger_static/swagger-ui-bundle.js",
        "/flasgger_static/lib/jquery.min.js",
        "/flasgger_static/swagger-ui.css",
        "/apidocs/index.html",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"jQuery" not in response.data and b"swagger" not in response.data.lower(), url
    assert not [r.rule for r in app.url_map.iter_rules() if "flasgger" in r.rule or "flasgger" in r.endpoint]
    sources = [*ROOT.joinpath("janus").rglob("*.py"), *ROOT.joinpath("janus").rglob("*.html")]
    assert not [str(p) for p in sources if re.search(r"^\s*(from|import) flasgger|flasgger\.", p.read_text(), re.M)]


def test_every_flask_response_carries_the_baseline_security_headers(app):
    client = app.test_client()
    for url in ("/api/v1/connections", "/static/css/portal.css", "/no-such-page", "/healthz"):
        with client.get(url) as response:  # closed: a static file's response holds the file open
            headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff", url
        assert headers["X-Frame-Options"] == "DENY" and headers["Referrer-Policy"] == "same-origin", url
