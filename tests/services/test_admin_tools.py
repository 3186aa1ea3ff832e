"""The admin tools' delete handlers (the row goes, and the answer names it) and list tools (paged)."""

from __future__ import annotations

import pytest

from janus.extensions import db
from janus.gateway.catalog import TokenRecord
from janus.models import ToolCallLog
from janus.services import connections, endpoints, tokens
from janus.services.admin_tools import AdminTools

ADMIN = TokenRecord(id="t-1", name="ops", role="admin", scopes=("admin_*",))


def test_deleting_an_endpoint_then_its_connection_answers_what_was_deleted(app):
    with app.app_context():
        conn = connections.create_connection(
            "root", {"name": "Billing", "base_url": "http://127.0.0.1:9", "prefix": "billing_"}
        )
        ep = endpoints.create_endpoint("root", {"connection_id": conn["id"], "tool_name": "t", "path_template": "/t"})
    tools = AdminTools(app)
    result = tools.call("admin_delete_endpoint", {"id": ep["id"]}, ADMIN)
    assert result["isError"] is False and result["structuredContent"] == {"deleted": ep["id"]}
    result = tools.call("admin_delete_connection", {"id": conn["id"]}, ADMIN)
    assert result["isError"] is False and result["structuredContent"] == {"deleted": conn["id"]}
    with app.app_context():
        assert endpoints.page_endpoints()["items"] == [] and connections.list_connections() == []
    assert tools.call("admin_delete_connection", {"id": conn["id"]}, ADMIN)["isError"] is True  # gone: not found


def test_the_audit_log_tool_filters_retried_and_masked_calls(app):
    with app.app_context():
        for name, attempts, redactions in (("once", 1, None), ("retried", 3, None), ("masked", 1, "email:1")):
            db.session.add(
                ToolCallLog(tool_name=name, status="success", duration_ms=1.0, attempts=attempts, redactions=redactions)
            )
        db.session.commit()
    tools = AdminTools(app)

    def names(**args) -> list[str]:
        result = tools.call("admin_list_audit_logs", args, ADMIN)
        assert result["isError"] is False, result
        return sorted(item["tool_name"] for item in result["structuredContent"]["items"])

    assert names(retried=True) == ["retried"]
    assert names(redacted=True) == ["masked"]
    assert names(retried=False, redacted=False) == ["once"]
    refused = tools.call("admin_list_audit_logs", {"retried": "maybe"}, ADMIN)
    assert refused["isError"] is True
    assert refused["content"][0]["text"].endswith("retried: 'maybe' is not of type 'boolean'")


# -- the list tools: one page at a time, as the admin API pages -------------------------------------------


def _listed(tools: AdminTools, name: str, **arguments) -> dict:
    result = tools.call(name, arguments, ADMIN)
    assert result["isError"] is False, result["content"][0]["text"]
    return result["structuredContent"]


def test_the_list_tools_answer_a_first_page_without_arguments_and_walk_by_cursor(app):
    with app.app_context():
        conns = [
            connections.create_connection(
                "root", {"name": f"svc{i}", "base_url": "http://127.0.0.1:9", "prefix": f"s{i}_"}
            )
            for i in range(5)
        ]
        for i, method in enumerate(("GET", "POST", "DELETE")):
            endpoints.create_endpoint(
                "root",
                {"connection_id": conns[0]["id"], "tool_name": f"t{i}", "path_template": "/t", "method": method},
            )
        tokens.create_token("root", {"name": "ops", "scopes": "*"})
    tools = AdminTools(app)

    first = _listed(tools, "admin_list_connections")
    assert (first["total"], first["page"], first["limit"], first["next_cursor"]) == (5, 1, 100, None)
    assert [c["name"] for c in first["items"]] == [f"svc{i}" for i in range(5)]
    assert first["items"][0]["endpoint_count"] == 3

    names, args = [], {"limit": 2, "sort": "-name"}
    while True:
        page = _listed(tools, "admin_list_connections", **args)
        names += [c["name"] for c in page["items"]]
        if not page["next_cursor"]:
            break
        args["cursor"] = page["next_cursor"]
    assert names == [f"svc{i}" for i in reversed(range(5))]

    read_only = _listed(tools, "admin_list_endpoints", read_only=True)
    assert [e["exposed_name"] for e in read_only["items"]] == ["s0_t0"] and read_only["total"] == 1
    assert _listed(tools, "admin_list_endpoints", method="DELETE", q="s0_")["items"][0]["tool_name"] == "t2"
    assert _listed(tools, "admin_list_tokens", q="OPS")["items"][0]["name"] == "ops"


@pytest.mark.parametrize(
    "name, arguments, message",
    [
        ("admin_list_connections", {"cursor": "garbage"}, "invalid cursor"),
        ("admin_list_connections", {"cursor": "garbage", "page": 1}, "give page or cursor, not both"),
        (
            "admin_list_tokens",
            {"sort": "colour"},
            "Invalid arguments for tool 'admin_list_tokens': sort: 'colour' is not one of",
        ),
        (
            "admin_list_endpoints",
            {"limit": 1001},
            "Invalid arguments for tool 'admin_list_endpoints': limit: 1001 is greater than",
        ),
        (
            "admin_list_endpoints",
            {"destructive": "yes"},
            "Invalid arguments for tool 'admin_list_endpoints': destructive: 'yes' is not of type 'boolean'",
        ),
    ],
    ids=["garbled-cursor", "page-and-cursor", "unknown-sort", "limit-too-big", "hint-not-boolean"],
)
def test_bad_list_arguments_are_a_tool_error_with_a_message(app, name, arguments, message):
    result = AdminTools(app).call(name, arguments, ADMIN)
    assert result["isError"] is True and result["content"][0]["text"].startswith(message)


def test_the_admin_tool_names_the_impact_preview_knows_are_the_tools_served():
    from janus.services import admin_tool_names

    # janus.services.connection_impact keeps an admin token's scope alive while it matches an admin tool.
    assert set(admin_tool_names.NAMES) == AdminTools.names
