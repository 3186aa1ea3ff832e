"""OpenAPI operations → tool metadata: the summary is the title, the first 2xx JSON answer's schema (self-contained,
readOnly properties kept) is the output schema; what cannot be one is left out, never fails the tool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from janus.schemas.endpoint import check_output_schema
from janus.services.openapi_convert import convert
from janus.services.openapi_documents import Bundle, bundle_from_texts

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openapi"
NODE = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {"id": {"type": "integer", "readOnly": True}, "name": {"type": "string"}},
}
NODE_OUT = {**NODE, "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}  # readOnly: annotation only


def _convert(paths: dict, version: str = "3.0.3"):
    key = "swagger" if version.startswith("2") else "openapi"
    doc = {key: version, "info": {"title": "T", "version": "1"}, "paths": paths}
    if key == "openapi":
        doc["components"] = {"schemas": {"Node": NODE}, "responses": {"Ok": _json(_ref())}}
    else:
        doc["definitions"] = {"Node": NODE}
    return {p.tool_name: p for p in convert(Bundle({"main": doc}, "main"), "t_", "https://a.example.test").proposals}


def _ref(version: str = "3") -> dict:
    return {"$ref": "#/components/schemas/Node" if version == "3" else "#/definitions/Node"}


def _json(schema: dict) -> dict:
    return {"description": "ok", "content": {"application/json": {"schema": schema}}}


def test_the_summary_is_the_title_and_the_2xx_json_schema_the_output_schema_with_refs_inlined():
    tools = _convert(
        {
            "/nodes": {
                "post": {
                    "operationId": "addNode",
                    "summary": "  Add a\n node ",
                    "requestBody": {"content": {"application/json": {"schema": _ref()}}},
                    "responses": {"201": _json(_ref()), "400": _json({})},
                },
                "get": {"operationId": "listNodes", "responses": {"200": _json({"type": "array", "items": _ref()})}},
            },
            "/nodes/{id}": {
                "get": {
                    "operationId": "getNode",
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                    "responses": {"default": _json({}), "200": {"$ref": "#/components/responses/Ok"}},
                }
            },
        }
    )
    add = tools["add_node"]
    assert add.title == "Add a node"  # whitespace runs are one space
    assert add.output_schema == NODE_OUT  # readOnly id kept in the answer
    assert "id" not in add.input_schema["properties"]  # and still dropped from the input
    assert tools["get_node"].output_schema == NODE_OUT and tools["get_node"].title is None
    assert tools["list_nodes"].output_schema is None  # an array never becomes structuredContent
    for proposal in tools.values():
        assert proposal.definition()["output_schema"] == proposal.output_schema
        if proposal.output_schema:
            check_output_schema(proposal.output_schema)
            assert "$ref" not in json.dumps(proposal.output_schema)


def test_swagger_2_answers_give_output_schemas_too():
    tools = _convert(
        {
            "/n": {
                "get": {
                    "operationId": "getN",
                    "summary": "One",
                    "responses": {"200": {"description": "ok", "schema": _ref("2")}},
                }
            }
        },
        version="2.0",
    )
    assert (tools["get_n"].title, tools["get_n"].output_schema) == ("One", NODE_OUT)


def test_an_unusable_answer_schema_is_left_out_with_a_note_and_the_tool_kept():
    bad = {"type": "object", "properties": {"a": {"type": "nonsense"}}}
    tools = _convert({"/n": {"get": {"operationId": "getN", "responses": {"200": _json(bad)}}}})
    assert tools["get_n"].output_schema is None
    assert any("200 answer's schema is not used as output schema" in n for n in tools["get_n"].notes)
    broken = _convert({"/n": {"get": {"operationId": "getN", "responses": {"200": {"$ref": "#/nowhere"}}}}})
    assert broken["get_n"].output_schema is None


@pytest.mark.parametrize("fixture", ["petstore-2.0.json", "petstore-3.0.json", "petstore-3.1.json"])
def test_the_petstore_get_pet_by_id_has_its_pet_as_output_schema(fixture):
    conversion = convert(bundle_from_texts({fixture: (FIXTURES / fixture).read_bytes()}), "pet_")
    tools = {p.tool_name: p for p in conversion.proposals}
    pet = tools["get_pet_by_id"]
    assert pet.title == "Find pet by ID"
    assert pet.output_schema is not None and pet.output_schema["type"] == "object"
    assert {"name", "photoUrls"} <= set(pet.output_schema["properties"])
