"""Endpoints (MCP tools) over the API: CRUD, every validation rule, conflicts, and the audit trail."""

from __future__ import annotations

import pytest

from tests.admin_api.conftest import assert_refused, audit_rows, create

URL = "/api/v1/endpoints"
ALLOWED = (
    "annotations, body_template, connection_id, description, enabled, header_params, input_schema, max_items, "
    "max_text_chars, "
    "method, output_schema, output_validation, path_template, render_table, response_projection, timeout_seconds, "
    "title, tool_name"
)
INVOICE_SCHEMA = {
    "type": "object",
    "properties": {"invoice_id": {"type": "string"}, "note": {"type": "string"}},
    "required": ["invoice_id"],
}


@pytest.fixture
def billing(api, admin):
    return create(
        api,
        admin,
        "/api/v1/connections",
        {"name": "Billing", "base_url": "https://billing.example.test", "prefix": "billing_"},
    )


@pytest.fixture
def get_invoice(api, admin, billing):
    return create(
        api,
        admin,
        URL,
        {
            "connection_id": billing["id"],
            "tool_name": "get_invoice",
            "path_template": "/invoices/{invoice_id}",
            "input_schema": INVOICE_SCHEMA,
            "description": "One invoice.",
        },
    )


def test_a_created_endpoint_is_answered_201_with_location_and_its_exposed_name(app, api, admin, billing):
    response = api.post(
        URL,
        headers=admin,
        json={
            "connection_id": billing["id"],
            "tool_name": "add_note",
            "method": "post",
            "path_template": "/invoices/{{invoice_id}}/notes",
            "input_schema": INVOICE_SCHEMA,
            "body_template": {"text": "{{note}}"},
        },
    )
    assert response.status_code == 201
    ep = response.json
    assert response.headers["Location"].endswith(f"{URL}/{ep['id']}")
    assert ep | {"id": "", "created_at": "", "updated_at": ""} == {
        "id": "",
        "connection_id": billing["id"],
        "connection_name": "Billing",
        "tool_name": "add_note",
        "exposed_name": "billing_add_note",
        "description": "",
        "method": "POST",
        "path_template": "/invoices/{{invoice_id}}/notes",
        "input_schema": INVOICE_SCHEMA,
        "body_template": '{"text": "{{note}}"}',
        "enabled": True,
        "title": None,
        "annotations": None,
        "output_schema": None,
        "output_validation": "lenient",
        "definition_version": 1,
        "timeout_seconds": None,
        "response_projection": None,
        "max_items": None,
        "max_text_chars": None,
        "render_table": False,
        "header_params": None,
        "created_at": "",
        "updated_at": "",
    }
    assert api.get(f"{URL}/{ep['id']}", headers=admin).json == ep
    assert api.get(f"/api/v1/connections/{billing['id']}", headers=admin).json["endpoint_count"] == 1
    [row] = audit_rows(app, "endpoint.create")
    assert (row.actor, row.target_type, row.target_id, row.details) == ("root", "endpoint", ep["id"], {"after": ep})


def test_the_list_can_be_filtered_by_connection(app, api, admin, billing, get_invoice):
    other = create(api, admin, "/api/v1/connections", {"name": "Other", "base_url": "https://o.example.test"})
    mine = create(api, admin, URL, {"connection_id": other["id"], "tool_name": "ping", "path_template": "/ping"})
    assert api.get(URL, headers=admin).json["items"] == [get_invoice, mine]
    assert api.get(URL, headers=admin, query_string={"connection_id": billing["id"]}).json["items"] == [get_invoice]
    assert api.get(URL, headers=admin, query_string={"connection_id": "nope"}).json["items"] == []
    assert api.get(URL, headers=admin, query_string={"connection_id": "x\u0000"}).json["items"] == []


def test_patch_and_delete_are_audited_with_before_and_after(app, api, admin, get_invoice):
    response = api.patch(f"{URL}/{get_invoice['id']}", headers=admin, json={"enabled": False, "description": "Off"})
    assert response.status_code == 200
    assert response.json | {"updated_at": ""} == get_invoice | {
        "enabled": False,
        "description": "Off",
        "definition_version": 2,  # the description is part of the definition; the enabled flag is not
        "updated_at": "",
    }
    [row] = audit_rows(app, "endpoint.update")
    assert row.details["before"] == get_invoice and row.details["after"] == response.json
    assert api.delete(f"{URL}/{get_invoice['id']}", headers=admin).status_code == 204
    [row] = audit_rows(app, "endpoint.delete")
    assert row.details == {"before": response.json}
    assert api.get(f"{URL}/{get_invoice['id']}", headers=admin).status_code == 404


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_an_unknown_endpoint_id_answers_404(app, api, admin, method):
    assert_refused(
        app,
        api,
        method,
        f"{URL}/nope",
        admin,
        {} if method == "PATCH" else None,
        status=404,
        message="endpoint 'nope' not found",
    )


def _invalid_tool(name: str, exposed: str) -> str:
    return (
        f"tool name {name!r} is invalid: use letters, digits, '_', '.' and '-', and keep the full name "
        f"{exposed!r} within 128 characters"
    )


CASES = [
    ({"connection_id": "nope"}, 400, "connection 'nope' does not exist"),
    ({"connection_id": None}, 400, "connection_id is required"),
    ({"tool_name": None}, 400, "tool_name is required"),
    ({"tool_name": "get invoice"}, 400, _invalid_tool("get invoice", "billing_get invoice")),
    ({"tool_name": "get/invoice"}, 400, _invalid_tool("get/invoice", "billing_get/invoice")),
    ({"tool_name": "façade"}, 400, _invalid_tool("façade", "billing_façade")),
    ({"tool_name": "x" * 121}, 400, _invalid_tool("x" * 121, "billing_" + "x" * 121)),  # 129 with the prefix
    ({"tool_name": "x" * 129}, 400, "tool_name must be at most 128 characters"),
    ({"tool_name": "get_invoice"}, 409, "tool 'billing_get_invoice' already exists"),
    ({"method": "FETCH"}, 400, "method 'FETCH' is unknown; expected one of GET, POST, PUT, PATCH, DELETE, HEAD"),
    ({"path_template": "invoices"}, 400, "path 'invoices' must start with '/'"),
    ({"path_template": None}, 400, "path_template is required"),
    (
        {"path_template": "/invoices/{number}"},
        400,
        "path parameter 'number' must be a required property of the input schema",
    ),
    (
        {"path_template": "/invoices/{{ number }}"},
        400,
        "path parameter 'number' must be a required property of the input schema",
    ),
    (
        {"path_template": "/invoices/{note}"},
        400,  # a property, but not a required one
        "path parameter 'note' must be a required property of the input schema",
    ),
    (
        {"input_schema": {"type": "object", "properties": {"a": {"type": "strin"}}}},
        400,
        "input schema is not a valid JSON Schema: 'strin' is not valid under any of the given schemas (at properties/a/type)",
    ),
    (
        {"input_schema": {"type": "object", "required": "invoice_id"}},
        400,
        "input schema is not a valid JSON Schema: 'invoice_id' is not of type 'array' (at required)",
    ),
    (
        {"input_schema": {"type": "array"}},
        400,
        'input schema must have "type": "object" at its root (MCP tool inputs are objects)',
    ),
    (
        {"input_schema": {"properties": {}}},
        400,
        'input schema must have "type": "object" at its root (MCP tool inputs are objects)',
    ),
    ({"input_schema": [1]}, 400, "input schema must be a JSON object"),
    (
        {"input_schema": "{"},
        400,
        "input schema is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
    ),
    (
        {"method": "POST", "body_template": '{"a": '},
        400,
        "body template is invalid: body template is not valid JSON: Expecting value at line 1 column 7 (char 6)",
    ),
    (
        {"method": "GET", "body_template": {"note": "{{note}}"}},
        400,
        "a body template is used only with POST, PUT or PATCH",
    ),
    ({"method": "DELETE", "body_template": "{}"}, 400, "a body template is used only with POST, PUT or PATCH"),
    (
        {"method": "PUT", "body_template": {"a": "{{missing}}"}},
        400,
        "body template placeholder 'missing' is not a property of the input schema",
    ),
    ({"method": "PUT", "body_template": 5}, 400, "body template must be a JSON text"),
    ({"method": "PUT", "body_template": '"a\u0000"'}, 400, "body template must not contain NUL characters"),
    # Issue 10, item 2: nothing outside the schema may be referred to (Janus never fetches schemas).
    (
        {"input_schema": {"type": "object", "properties": {"x": {"$ref": "http://schemas.example.test/x.json"}}}},
        400,
        "input schema is refused: $ref 'http://schemas.example.test/x.json' at /properties/x points outside the schema; "
        "only references within it (such as '#/$defs/name') are allowed, Janus never fetches schemas",
    ),
    (
        {"input_schema": {"type": "object", "properties": {"x": {"$ref": "file:///etc/passwd"}}}},
        400,
        "input schema is refused: $ref 'file:///etc/passwd' at /properties/x points outside the schema; "
        "only references within it (such as '#/$defs/name') are allowed, Janus never fetches schemas",
    ),
    (
        {"input_schema": {"type": "object", "$defs": {"a": {"$dynamicRef": "other.json#meta"}}}},
        400,
        "input schema is refused: $dynamicRef 'other.json#meta' at /$defs/a points outside the schema; "
        "only references within it (such as '#/$defs/name') are allowed, Janus never fetches schemas",
    ),
    (
        {"input_schema": {"type": "object", "$id": "https://schemas.example.test/tool.json"}},
        400,
        "input schema is refused: $id 'https://schemas.example.test/tool.json' at / is not allowed: it changes what "
        "references resolve against; keep definitions in $defs and refer to them as '#/$defs/name'",
    ),
    (
        {"input_schema": {"type": "object", "$schema": "https://schemas.example.test/dialect"}},
        400,
        "input schema is refused: $schema 'https://schemas.example.test/dialect' is not a JSON Schema dialect Janus "
        "knows (drafts 3, 4, 6, 7, 2019-09 and 2020-12)",
    ),
    # Issue 10, item 14: patterns must be usable by the time-bounded engine.
    (
        {"input_schema": {"type": "object", "properties": {"x": {"type": "string", "pattern": "a" * 1001}}}},
        400,
        "input schema is refused: pattern at /properties/x/pattern is 1001 characters long; at most 1000 are accepted",
    ),
    (
        {"input_schema": {"type": "object", "patternProperties": {"^x": {}}, "unevaluatedProperties": False}},
        400,
        "input schema is refused: unevaluatedProperties cannot be combined with patternProperties in a tool schema; "
        "use additionalProperties instead",
    ),
    # Issue 10, item 4: a declared argument may not set a query parameter the path template fixes.
    (
        {"path_template": "/invoices/{invoice_id}?Note=internal"},
        400,
        "property 'note' has the name of a query parameter fixed in the path template; rename the property or make "
        "the parameter a placeholder",
    ),
    ({"enabled": "maybe"}, 400, "enabled must be true or false"),
    ({"owner": "me"}, 400, f"unknown field(s): owner; allowed: {ALLOWED}"),
]


@pytest.mark.parametrize("change, status, message", CASES, ids=lambda v: v if isinstance(v, int) else None)
def test_an_invalid_endpoint_is_refused_with_a_specific_message_and_nothing_stored(
    app, api, admin, billing, get_invoice, change, status, message
):
    body = {
        "connection_id": billing["id"],
        "tool_name": "get_invoice_2",
        "path_template": "/invoices/{invoice_id}",
        "input_schema": INVOICE_SCHEMA,
        **change,
    }
    assert_refused(
        app, api, "POST", URL, admin, {k: v for k, v in body.items() if v is not None}, status=status, message=message
    )


# The same rules hold for a patch (renaming onto get_invoice is the 409); connection_id and nulls are create-only cases.
PATCH_CASES = [
    (c, s, m) for c, s, m in CASES if "connection_id" not in c and "owner" not in c and None not in c.values()
]


@pytest.mark.parametrize("change, status, message", PATCH_CASES, ids=lambda v: v if isinstance(v, int) else None)
def test_an_invalid_patch_is_refused_and_the_endpoint_is_unchanged(
    app, api, admin, billing, get_invoice, change, status, message
):
    other = create(
        api,
        admin,
        URL,
        {"connection_id": billing["id"], "tool_name": "other", "path_template": "/o", "input_schema": INVOICE_SCHEMA},
    )
    assert_refused(app, api, "PATCH", f"{URL}/{other['id']}", admin, change, status=status, message=message)
    assert api.get(f"{URL}/{other['id']}", headers=admin).json == other


def test_an_endpoint_cannot_move_to_another_connection(app, api, admin, billing, get_invoice):
    assert_refused(
        app,
        api,
        "PATCH",
        f"{URL}/{get_invoice['id']}",
        admin,
        {"connection_id": billing["id"]},
        status=400,
        message="unknown field(s): connection_id; allowed: " + ALLOWED.replace("connection_id, ", ""),
    )


def test_a_patch_that_breaks_the_path_schema_link_is_refused(app, api, admin, get_invoice):
    assert_refused(
        app,
        api,
        "PATCH",
        f"{URL}/{get_invoice['id']}",
        admin,
        {"input_schema": {"type": "object", "properties": {}}},
        status=400,
        message="path parameter 'invoice_id' must be a required property of the input schema",
    )


def test_a_body_template_with_an_unpaired_surrogate_is_refused(app, api, admin, billing):
    raw = (
        '{"connection_id": "%s", "tool_name": "t", "method": "PUT", "path_template": "/t", '
        '"body_template": "\\"\\ud800\\""}' % billing["id"]
    )  # the template's text holds the surrogate itself
    assert_refused(
        app,
        api,
        "POST",
        URL,
        admin,
        raw=raw,
        status=400,
        message="body template must be valid Unicode text (no unpaired surrogates)",
    )


def test_a_deeply_nested_input_schema_is_refused_not_a_crash(app, api, admin, billing):
    nested = '{"type": "object", "properties": {"a": ' + '{"items": ' * 5000 + "{}" + "}" * 5000 + "}}"
    response = api.post(
        URL,
        headers=admin,
        data=(
            '{"connection_id": "%s", "tool_name": "deep", "path_template": "/d", "input_schema": %s}'
            % (billing["id"], nested)
        ),
        content_type="application/json",
    )
    assert response.status_code == 400 and response.json["error"] in {"bad_request", "validation_error"}


def test_a_schema_with_a_remote_ref_is_refused_without_any_request_to_it(app, api, admin, billing, upstream):
    """Issue 10, item 2: registration refuses; nothing (not even the check) asks the referenced server."""
    schema = {"type": "object", "properties": {"x": {"$ref": upstream.url + "/schema.json"}}}
    response = api.post(
        URL,
        headers=admin,
        json={"connection_id": billing["id"], "tool_name": "remote", "path_template": "/r", "input_schema": schema},
    )
    assert response.status_code == 400 and "points outside the schema" in response.json["message"]
    assert upstream.seen == []


def test_local_references_and_fixed_query_placeholders_are_accepted(app, api, admin, billing):
    schema = {
        "type": "object",
        "properties": {"scope": {"$ref": "#/$defs/scope"}},
        "required": ["scope"],
        "$defs": {"scope": {"type": "string", "pattern": "^[a-z]+$"}},
    }
    created = create(
        api,
        admin,
        URL,
        {
            "connection_id": billing["id"],
            "tool_name": "scoped",
            "path_template": "/r?scope={{scope}}&v=1",
            "input_schema": schema,
        },
    )
    assert created["input_schema"] == schema


@pytest.mark.parametrize("tool_name", ["admin_status", "ADMIN_status", "Admin_anything"])
def test_a_tool_name_that_would_land_in_the_admin_namespace_is_refused(app, api, admin, tool_name):
    # Only a connection stored before the prefix rule (here: an empty prefix) can get this far.
    from tests.support.catalog import add_connection

    bare = add_connection(app, "Bare", "https://bare.example.test", "")
    assert_refused(
        app,
        api,
        "POST",
        URL,
        admin,
        {"connection_id": bare, "tool_name": tool_name, "path_template": "/s"},
        status=400,
        message=f"tool name {tool_name!r} is reserved: names starting with 'admin_' belong to "
        "Janus's built-in admin tools; give the connection another prefix",
    )


@pytest.mark.parametrize(
    "properties, message",
    [
        (
            {"amount": {"type": "number", "x-mcp-header": "Amount"}},
            "marks a parameter of type 'number'; only string, integer and boolean parameters can be mirrored",
        ),
        ({"tenant": {"type": "string", "x-mcp-header": "Ten ant"}}, "must be a non-empty HTTP header name token"),
        ({"tenant": {"type": "string", "x-mcp-header": "tenant_id"}}, "must be a non-empty HTTP header name token"),
        ({"tenant": {"type": "string", "x-mcp-header": ""}}, "must be a non-empty HTTP header name token"),
        (
            {"a": {"type": "string", "x-mcp-header": "Region"}, "b": {"type": "string", "x-mcp-header": "REGION"}},
            "(header names are compared in any letter case)",
        ),
        (
            {"filter": {"type": "object", "properties": {"tenant": {"type": "string", "x-mcp-header": "Tenant"}}}},
            "is not on a top-level property",
        ),
    ],
)
def test_an_x_mcp_header_mark_a_client_could_not_honour_is_refused_when_saved(
    app, api, admin, billing, properties, message
):
    """SEP-2243's constraints on `x-mcp-header`, checked once at registration instead of making every
    2026-07-28 call carrying the argument fail with a header mismatch."""
    response = api.post(
        URL,
        headers=admin,
        json={
            "connection_id": billing["id"],
            "tool_name": "mirrored",
            "path_template": "/m",
            "input_schema": {"type": "object", "properties": properties},
        },
    )
    assert response.status_code == 400 and message in response.json["message"], response.json


def test_a_top_level_string_parameter_may_be_mirrored_into_a_header(app, api, admin, billing):
    schema = {
        "type": "object",
        "properties": {
            "tenant": {"type": "string", "x-mcp-header": "Tenant"},
            "limit": {"type": "integer", "x-mcp-header": "Limit"},
        },
    }
    created = create(
        api,
        admin,
        URL,
        {"connection_id": billing["id"], "tool_name": "mirrored", "path_template": "/m", "input_schema": schema},
    )
    assert created["input_schema"] == schema


# -- the list: search, filters, pages ------------------------------------------------------


def _tools(api, admin, billing, count: int) -> None:
    for i in range(count):
        create(
            api,
            admin,
            URL,
            {
                "connection_id": billing["id"],
                "tool_name": f"tool_{i:02d}",
                "method": "DELETE" if i % 3 == 0 else "GET",
                "path_template": f"/things/{i}",
                "description": "Weather of a city" if i % 4 == 0 else "Other",
                "enabled": i % 5 != 0,
            },
        )


def test_the_list_pages_in_name_order_and_says_how_many_matched(api, admin, billing):
    _tools(api, admin, billing, 12)
    first = api.get(URL, headers=admin, query_string={"limit": 5}).json
    third = api.get(URL, headers=admin, query_string={"limit": 5, "page": 3}).json
    past = api.get(URL, headers=admin, query_string={"limit": 5, "page": 4}).json
    assert (first["total"], first["page"], first["limit"]) == (12, 1, 5)
    assert [e["tool_name"] for e in first["items"]] == [f"tool_{i:02d}" for i in range(5)]
    assert [e["tool_name"] for e in third["items"]] == ["tool_10", "tool_11"]
    assert past["items"] == [] and past["total"] == 12
    assert api.get(URL, headers=admin).json["limit"] == 100  # the default page


def test_the_list_searches_names_descriptions_and_paths_in_any_case_and_filters(api, admin, billing):
    _tools(api, admin, billing, 12)

    def names(**args):
        response = api.get(URL, headers=admin, query_string=args)
        assert response.status_code == 200, response.json
        return [e["tool_name"] for e in response.json["items"]]

    assert names(q="WEATHER") == ["tool_00", "tool_04", "tool_08"]  # description, any case
    assert names(q="billing_tool_1") == ["tool_10", "tool_11"]  # the exposed name
    assert names(q="/things/7") == ["tool_07"]  # the path
    assert names(q="%") == []  # LIKE's wildcards match only themselves: '%' is in no name
    assert names(q="o_l") == []  # ('_' as a wildcard would match every "tool")
    assert names(method="delete") == ["tool_00", "tool_03", "tool_06", "tool_09"]
    assert names(enabled="false") == ["tool_00", "tool_05", "tool_10"]
    assert names(q="weather", enabled="true", method="GET") == ["tool_04", "tool_08"]
    assert names(connection_id="nope") == []


@pytest.mark.parametrize(
    "args, field",
    [
        ({"limit": "1001"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"page": "0"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"enabled": "maybe"}, "enabled"),
        ({"method": "FETCH"}, "method"),
        ({"q": "x" * 201}, "q"),
        ({"q": "a\u0000b"}, "q"),
    ],
)
def test_bad_list_parameters_are_a_400_naming_the_parameter(api, admin, billing, args, field):
    response = api.get(URL, headers=admin, query_string=args)
    assert response.status_code == 400
    assert response.json["error"] == "validation_error" and response.json["message"].startswith(field)
