"""The meta-schema check of tool schemas: jsonschema-rs's verdict, jsonschema's message, a bounded memory."""

from __future__ import annotations

import pytest
from pydantic_core import PydanticCustomError

from janus.schemas import endpoint
from janus.schemas.endpoint import check_input_schema


def test_a_schema_both_validators_refuse_keeps_the_message_the_call_path_would_give():
    with pytest.raises(PydanticCustomError) as refused:
        check_input_schema({"type": "object", "properties": {"a": {"type": "strin"}}})
    assert "not a valid JSON Schema: 'strin' is not valid under any of the given schemas" in str(refused.value)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"type": "string", "minLength": 2}}, "required": ["a"]},
        {"type": "object", "$defs": {"n": {"type": "integer"}}, "properties": {"a": {"$ref": "#/$defs/n"}}},
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "definitions": {}},
        {"type": "object", "properties": {"t": {"prefixItems": [{"type": "string"}], "type": "array"}}},
    ],
    ids=["plain", "defs-ref", "draft-07", "prefix-items"],
)
def test_valid_schemas_of_each_dialect_pass(schema):
    assert check_input_schema(schema) == schema


def test_verdicts_are_remembered_per_text_and_bounded(monkeypatch):
    checked = []
    real = endpoint._meta_check
    monkeypatch.setattr(endpoint, "_meta_check", lambda raw: checked.append(raw) or real(raw))
    monkeypatch.setattr(endpoint, "_META_VERDICTS", {})
    monkeypatch.setattr(endpoint, "MAX_META_VERDICTS", 3)
    schemas = [{"type": "object", "properties": {f"p{i}": {"type": "string"}}} for i in range(5)]
    for schema in schemas + schemas[-2:]:
        check_input_schema(schema)
    assert len(checked) == 5  # the last two again: remembered
    assert len(endpoint._META_VERDICTS) == 3  # never more than the bound: the oldest went first
    check_input_schema(schemas[0])
    assert len(checked) == 6  # evicted, so checked again
