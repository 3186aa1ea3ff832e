"""The converter on real descriptions (the Swagger Petstore 2.0, 3.0 and 3.1) and on small ones that pin each rule:
names, uniqueness and the 64-character limit, $ref (cycles too), readOnly, required, skipped operations and
why, constant parameters, and security schemes → a suggested auth type."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from janus.schemas.endpoint import check_input_schema
from janus.services.openapi_convert import MAX_EXPOSED_NAME, convert, snake_case, unique_names
from janus.services.openapi_documents import Bundle, bundle_from_texts

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openapi"
MCP_TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _spec(paths: dict, **extra) -> Bundle:
    return Bundle(
        {"main": {"openapi": "3.0.3", "info": {"title": "T", "version": "1"}, "paths": paths, **extra}}, "main"
    )


def _one(paths: dict, prefix: str = "t_", **extra):
    conversion = convert(_spec(paths, **extra), prefix, "https://api.example.test")
    return conversion


@pytest.mark.parametrize(
    "fixture", ["petstore-2.0.json", "petstore-3.0.json", "petstore-3.0.yaml", "petstore-3.1.json"]
)
def test_the_petstore_descriptions_become_the_same_tools(fixture):
    conversion = convert(bundle_from_texts({fixture: (FIXTURES / fixture).read_bytes()}), "pet_")
    tools = {p.tool_name: p for p in conversion.proposals}
    assert conversion.base_url == "http://petstore.swagger.io/v2"
    assert {"get_pet_by_id", "find_pets_by_status", "add_pet", "update_user", "login_user"} <= set(tools)
    assert tools["get_pet_by_id"].path_template == "/pet/{{petId}}"
    assert tools["get_pet_by_id"].input_schema["required"] == ["petId"]
    assert tools["login_user"].input_schema["required"] == ["username", "password"]
    for proposal in conversion.proposals:
        assert MCP_TOOL_NAME.fullmatch("pet_" + proposal.tool_name)
        check_input_schema(proposal.input_schema)  # what the endpoint service accepts
        assert "$ref" not in json.dumps(proposal.input_schema)
    skipped = {s.key: s.reason for s in conversion.skipped}
    # The upload is multipart (2.0, 3.0) or octet-stream (3.1): never a JSON body.
    assert re.fullmatch(
        r"its request body is (multipart/form-data|application/octet-stream); Janus sends JSON bodies only",
        skipped["POST /pet/{petId}/uploadImage"],
    )


def test_names_are_snake_case_from_operation_id_or_method_and_path():
    assert snake_case("findPetsByStatus") == "find_pets_by_status"
    assert snake_case("repos/get-content") == "repos_get_content"
    assert snake_case("getHTTPServerURL") == "get_http_server_url"
    conversion = _one(
        {
            "/users/{id}/keys": {
                "get": {"parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]}
            },
            "/2fa": {"post": {"operationId": "2fa-enable"}},
        }
    )
    assert [p.tool_name for p in conversion.proposals] == ["get_users_id_keys", "op_2fa_enable"]


def test_names_are_unique_and_fit_64_characters_with_the_prefix():
    long = "x" * 80
    names = unique_names(["list_items", "list_items", long, long], "my_long_prefix_")
    assert names[:2] == ["list_items", "list_items_2"]
    assert len(set(names)) == 4
    assert all(len("my_long_prefix_" + n) <= MAX_EXPOSED_NAME and MCP_TOOL_NAME.fullmatch(n) for n in names)


def test_refs_are_inlined_readonly_dropped_required_kept_and_recursion_bounded():
    components = {
        "schemas": {
            "Node": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {
                    "id": {"type": "integer", "readOnly": True},
                    "name": {"type": "string", "nullable": True},
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                    "size": {"type": "number", "maximum": 10, "exclusiveMaximum": True},
                },
            }
        }
    }
    conversion = _one(
        {
            "/nodes": {
                "post": {
                    "operationId": "addNode",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Node"}}},
                    },
                }
            }
        },
        components=components,
    )
    schema = conversion.proposals[0].input_schema
    assert schema["required"] == ["name"]  # id is readOnly: neither a property nor required
    assert "id" not in schema["properties"]
    assert schema["properties"]["name"]["type"] == ["string", "null"]
    assert schema["properties"]["size"] == {"type": "number", "exclusiveMaximum": 10}
    child = schema["properties"]["children"]["items"]
    assert child["type"] == "object" and "recursive" in child["description"]
    check_input_schema(schema)


def test_references_between_the_files_of_a_bundle_are_resolved():
    main = {
        "openapi": "3.1.0",
        "info": {"title": "B", "version": "1"},
        "paths": {"/a": {"get": {"operationId": "getA", "parameters": [{"$ref": "params.yaml#/limit"}]}}},
    }
    params = "limit:\n  name: limit\n  in: query\n  schema:\n    $ref: 'types/common.yaml#/Limit'\n"
    common = "Limit: {type: integer, minimum: 1, maximum: 100}\n"
    bundle = bundle_from_texts({"api.json": json.dumps(main), "params.yaml": params, "types/common.yaml": common})
    conversion = convert(bundle, "b_", "https://b.example.test")
    assert conversion.proposals[0].input_schema["properties"]["limit"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
    }


def test_operations_janus_cannot_call_faithfully_are_skipped_with_the_reason():
    path_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    conversion = _one(
        {
            "/a/{id}": {
                "get": {
                    "operationId": "needsHeader",
                    "parameters": [
                        path_id,
                        {"name": "User-Agent", "in": "header", "required": True, "schema": {"type": "string"}},
                    ],
                }
            },
            "/b": {
                "get": {
                    "operationId": "needsCookie",
                    "parameters": [{"name": "session", "in": "cookie", "required": True, "schema": {"type": "string"}}],
                }
            },
            "/c": {"post": {"operationId": "upload", "requestBody": {"content": {"multipart/form-data": {}}}}},
            "/d": {
                "get": {
                    "operationId": "pipes",
                    "parameters": [
                        {
                            "name": "ids",
                            "in": "query",
                            "required": True,
                            "style": "pipeDelimited",
                            "schema": {"type": "array", "items": {"type": "string"}},
                        }
                    ],
                }
            },
            "/e": {
                "delete": {
                    "operationId": "bodyDelete",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
                }
            },
            "/f": {"options": {"operationId": "opts"}},
        }
    )
    assert {s.operation_id: s.reason for s in conversion.skipped} == {
        "needsHeader": "header parameter 'User-Agent': Janus sets that header itself (credentials, framing, "
        "content negotiation or tracing)",
        "needsCookie": "it needs the cookie parameter 'session', and Janus sends no per-call cookies",
        "upload": "its request body is multipart/form-data; Janus sends JSON bodies only",
        "pipes": "query parameter 'ids': an array not in the exploded form style; Janus sends arrays as repeated parameters",
        "bodyDelete": "it needs a request body with DELETE, which Janus does not send",
        "opts": "Janus does not call OPTIONS operations",
    }
    assert conversion.proposals == []


def test_optional_parameters_janus_cannot_send_are_noted_not_dropped_silently():
    conversion = _one(
        {
            "/a": {
                "get": {
                    "operationId": "a",
                    "parameters": [
                        {"name": "X-Tags", "in": "header", "schema": {"type": "array", "items": {"type": "string"}}},
                        {"name": "filter", "in": "query", "style": "deepObject", "schema": {"type": "object"}},
                        {"name": "q", "in": "query", "schema": {"type": "string"}},
                    ],
                }
            }
        }
    )
    proposal = conversion.proposals[0]
    assert list(proposal.input_schema["properties"]) == ["q"]
    assert proposal.notes == [
        "optional header parameter 'X-Tags' is left out: an array or object header; Janus sends a string, "
        "number or boolean as a header",
        "optional query parameter 'filter' is left out: an object parameter; Janus sends only scalars and arrays in the query",
    ]


def test_constant_parameters_become_fixed_values_in_the_path_template():
    conversion = _one(
        {
            "/v/{version}/items": {
                "get": {
                    "operationId": "items",
                    "parameters": [
                        {
                            "name": "version",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": ["2 0"]},
                        },
                        {
                            "name": "format",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "enum": ["json"]},
                        },
                        {"name": "page", "in": "query", "schema": {"type": "integer"}},
                    ],
                }
            }
        }
    )
    proposal = conversion.proposals[0]
    assert proposal.path_template == "/v/2%200/items?format=json"
    assert list(proposal.input_schema["properties"]) == ["page"]


def _header(name: str, required: bool = False, description: str | None = None, **schema) -> dict:
    param = {"name": name, "in": "header", "required": required, "schema": schema or {"type": "string"}}
    return param | ({"description": description} if description else {})


def test_header_parameters_become_arguments_sent_as_headers_required_kept():
    conversion = _one(
        {
            "/items/{id}": {
                "get": {
                    "operationId": "getItem",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                        _header("X-Request-Id", required=True, description="Correlates the logs."),
                        _header("X-Dry-Run", type="boolean"),
                        {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    ],
                }
            }
        }
    )
    (proposal,) = conversion.proposals
    assert conversion.skipped == [] and proposal.notes == []
    assert proposal.header_params == [
        {"argument": "x_request_id", "header": "X-Request-Id"},
        {"argument": "x_dry_run", "header": "X-Dry-Run"},
    ]
    assert proposal.input_schema["required"] == ["id", "x_request_id"]
    assert proposal.input_schema["properties"]["x_request_id"] == {
        "type": "string",
        "description": "Correlates the logs.",
    }
    assert proposal.input_schema["properties"]["x_dry_run"] == {
        "type": "boolean",
        "description": "The X-Dry-Run header.",
    }
    assert proposal.definition()["header_params"] == proposal.header_params  # what the endpoint is saved with
    check_input_schema(proposal.input_schema)


def test_a_required_header_with_one_allowed_value_is_a_fixed_header_not_an_argument():
    conversion = _one(
        {
            "/a": {
                "get": {
                    "operationId": "a",
                    "parameters": [
                        _header("X-Api-Version", required=True, type="string", enum=["2022-11-28"]),
                        _header("X-Optional-Const", type="string", enum=["only"]),
                    ],
                }
            }
        }
    )
    (proposal,) = conversion.proposals
    assert proposal.header_params == [
        {"header": "X-Api-Version", "value": "2022-11-28"},
        {"argument": "x_optional_const", "header": "X-Optional-Const"},
    ]
    assert list(proposal.input_schema["properties"]) == ["x_optional_const"]


def test_a_header_argument_never_takes_a_path_query_or_body_name():
    conversion = _one(
        {
            "/a/{trace}": {
                "post": {
                    "operationId": "a",
                    "parameters": [
                        {"name": "trace", "in": "path", "required": True, "schema": {"type": "string"}},
                        _header("Trace", required=True),
                        _header("x-mode"),
                    ],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"x_mode": {"type": "string"}, "x_mode_header": {"type": "string"}},
                                }
                            }
                        }
                    },
                }
            }
        }
    )
    (proposal,) = conversion.proposals
    assert proposal.header_params == [
        {"argument": "trace_header", "header": "Trace"},
        {"argument": "x_mode_header_2", "header": "x-mode"},
    ]
    assert set(proposal.input_schema["properties"]) == {
        "trace",
        "x_mode",
        "x_mode_header",
        "trace_header",
        "x_mode_header_2",
    }
    assert proposal.input_schema["required"] == ["trace", "trace_header"]


@pytest.mark.parametrize(
    "header, reason",
    [
        ("Host", "Janus sets that header itself (credentials, framing, content negotiation or tracing)"),
        ("Cookie", "Janus sets that header itself (credentials, framing, content negotiation or tracing)"),
        ("Transfer-Encoding", "Janus sets that header itself (credentials, framing, content negotiation or tracing)"),
        ("X Bad Name", "its name is not a valid HTTP header name"),
    ],
    ids=["host", "cookie", "transfer-encoding", "bad-name"],
)
def test_a_header_janus_must_not_let_a_tool_set_skips_a_required_one_and_notes_an_optional_one(header, reason):
    conversion = _one(
        {
            "/required": {"get": {"operationId": "needs", "parameters": [_header(header, required=True)]}},
            "/optional": {"get": {"operationId": "may", "parameters": [_header(header)]}},
        }
    )
    assert [(s.operation_id, s.reason) for s in conversion.skipped] == [
        ("needs", f"header parameter {header!r}: {reason}")
    ]
    (proposal,) = conversion.proposals
    assert proposal.header_params is None and proposal.input_schema["properties"] == {}
    assert proposal.notes == [f"optional header parameter {header!r} is left out: {reason}"]


def test_cookie_parameters_stay_skipped_when_required_and_left_out_with_a_note_when_optional():
    conversion = _one(
        {
            "/required": {
                "get": {
                    "operationId": "needs",
                    "parameters": [{"name": "sid", "in": "cookie", "required": True, "schema": {"type": "string"}}],
                }
            },
            "/optional": {
                "get": {
                    "operationId": "may",
                    "parameters": [{"name": "pref", "in": "cookie", "schema": {"type": "string"}}],
                }
            },
        }
    )
    assert [(s.operation_id, s.reason) for s in conversion.skipped] == [
        ("needs", "it needs the cookie parameter 'sid', and Janus sends no per-call cookies")
    ]
    (proposal,) = conversion.proposals
    assert proposal.header_params is None and proposal.input_schema["properties"] == {}
    assert proposal.notes == ["optional cookie parameter 'pref' is left out: Janus sends no per-call cookies"]


def test_an_operation_without_headers_keeps_its_fingerprint_and_headers_change_it():
    op = {"get": {"operationId": "a", "parameters": [{"name": "q", "in": "query", "schema": {"type": "string"}}]}}
    plain = _one({"/a": op}).proposals[0]
    assert plain.header_params is None
    # The fingerprint of a header-less operation is the one recorded before header parameters existed.
    legacy = {k: v for k, v in plain.definition().items() if k != "header_params"}
    assert (
        plain.fingerprint
        == hashlib.sha256(
            json.dumps(legacy, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        ).hexdigest()
    )
    with_header = {"get": {**op["get"], "parameters": [*op["get"]["parameters"], _header("X-A")]}}
    assert _one({"/a": with_header}).proposals[0].fingerprint != plain.fingerprint


def test_a_body_that_is_no_flat_object_is_one_body_argument_with_a_body_template():
    conversion = _one(
        {
            "/items/{id}": {
                "put": {
                    "operationId": "put",
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"id": {"type": "string"}, "v": {"type": "integer"}},
                                }
                            }
                        },
                    },
                }
            }
        }
    )
    proposal = conversion.proposals[0]
    assert proposal.body_template == "{{body}}"
    assert proposal.input_schema["required"] == ["id", "body"]
    assert proposal.input_schema["properties"]["body"]["properties"]["v"] == {"type": "integer"}


@pytest.mark.parametrize(
    "schemes, expected",
    [
        ({"b": {"type": "http", "scheme": "bearer"}}, {"auth_type": "bearer"}),
        ({"b": {"type": "http", "scheme": "basic"}}, {"auth_type": "basic"}),
        (
            {"k": {"type": "apiKey", "in": "header", "name": "X-Key"}},
            {"auth_type": "custom_headers", "header": "X-Key"},
        ),
        (
            {
                "o": {
                    "type": "oauth2",
                    "flows": {"clientCredentials": {"tokenUrl": "https://a.test/token", "scopes": {}}},
                }
            },
            {"auth_type": "oauth2_client_credentials", "token_url": "https://a.test/token"},
        ),
        ({"k": {"type": "apiKey", "in": "query", "name": "key"}}, {"auth_type": "none"}),
    ],
)
def test_security_schemes_suggest_an_auth_type_without_any_secret(schemes, expected):
    conversion = _one({}, components={"securitySchemes": schemes})
    assert conversion.suggested_auth is not None
    assert conversion.suggested_auth | expected == conversion.suggested_auth


def test_a_server_url_with_variables_is_the_base_url_and_an_override_wins():
    spec = _spec({}, servers=[{"url": "https://{region}.api.test/v1", "variables": {"region": {"default": "eu"}}}])
    assert convert(spec, "t_").base_url == "https://eu.api.test/v1"
    assert convert(spec, "t_", "http://127.0.0.1:9/x").base_url == "http://127.0.0.1:9/x"
