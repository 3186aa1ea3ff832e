"""Roles: a viewer reads everything and changes nothing; every route but login needs a session."""

from __future__ import annotations

import pytest

from tests.admin_api.conftest import add_user, assert_refused, create

FORBIDDEN = "user 'vera' has role 'viewer'; this needs role 'admin'"
CHANGES = [
    ("POST", "/api/v1/connections", {"name": "New", "base_url": "https://new.example.test"}),
    ("PATCH", "/api/v1/connections/{connection}", {"description": "x"}),
    ("DELETE", "/api/v1/connections/{connection}", None),
    # A preview changes nothing, but it names client tokens and their scopes: admins only.
    ("POST", "/api/v1/connections/{connection}/impact", {"action": "delete"}),
    ("POST", "/api/v1/endpoints", {"connection_id": "{connection}", "tool_name": "t2", "path_template": "/t"}),
    ("PATCH", "/api/v1/endpoints/{endpoint}", {"enabled": False}),
    ("DELETE", "/api/v1/endpoints/{endpoint}", None),
    ("POST", "/api/v1/endpoints/bulk", {"action": "delete", "ids": ["{endpoint}"]}),
    ("POST", "/api/v1/tokens", {"name": "t"}),
    ("PATCH", "/api/v1/tokens/{token}", {"enabled": False}),
    ("DELETE", "/api/v1/tokens/{token}", None),
    ("PUT", "/api/v1/vault/keys/{key}", {"value": "v"}),
    ("DELETE", "/api/v1/vault/keys/{key}", None),
    ("POST", "/api/v1/users", {"username": "u2", "password": "long-enough-password"}),
    ("PATCH", "/api/v1/users/{user}", {"role": "admin"}),
    ("DELETE", "/api/v1/users/{user}", None),
    (
        "POST",
        "/api/v1/import/openapi",
        {
            "spec": {
                "openapi": "3.0.3",
                "info": {"title": "t", "version": "1"},
                "servers": [{"url": "https://i.example.test"}],
                "paths": {"/p": {"get": {"operationId": "get_p", "responses": {"200": {"description": "ok"}}}}},
            },
            "prefix": "imp_",
        },
    ),
]
READS = [
    "/api/v1/connections",
    "/api/v1/connections/{connection}",
    "/api/v1/endpoints",
    "/api/v1/endpoints/{endpoint}",
    "/api/v1/tokens",
    "/api/v1/vault/keys",
    "/api/v1/users",
    "/api/v1/audit/tool-calls",
    "/api/v1/audit/tool-calls/export",
    "/api/v1/audit/admin",
    "/api/v1/status",
    "/api/v1/verify",
]


@pytest.fixture
def world(app, api, admin) -> dict[str, str]:
    conn = create(api, admin, "/api/v1/connections", {"name": "C", "base_url": "http://127.0.0.1:9"})
    ep = create(api, admin, "/api/v1/endpoints", {"connection_id": conn["id"], "tool_name": "t", "path_template": "/t"})
    token = create(api, admin, "/api/v1/tokens", {"name": "t"})
    assert api.put("/api/v1/vault/keys/prod/k", headers=admin, json={"value": "v"}).status_code == 200
    return {
        "connection": conn["id"],
        "endpoint": ep["id"],
        "token": token["id"],
        "key": "prod/k",
        "user": add_user(app, "other", "viewer"),
    }


def _fill(value, ids):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def _routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = rule.rule.replace("<path:key>", "{key}")
            for name in rule.arguments:
                path = path.replace(f"<{name}>", "{" + name.removesuffix("_id") + "}")
            routes |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def test_these_lists_cover_every_admin_api_route(app):
    listed = {(m, p) for m, p, _ in CHANGES} | {("GET", p) for p in READS} | {("POST", "/api/v1/login")}
    listed |= {("POST", "/api/v1/logout")}  # any signed-in user ends their own session (tests/admin_api/test_auth.py)
    # Single sign-on happens before any session, like the password login (tests/cli/test_mcp_cli_sso_users.py).
    listed |= {("GET", "/api/v1/login/sso"), ("POST", "/api/v1/login/sso")}
    assert listed == _routes(app)


@pytest.mark.parametrize("method, path, body", CHANGES, ids=[f"{m} {p}" for m, p, _ in CHANGES])
def test_a_viewer_gets_403_on_every_change_and_nothing_changes(app, api, viewer, world, method, path, body):
    assert_refused(app, api, method, _fill(path, world), viewer, _fill(body, world), status=403, message=FORBIDDEN)


@pytest.mark.parametrize("path", READS)
def test_a_viewer_may_read_everything(app, api, viewer, world, path):
    response = api.get(_fill(path, world), headers=viewer)
    if path.endswith("/export"):  # a streamed download (JSON Lines), read to its end
        assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
        response.get_data()
        response.close()
        return
    assert response.status_code == 200 and response.is_json


@pytest.mark.parametrize("method, path", [(m, p) for m, p, _ in CHANGES] + [("GET", p) for p in READS], ids=lambda v: v)
def test_every_route_but_login_needs_a_session(app, api, world, method, path):
    assert_refused(
        app,
        api,
        method,
        _fill(path, world),
        None,
        {} if method in {"POST", "PUT", "PATCH"} else None,
        status=401,
        message="log in first: POST /api/v1/login, then send 'Authorization: Bearer <session token>'",
    )
