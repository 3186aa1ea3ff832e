"""Tool metadata over the admin API: title, annotations, output schema and policy, the definition version,
the audit's before/after, and specific refusals of bad input."""

from __future__ import annotations

import pytest

from tests.admin_api.conftest import assert_refused, audit_rows, create

URL = "/api/v1/endpoints"
OUT = {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}


@pytest.fixture
def thing(api, admin):
    conn = create(api, admin, "/api/v1/connections", {"name": "Things", "base_url": "https://t.example.test"})
    return create(api, admin, URL, {"connection_id": conn["id"], "tool_name": "get_thing", "path_template": "/t"})


def _patch(api, admin, ep, body):
    response = api.patch(f"{URL}/{ep['id']}", headers=admin, json=body)
    assert response.status_code == 200, response.json
    return response.json


def test_metadata_is_stored_and_answered(api, admin, thing):
    assert (thing["title"], thing["annotations"], thing["output_schema"]) == (None, None, None)
    assert (thing["output_validation"], thing["definition_version"]) == ("lenient", 1)
    ep = _patch(
        api,
        admin,
        thing,
        {
            "title": "  Get a thing ",
            "annotations": {"openWorldHint": False, "readOnlyHint": None},
            "output_schema": OUT,
            "output_validation": "strict",
        },
    )
    assert ep["title"] == "Get a thing"
    assert ep["annotations"] == {"openWorldHint": False}  # null: derived, so not stored
    assert (ep["output_schema"], ep["output_validation"]) == (OUT, "strict")
    assert api.get(f"{URL}/{thing['id']}", headers=admin).json == ep
    # JSON text is taken too (forms and the CLI send text); "" clears
    ep = _patch(api, admin, ep, {"output_schema": "", "annotations": '{"destructiveHint": true}', "title": ""})
    assert (ep["output_schema"], ep["annotations"], ep["title"]) == (None, {"destructiveHint": True}, None)


def test_each_definition_change_bumps_the_version_and_other_changes_do_not(app, api, admin, thing):
    version = thing["definition_version"]
    for change in (
        {"enabled": False},
        {"output_validation": "off"},
        {"path_template": "/other"},
        {"annotations": {"readOnlyHint": True}},  # what GET derives anyway: the served definition is the same
    ):
        assert _patch(api, admin, thing, change)["definition_version"] == version, change
    for change in (
        {"title": "Thing"},
        {"description": "Gets one"},
        {"annotations": {"openWorldHint": False}},
        {"output_schema": OUT},
        {"input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}},
        {"method": "DELETE"},  # its derived hints differ
        {"tool_name": "fetch_thing"},
    ):
        version += 1
        assert _patch(api, admin, thing, change)["definition_version"] == version, change
    row = audit_rows(app, "endpoint.update")[-1]
    assert row.details["before"]["tool_name"] == "get_thing" and row.details["after"]["tool_name"] == "fetch_thing"
    assert (row.details["before"]["definition_version"], row.details["after"]["definition_version"]) == (
        version - 1,
        version,
    )


def test_the_audit_keeps_metadata_before_and_after(app, api, admin, thing):
    _patch(api, admin, thing, {"title": "One", "output_schema": OUT})
    _patch(api, admin, thing, {"title": "Two", "annotations": {"idempotentHint": False}})
    row = audit_rows(app, "endpoint.update")[-1]
    assert (row.details["before"]["title"], row.details["after"]["title"]) == ("One", "Two")
    assert (row.details["before"]["annotations"], row.details["after"]["annotations"]) == (
        None,
        {"idempotentHint": False},
    )
    assert row.details["after"]["output_schema"] == OUT


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"annotations": {"readOnlyHint": "yes"}},
            "annotation readOnlyHint must be true, false or null (derived from the method)",
        ),
        (
            {"annotations": {"readOnlyHint": 1}},
            "annotation readOnlyHint must be true, false or null (derived from the method)",
        ),
        (
            {"annotations": {"sneakyHint": True}},
            "annotation 'sneakyHint' is unknown; expected readOnlyHint, destructiveHint, idempotentHint, openWorldHint",
        ),
        ({"annotations": [True]}, 'annotations must be a JSON object of hints, e.g. {"readOnlyHint": true}'),
        (
            {"annotations": "{nope"},
            "annotations are not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (
            {"output_schema": {"type": "array"}},
            'output schema must have "type": "object" at its root (MCP tool outputs are objects)',
        ),
        (
            {"output_schema": {"type": "object", "properties": {"a": {"type": "nonsense"}}}},
            "output schema is not a valid JSON Schema: 'nonsense' is not valid under any of the given schemas (at properties/a/type)",
        ),
        ({"output_schema": "[1"}, "output schema is not valid JSON: Expecting ',' delimiter: line 1 column 3 (char 2)"),
        ({"output_schema": 5}, "output schema must be a JSON object"),
        (
            {"output_validation": "paranoid"},
            "output_validation 'paranoid' is unknown; expected one of off, lenient, strict",
        ),
        ({"output_validation": None}, "output_validation is required"),
        ({"title": "x" * 201}, "title must be at most 200 characters"),
        ({"title": 5}, "title must be a string"),
    ],
)
def test_bad_metadata_is_refused_with_a_specific_message_and_nothing_stored(app, api, admin, thing, change, message):
    assert_refused(app, api, "PATCH", f"{URL}/{thing['id']}", admin, change, status=400, message=message)


def test_bad_metadata_is_refused_on_create_too(app, api, admin, thing):
    body = {
        "connection_id": thing["connection_id"],
        "tool_name": "other",
        "path_template": "/o",
        "annotations": {"destructiveHint": "no"},
    }
    assert_refused(
        app,
        api,
        "POST",
        URL,
        admin,
        body,
        status=400,
        message="annotation destructiveHint must be true, false or null (derived from the method)",
    )


def test_the_openapi_document_describes_the_new_fields():
    from janus.admin_api.apidocs import openapi_document

    doc = openapi_document()
    create_schema = doc["components"]["schemas"]["EndpointCreate"]["properties"]
    assert create_schema["output_validation"]["enum"] == ["off", "lenient", "strict"]
    assert set(create_schema["annotations"]["properties"]) == {
        "readOnlyHint",
        "destructiveHint",
        "idempotentHint",
        "openWorldHint",
    }


def test_a_new_connection_prefix_renames_the_tools_and_bumps_their_versions(api, admin, thing):
    conn_url = f"/api/v1/connections/{thing['connection_id']}"
    assert api.patch(conn_url, headers=admin, json={"description": "words"}).status_code == 200
    assert api.get(f"{URL}/{thing['id']}", headers=admin).json["definition_version"] == 1
    assert api.patch(conn_url, headers=admin, json={"prefix": "new_"}).status_code == 200
    ep = api.get(f"{URL}/{thing['id']}", headers=admin).json
    assert (ep["exposed_name"], ep["definition_version"]) == ("new_get_thing", 2)
