"""Header parameters over the admin API: stored and read back, changed and cleared with an audit row, and every
refusal a 400 naming the problem with nothing stored — a header the gateway owns, one the connection's
credentials set (bearer, or a custom-headers secret read from the vault), an argument used elsewhere."""

from __future__ import annotations

import json

import pytest

from tests.admin_api.conftest import assert_refused, audit_rows, create

URL = "/api/v1/endpoints"
SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "rid": {"type": "string"}, "key": {"type": "string"}},
    "required": ["id"],
}
VAULT_VALUE = "custom-header-secret-value-0042"


@pytest.fixture
def billing(api, admin):
    return create(
        api, admin, "/api/v1/connections", {"name": "Billing", "base_url": "https://b.example.test", "prefix": "b_"}
    )


def _endpoint(billing, header_params, **extra):
    return {
        "connection_id": billing["id"],
        "tool_name": "get_item",
        "path_template": "/items/{{id}}",
        "input_schema": SCHEMA,
        "header_params": header_params,
        **extra,
    }


def test_header_params_are_stored_read_back_changed_and_cleared_with_audit_rows(app, api, admin, billing):
    params = [{"argument": "rid", "header": "X-Request-Id"}, {"header": "X-Api-Version", "value": "2022-11-28"}]
    ep = create(api, admin, URL, _endpoint(billing, params))
    assert ep["header_params"] == params
    assert api.get(f"{URL}/{ep['id']}", headers=admin).json["header_params"] == params
    changed = api.patch(f"{URL}/{ep['id']}", headers=admin, json={"header_params": params[:1]})
    assert changed.status_code == 200 and changed.json["header_params"] == params[:1]
    [row] = audit_rows(app, "endpoint.update")
    assert row.details["before"]["header_params"] == params and row.details["after"]["header_params"] == params[:1]
    cleared = api.patch(f"{URL}/{ep['id']}", headers=admin, json={"header_params": []})
    assert cleared.json["header_params"] is None


@pytest.mark.parametrize(
    "header",
    ["Authorization", "Host", "Content-Length", "Cookie", "Transfer-Encoding", "Connection", "content-type"],
)
def test_a_header_the_gateway_owns_is_refused_at_save(app, api, admin, billing, header):
    assert_refused(
        app,
        api,
        "POST",
        URL,
        admin,
        _endpoint(billing, [{"argument": "rid", "header": header}]),
        status=400,
        message=f"header {header!r} cannot be a header parameter: the gateway sets it itself (credentials, framing, "
        "content negotiation or tracing)",
    )


@pytest.mark.parametrize(
    "params, extra, message",
    [
        (
            [{"argument": "nope", "header": "X-Request-Id"}],
            {},
            "argument 'nope' of header 'X-Request-Id' must be a property of the input schema",
        ),
        (
            [{"argument": "id", "header": "X-Id"}],
            {},
            "argument 'id' is sent as the header 'X-Id', so it cannot also be a path placeholder",
        ),
        (
            [{"argument": "rid", "header": "X-Request-Id"}],
            {"method": "POST", "path_template": "/items/{{id}}", "body_template": '{"r": "{{rid}}"}'},
            "argument 'rid' is sent as the header 'X-Request-Id', so it cannot also be a body template placeholder",
        ),
        ([{"argument": "rid", "header": "X Request"}], {}, "header name 'X Request' is invalid"),
        ([{"header": "X-V", "value": "1\r\nHost: evil"}], {}, "the fixed value of header 'X-V' contains CR, LF or NUL"),
    ],
    ids=["undeclared-argument", "path-argument", "body-argument", "bad-name", "crlf-fixed-value"],
)
def test_a_header_param_that_cannot_work_is_refused_naming_why(app, api, admin, billing, params, extra, message):
    before = len(api.get(URL, headers=admin).json["items"])
    response = api.post(URL, headers=admin, json=_endpoint(billing, params, **extra))
    assert response.status_code == 400 and message in response.json["message"], response.json
    assert len(api.get(URL, headers=admin).json["items"]) == before


def test_a_bearer_connections_authorization_is_never_a_header_param(app, api, admin):
    conn = create(
        api,
        admin,
        "/api/v1/connections",
        {
            "name": "Bearer",
            "base_url": "https://a.example.test",
            "prefix": "a_",
            "auth_type": "bearer",
            "auth_secret_ref": "a/token",
        },
    )
    response = api.post(URL, headers=admin, json=_endpoint(conn, [{"argument": "key", "header": "authorization"}]))
    assert response.status_code == 400 and "cannot be a header parameter" in response.json["message"]


def test_a_header_a_custom_headers_secret_sets_is_refused_without_showing_the_secret(app, api, admin):
    secret = api.put(
        "/api/v1/vault/keys/a/headers", headers=admin, json={"value": json.dumps({"X-Api-Key": VAULT_VALUE})}
    )
    assert secret.status_code in (200, 201), secret.json
    conn = create(
        api,
        admin,
        "/api/v1/connections",
        {
            "name": "Keyed",
            "base_url": "https://k.example.test",
            "prefix": "k_",
            "auth_type": "custom_headers",
            "auth_secret_ref": "a/headers",
        },
    )
    response = api.post(URL, headers=admin, json=_endpoint(conn, [{"argument": "key", "header": "x-api-key"}]))
    assert response.status_code == 400, response.json
    assert response.json == {
        "error": "validation_error",
        "message": "header 'x-api-key' is set by the credentials of connection 'Keyed' (custom_headers); a "
        "header parameter cannot replace it",
    }
    assert VAULT_VALUE not in response.get_data(as_text=True)
    # Another header on the same connection is fine.
    ok = api.post(URL, headers=admin, json=_endpoint(conn, [{"argument": "rid", "header": "X-Request-Id"}]))
    assert ok.status_code == 201, ok.json
