"""Response shaping and DLP set over the admin API and applied to real calls: the endpoint's projection
and caps, the connection's masking override, the audit row's classes and counts (never a value)."""

from __future__ import annotations

import logging

import pytest

from janus.runtime import get_runtime
from tests.admin_api.conftest import assert_refused, create, snapshot
from tests.support import fake_credentials
from tests.support.upstream import json_response

RAW = {
    "email": "jane.doe@example.com",
    "card": "4111 1111 1111 1111",
    "iban": "GB29NWBK60161331926819",
    "aws": fake_credentials.aws_access_key_id(),
}
TOKEN = "mcp_shaping-test-token-0123456789abcdef"


@pytest.fixture
def people(upstream):
    upstream.route(
        "/people",
        lambda request: json_response(
            {
                "people": [
                    {"id": i, "name": f"P{i}", "email": RAW["email"], "card": RAW["card"], "iban": RAW["iban"]}
                    for i in range(5)
                ],
                "debug": {"key": RAW["aws"]},
            }
        ),
    )
    return upstream


def _connection(api, admin, upstream, name, prefix, **fields):
    body = {"name": name, "base_url": upstream.url, "prefix": prefix, **fields}
    return create(api, admin, "/api/v1/connections", body)


def _endpoint(api, admin, connection, **fields):
    body = {"connection_id": connection["id"], "tool_name": "people", "path_template": "/people", **fields}
    return create(api, admin, "/api/v1/endpoints", body)


def _call(app, api, admin, name):
    create(api, admin, "/api/v1/tokens", {"name": "agent", "scopes": "*", "token": TOKEN})
    reply = api.post(f"/api/tools/{name}", json={}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return reply.json


def test_shaping_fields_are_stored_shown_and_cleared(app, api, admin, upstream):
    conn = _connection(api, admin, upstream, "People", "hr_", redaction=True)
    assert conn["redaction"] is True
    ep = _endpoint(api, admin, conn, response_projection="people[].name", max_items=3, render_table=True)
    assert (ep["response_projection"], ep["max_items"], ep["max_text_chars"], ep["render_table"]) == (
        "people[].name",
        3,
        None,
        True,
    )
    changed = api.patch(f"/api/v1/endpoints/{ep['id']}", headers=admin, json={"response_projection": ""}).json
    assert changed["response_projection"] is None and changed["max_items"] == 3
    cleared = api.patch(f"/api/v1/connections/{conn['id']}", headers=admin, json={"redaction": None}).json
    assert cleared["redaction"] is None


@pytest.mark.parametrize(
    "fields, message",
    [
        (
            {"response_projection": "people[?x==]"},
            "response_projection is not a valid JMESPath expression: invalid token: Parse error at column 11, "
            'token "]" (RBRACKET), for expression:\n"people[?x==]"\n            ^',
        ),
        ({"max_items": 0}, "max_items must be between 1 and 100000"),
        ({"max_text_chars": 10}, "max_text_chars must be between 100 and 10000000"),
        ({"render_table": "maybe"}, "render_table must be true or false"),
    ],
)
def test_bad_shaping_is_refused_with_a_specific_400(app, api, admin, upstream, fields, message):
    conn = _connection(api, admin, upstream, "People", "hr_")
    body = {"connection_id": conn["id"], "tool_name": "people", "path_template": "/people", **fields}
    assert_refused(app, api, "POST", "/api/v1/endpoints", admin, body, status=400, message=message)


def test_a_bad_redaction_override_is_refused_with_a_specific_400(app, api, admin, upstream):
    body = {"name": "People", "base_url": upstream.url, "redaction": "sometimes"}
    message = "redaction must be true, false or null"
    assert_refused(app, api, "POST", "/api/v1/connections", admin, body, status=400, message=message)


def test_a_masked_call_is_audited_with_classes_and_counts_and_no_value_is_stored_or_logged(
    app, api, admin, people, caplog
):
    caplog.set_level(logging.DEBUG)
    conn = _connection(api, admin, people, "People", "hr_", redaction=True)
    _endpoint(api, admin, conn, response_projection="{people: people, debug: debug}", max_items=2)
    result = _call(app, api, admin, "hr_people")

    assert [p["id"] for p in result["structuredContent"]["people"]] == [0, 1]
    assert result["structuredContent"]["people"][0]["email"] == "[redacted:email]"
    assert result["structuredContent"]["debug"] == {"key": "[redacted:aws_key]"}
    marker = result["_meta"]["io.janus/shaping"]
    assert marker["items"] == [{"path": "people", "total": 5, "kept": 2}]
    assert marker["redacted"] == {"email": 2, "card": 2, "aws_key": 1, "iban": 2}
    shown = str(result)
    assert not [value for value in RAW.values() if value in shown]

    get_runtime(app).audit.flush()
    calls = api.get("/api/v1/audit/tool-calls", headers=admin).json["items"]
    assert [(c["tool_name"], c["status"], c["redactions"]) for c in calls] == [
        ("hr_people", "success", "email:2,card:2,aws_key:1,iban:2")
    ]
    stored = repr(snapshot(app))
    assert not [value for value in RAW.values() if value in stored]
    assert not [value for value in RAW.values() if value in caplog.text]


def test_a_connection_that_turns_masking_off_passes_the_data_and_audits_nothing_masked(app, api, admin, people):
    app.config["REDACTION_ENABLED"] = True  # read when the runtime builds its executor (the first call)
    conn = _connection(api, admin, people, "People", "hr_", redaction=False)
    _endpoint(api, admin, conn, response_projection="people[0]")
    result = _call(app, api, admin, "hr_people")
    assert result["structuredContent"]["email"] == RAW["email"]
    assert "redacted" not in result["_meta"]["io.janus/shaping"]
    get_runtime(app).audit.flush()
    calls = api.get("/api/v1/audit/tool-calls", headers=admin).json["items"]
    assert [c["redactions"] for c in calls] == [None]


def test_the_global_setting_masks_a_connection_that_follows_it(app, api, admin, people):
    app.config["REDACTION_ENABLED"] = True
    conn = _connection(api, admin, people, "People", "hr_")
    _endpoint(api, admin, conn, response_projection="people[0].email")
    result = _call(app, api, admin, "hr_people")
    assert result["content"][0]["text"] == '"[redacted:email]"'
