"""The admin tools' delete handlers: the row goes, and the answer names it."""

from __future__ import annotations

from janus.extensions import db
from janus.gateway.catalog import TokenRecord
from janus.models import ToolCallLog
from janus.services import connections, endpoints
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
        assert endpoints.list_endpoints() == [] and connections.list_connections() == []
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
