"""Each resource is defined once (janus.schemas): the services, the admin API's OpenAPI document and the
admin MCP tools all take its shape from there, and what the API answers is what the document says."""

from __future__ import annotations

import jsonschema
import pytest

from janus.admin_api.apidocs import openapi_document
from janus.gateway.catalog import TokenRecord
from janus.schemas import connection, endpoint, token, user, vault
from janus.schemas.base import InvalidInput, json_schema, parse
from janus.services import connections, endpoints, tokens, users
from janus.services.admin_tools import AdminTools

RESOURCES = [
    connection.ConnectionCreate,
    connection.ConnectionUpdate,
    connection.Connection,
    endpoint.EndpointCreate,
    endpoint.EndpointUpdate,
    endpoint.Endpoint,
    token.TokenCreate,
    token.TokenUpdate,
    token.Token,
    token.NewToken,
    user.UserCreate,
    user.UserUpdate,
    user.User,
    vault.VaultValue,
]


@pytest.mark.parametrize("model", RESOURCES, ids=lambda m: m.__name__)
def test_the_openapi_document_holds_each_model_as_defined(model):
    assert openapi_document()["components"]["schemas"][model.__name__] == json_schema(
        model, ref_template="#/components/schemas/{model}"
    )


def test_the_admin_tools_take_their_input_schemas_from_the_models(app):
    schemas = {d["name"]: d["inputSchema"] for d in AdminTools(app).descriptors()}
    assert schemas["admin_add_connection"] == json_schema(connection.ConnectionCreate)
    assert schemas["admin_add_endpoint"] == json_schema(endpoint.EndpointCreate)
    assert schemas["admin_set_vault_secret"] == json_schema(vault.VaultSecret)
    modify = schemas["admin_modify_connection"]
    assert modify["required"] == ["id"]
    assert {k: v for k, v in modify["properties"].items() if k != "id"} == json_schema(connection.ConnectionUpdate)[
        "properties"
    ]


def test_a_view_shows_exactly_the_read_models_fields(app):
    """The services' views are built from the schema's field list: a field added to the schema shows up in the
    API's answers (and one dropped from it disappears) with no edit to the view."""
    with app.app_context():
        conn = connections.create_connection("root", {"name": "Views", "base_url": "http://127.0.0.1:9"})
        ep = endpoints.create_endpoint("root", {"connection_id": conn["id"], "tool_name": "t", "path_template": "/t"})
        assert set(connections.get_connection(conn["id"])) == set(connection.Connection.model_fields)
        assert set(endpoints.get_endpoint(ep["id"])) == set(endpoint.Endpoint.model_fields)


def test_every_view_is_what_its_read_model_says(app):
    """A view with a field the document lacks, or without one it promises, fails here (extra="forbid")."""
    with app.app_context():
        conn = connections.create_connection("root", {"name": "Billing", "base_url": "http://127.0.0.1:9"})
        ep = endpoints.create_endpoint(
            "root",
            {
                "connection_id": conn["id"],
                "tool_name": "get_invoice",
                "path_template": "/invoices/{{id}}",
                "input_schema": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
            },
        )
        made, value = tokens.create_token(
            "root", {"name": "ci", "scopes": "billing_*", "expires_at": "2099-01-01T00:00:00Z"}
        )
        person = users.create_user("root", {"username": "vic", "password": "correct horse battery"})
        connection.Connection.model_validate(connections.get_connection(conn["id"]))
        endpoint.Endpoint.model_validate(endpoints.get_endpoint(ep["id"]))
        token.NewToken.model_validate({**made, "token": value})
        for view in tokens.page_tokens(limit=1000)["items"]:
            token.Token.model_validate(view)
        user.User.model_validate(person)


# Inputs that break one stated limit each: the JSON Schema (what clients and the OpenAPI document see) and
# the validators (what the services enforce) must agree on every one, and on the inputs that are fine.
CONNECTION_INPUTS = [
    {"name": "n", "base_url": "http://127.0.0.1:9"},
    {"name": "", "base_url": "http://127.0.0.1:9"},
    {"name": "n" * 201, "base_url": "http://127.0.0.1:9"},
    {"name": "n"},
    {"name": "n", "base_url": "http://127.0.0.1:9", "auth_type": "kerberos"},
    {"name": "n", "base_url": "http://127.0.0.1:9", "auth_type": "bearer"},
    {"name": "n", "base_url": "http://127.0.0.1:9", "timeout_seconds": 0},
    {"name": "n", "base_url": "http://127.0.0.1:9", "timeout_seconds": 600},
    {"name": "n", "base_url": "http://127.0.0.1:9", "timeout_seconds": 601},
    {"name": "n", "base_url": "http://127.0.0.1:9", "timeout_seconds": "30"},
    {"name": "n", "base_url": "http://127.0.0.1:9", "enabled": 1},
    {"name": "n", "base_url": "http://127.0.0.1:9", "prefix": "Billing_"},
    {"name": "n", "base_url": "http://127.0.0.1:9", "prefix": "billing_"},
    {"name": "n", "base_url": "http://127.0.0.1:9", "description": None},
    {"name": "n", "base_url": "http://127.0.0.1:9", "colour": "red"},
    {"name": "n", "base_url": "http://127.0.0.1:9", "auth_secret_ref": "k" * 513},
]
USER_INPUTS = [
    {"username": "vic", "password": "x" * 12},
    {"username": "vic", "password": "x" * 11},
    {"username": "vic", "password": "x" * 1001},
    {"username": "v i c", "password": "x" * 12},
    {"username": "vic", "password": "x" * 12, "role": "root"},
    {"username": "vic", "password": "x" * 12, "role": "admin"},
]
TOKEN_INPUTS = [
    {"name": "ci"},
    {"name": "ci", "token": "short"},
    {"name": "ci", "token": "x" * 24},
    {"name": "ci", "role": "owner"},
    {"name": "ci", "scopes": ["a_*", "b_*"]},
    {"name": "ci", "scopes": "a_*,b_*"},
    {"name": "ci", "scopes": 5},
    {"name": "ci", "scopes": ["s"] * 101},  # repeats are dropped: one scope
    {"name": "ci", "scopes": ["s" * 129]},
    {"name": "ci", "rate_per_second": 0, "rate_burst": 1},
    {"name": "ci", "rate_per_second": None, "rate_burst": None},
    {"name": "ci", "rate_per_second": 5.0},
    {"name": "ci", "rate_per_second": 5.5},
    {"name": "ci", "rate_per_second": -1},
    {"name": "ci", "rate_per_second": 1_000_001},
    {"name": "ci", "rate_per_second": "5"},
    {"name": "ci", "rate_per_second": True},
    {"name": "ci", "rate_burst": 0},
]


@pytest.mark.parametrize(
    "model, data",
    [(connection.ConnectionCreate, d) for d in CONNECTION_INPUTS]
    + [(user.UserCreate, d) for d in USER_INPUTS]
    + [(token.TokenCreate, d) for d in TOKEN_INPUTS],
)
def test_the_json_schema_and_the_validators_agree(model, data):
    schema_says = jsonschema.Draft202012Validator(json_schema(model)).is_valid(data)
    try:
        parse(model, data)
        validators_say = True
    except InvalidInput:
        validators_say = False
    assert schema_says == validators_say, data


def test_an_admin_tool_refuses_what_the_model_refuses(app):
    tools = AdminTools(app)
    admin = TokenRecord(id="t-1", name="ops", role="admin", scopes=("admin_*",))
    result = tools.call(
        "admin_add_connection", {"name": "n", "base_url": "http://127.0.0.1:9", "timeout_seconds": 0}, admin
    )
    assert result["isError"] is True and "timeout_seconds" in result["content"][0]["text"]
    result = tools.call("admin_add_connection", {"name": "n", "base_url": "http://127.0.0.1:9", "colour": "red"}, admin)
    assert result["isError"] is True and "colour" in result["content"][0]["text"]
