"""Hostile values in every field of every body: always a JSON answer, never a server error."""

from __future__ import annotations

import json

import pytest

from tests.admin_api.conftest import add_user, create

# JSON texts, some of which Python's json.dumps cannot produce (NaN, unpaired surrogates, huge numbers).
VALUES = [
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1.5",
    "1e999",
    "-1e999",
    "NaN",
    "Infinity",
    "1" + "0" * 400,
    '""',
    '" "',
    '"\\u0000"',
    '"a\\u0000b"',
    '"\\ud800"',
    '"\\udfff\\ud800x"',
    '"' + "x" * 100_000 + '"',
    '"é💥\\u202e"',
    "[]",
    "{}",
    "[null]",
    '{"a": null}',
    '["x", 1]',
    '"../../etc/passwd"',
    '"http://[::1"',
    '"%00"',
    '"9999-12-31T23:59:59-12:00"',
]
MARK = "\u2603marker\u2603"


@pytest.fixture
def existing(app, api, admin) -> dict[str, str]:
    conn = create(api, admin, "/api/v1/connections", {"name": "C", "base_url": "http://127.0.0.1:9", "prefix": "c_"})
    ep = create(api, admin, "/api/v1/endpoints", {"connection_id": conn["id"], "tool_name": "t", "path_template": "/t"})
    token = create(api, admin, "/api/v1/tokens", {"name": "t"})
    return {
        "connection": conn["id"],
        "endpoint": ep["id"],
        "token": token["id"],
        "user": add_user(app, "vic", "viewer"),
    }


ROUTES = {
    "login": ("POST", "/api/v1/login", {"username": "root", "password": "x" * 12}),
    "create connection": (
        "POST",
        "/api/v1/connections",
        {
            "name": "N",
            "base_url": "https://n.example.test",
            "prefix": "n_",
            "description": "d",
            "auth_type": "none",
            "auth_secret_ref": "r",
            "enabled": True,
            "timeout_seconds": 5,
        },
    ),
    "change connection": (
        "PATCH",
        "/api/v1/connections/{connection}",
        {
            "name": "N",
            "base_url": "https://n.example.test",
            "prefix": "n_",
            "description": "d",
            "auth_type": "none",
            "auth_secret_ref": "r",
            "enabled": True,
            "timeout_seconds": 5,
        },
    ),
    "create endpoint": (
        "POST",
        "/api/v1/endpoints",
        {
            "connection_id": "{connection}",
            "tool_name": "u",
            "description": "d",
            "method": "POST",
            "path_template": "/u",
            "input_schema": {"type": "object"},
            "body_template": "{}",
            "enabled": True,
        },
    ),
    "change endpoint": (
        "PATCH",
        "/api/v1/endpoints/{endpoint}",
        {
            "tool_name": "u",
            "description": "d",
            "method": "POST",
            "path_template": "/u",
            "input_schema": {"type": "object"},
            "body_template": "{}",
            "enabled": True,
        },
    ),
    "create token": (
        "POST",
        "/api/v1/tokens",
        {"name": "n", "token": "t" * 24, "role": "developer", "scopes": "a_*", "expires_at": None, "enabled": True},
    ),
    "change token": (
        "PATCH",
        "/api/v1/tokens/{token}",
        {"name": "n", "role": "developer", "scopes": "a_*", "expires_at": None, "enabled": True},
    ),
    "create user": (
        "POST",
        "/api/v1/users",
        {"username": "u", "password": "p" * 12, "role": "viewer", "enabled": True},
    ),
    "change user": ("PATCH", "/api/v1/users/{user}", {"role": "viewer", "enabled": True}),
    "store secret": ("PUT", "/api/v1/vault/keys/k", {"value": "v"}),
}


@pytest.mark.parametrize("route", ROUTES)
def test_every_field_of_every_body_survives_hostile_values(app, api, admin, existing, route):
    method, url, body = ROUTES[route]
    url = url.format(**existing)
    body = {k: existing["connection"] if v == "{connection}" else v for k, v in body.items()}
    crashes = []
    for field in body:
        for value in VALUES:
            text = json.dumps({**body, field: MARK}).replace(json.dumps(MARK), value)
            response = api.open(url, method=method, headers=admin, data=text, content_type="application/json")
            answer = response.json
            ok = response.status_code < 500 and isinstance(answer, dict)
            if ok and response.status_code >= 400:
                ok = set(answer) == {"error", "message"} and answer["message"]
            if not ok:
                crashes.append((field, value[:40], response.status_code, answer))
    assert crashes == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/connections/{}",
        "/api/v1/endpoints/{}",
        "/api/v1/tokens/{}",
        "/api/v1/users/{}",
        "/api/v1/vault/keys/{}",
    ],
)
@pytest.mark.parametrize(
    "ident", ["%00", "x%00y", "%ED%A0%80", "%FF", "..", "a" * 600, "%F0%9F%92%A5", "'; drop table users; --"]
)
def test_hostile_ids_in_the_path_answer_a_json_error(app, api, admin, path, ident):
    for method in ("GET", "PATCH", "DELETE", "PUT"):
        response = api.open(path.format(ident), method=method, headers=admin, json={})
        assert response.status_code < 500 and set(response.json) == {"error", "message"}, (method, response.json)


def test_a_body_with_several_bad_fields_names_each_of_them(app, api, admin):
    reply = api.post(
        "/api/v1/connections", headers=admin, json={"name": "", "base_url": "ftp://x", "timeout_seconds": -1}
    )
    body = reply.get_json()
    assert (
        reply.status_code == 400 and body["error"] == "validation_error" and body["message"] == "name must not be empty"
    )
    assert set(body["fields"]) == {"name", "base_url", "timeout_seconds"}
    assert "between 0.1 and 600" in body["fields"]["timeout_seconds"]
