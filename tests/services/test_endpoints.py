"""The endpoint rules hold at every front door: the service itself, the portal's live schema check and the
admin MCP tool all refuse what issue 10 forbids (items 2, 4, 14)."""

from __future__ import annotations

import pytest

from janus.gateway.catalog import TokenRecord
from janus.services import connections, endpoints
from janus.services.admin_tools import AdminTools
from janus.services.errors import ValidationError

REMOTE = {"type": "object", "properties": {"x": {"$ref": "http://127.0.0.1:9/schema.json"}}}
ADMIN = TokenRecord(id="t-1", name="ops", role="admin", scopes=("admin_*",))


@pytest.fixture
def connection_id(app):
    with app.app_context():
        return connections.create_connection(
            "root", {"name": "Billing", "base_url": "http://127.0.0.1:9", "prefix": "billing_"}
        )["id"]


def test_the_service_refuses_a_remote_reference_as_a_field_error(app, connection_id):
    with app.app_context(), pytest.raises(ValidationError) as refused:
        endpoints.create_endpoint(
            "root", {"connection_id": connection_id, "tool_name": "t", "path_template": "/t", "input_schema": REMOTE}
        )
    assert refused.value.field == "input_schema"
    assert "points outside the schema" in refused.value.message
    with app.app_context():
        assert endpoints.page_endpoints()["items"] == []


def test_the_portal_schema_check_names_the_remote_reference(app):
    with app.app_context():
        problem = endpoints.schema_problem('{"type": "object", "$id": "file:///etc/passwd"}')
    assert problem is not None and "$id 'file:///etc/passwd' at / is not allowed" in problem


def test_the_admin_mcp_tool_refuses_a_remote_reference_with_a_tool_error(app, connection_id):
    result = AdminTools(app).call(
        "admin_add_endpoint",
        {"connection_id": connection_id, "tool_name": "t", "path_template": "/t", "input_schema": REMOTE},
        ADMIN,
    )
    assert result["isError"] is True and "points outside the schema" in result["content"][0]["text"]
    with app.app_context():
        assert endpoints.page_endpoints()["items"] == []


def test_a_property_named_like_a_fixed_query_parameter_is_refused_on_update_too(app, connection_id):
    with app.app_context():
        ep = endpoints.create_endpoint(
            "root",
            {
                "connection_id": connection_id,
                "tool_name": "t",
                "path_template": "/t?scope=public",
                "input_schema": {"type": "object", "properties": {"q": {}}},
            },
        )
        with pytest.raises(ValidationError) as refused:
            endpoints.update_endpoint(
                "root",
                ep["id"],
                {"input_schema": {"type": "object", "properties": {"q": {}, "SCOPE": {"type": "string"}}}},
            )
    assert (
        refused.value.field == "input_schema" and "'SCOPE' has the name of a query parameter" in refused.value.message
    )


def test_sample_arguments_take_the_first_listed_type_and_never_fail_on_an_odd_one():
    schema = {
        "type": "object",
        "required": ["a", "b", "c", "d"],
        "properties": {
            "a": {"type": ["integer", "null"]},
            "b": {"type": []},
            "c": {"type": {"odd": 1}},
            "d": {"enum": ["x", "y"]},
        },
    }
    assert endpoints.sample_arguments(schema) == {"a": 1, "b": "example", "c": "example", "d": "x"}
