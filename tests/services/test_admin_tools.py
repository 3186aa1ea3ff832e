"""The admin tools' delete handlers: the row goes, and the answer names it."""

from __future__ import annotations

from janus.gateway.catalog import TokenRecord
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


def test_the_admin_tool_names_the_impact_preview_knows_are_the_tools_served():
    from janus.services import admin_tool_names

    # janus.services.connection_impact keeps an admin token's scope alive while it matches an admin tool.
    assert set(admin_tool_names.NAMES) == AdminTools.names
