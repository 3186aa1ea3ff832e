"""The field rules: each refusal says which field and why, in the sentence users read."""

from __future__ import annotations

from typing import Annotated

import pytest

from janus.schemas.base import InvalidInput, Resource, json_schema, parse, update_model
from janus.schemas.fields import Choice, Count, Flag, Number, Text


class Sample(Resource):
    """A resource to exercise every rule."""

    name: Annotated[str, Text(10, min_len=1)]
    note: Annotated[str, Text(5, nullable=True, null_value="")] = ""
    secret: Annotated[str | None, Text(8, min_len=3, nullable=True, strip=False)] = None
    kind: Annotated[str, Choice(("a", "b"))] = "a"
    verb: Annotated[str, Choice(("GET", "POST"), upper=True)] = "GET"
    on: Annotated[bool, Flag()] = True
    wait: Annotated[float, Number(0.5, 10)] = 1.0


SampleUpdate = update_model(Sample, "SampleUpdate", "A change.")


def refusals(model, data):
    with pytest.raises(InvalidInput) as caught:
        parse(model, data)
    return caught.value.fields


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({}, "name", "name is required"),
        ({"name": "   "}, "name", "name must not be empty"),
        ({"name": 5}, "name", "name must be a string"),
        ({"name": "x" * 11}, "name", "name must be at most 10 characters"),
        ({"name": "a\x00b"}, "name", "name must not contain NUL characters"),
        ({"name": "\ud800"}, "name", "name must be valid Unicode text (no unpaired surrogates)"),
        ({"name": "n", "secret": "ab"}, "secret", "secret must be at least 3 characters"),
        ({"name": "n", "kind": "c"}, "kind", "kind 'c' is unknown; expected one of a, b"),
        ({"name": "n", "on": "yes"}, "on", "on must be true or false"),
        ({"name": "n", "on": 1}, "on", "on must be true or false"),
        ({"name": "n", "wait": True}, "wait", "wait must be a number"),
        ({"name": "n", "wait": "5"}, "wait", "wait must be a number"),
        ({"name": "n", "wait": float("nan")}, "wait", "wait must be a number"),
        ({"name": "n", "wait": 11}, "wait", "wait must be between 0.5 and 10"),
        ({"name": "n", "wait": 10**400}, "wait", "wait must be between 0.5 and 10"),
    ],
)
def test_each_refusal_names_its_field(data, field, message):
    assert refusals(Sample, data) == {field: message}


def test_every_refused_field_is_reported_at_once_after_unknown_ones():
    found = refusals(Sample, {"name": "", "kind": "z", "zz": 1, "yy": 2})
    assert list(found) == ["", "name", "kind"]
    assert found[""] == "unknown field(s): yy, zz; allowed: kind, name, note, on, secret, verb, wait"


def test_create_fills_defaults_strips_and_treats_null_as_the_default():
    assert parse(
        Sample, {"name": "  n ", "note": None, "on": None, "wait": None, "verb": "post", "secret": " s p "}
    ) == {
        "name": "n",
        "note": "",
        "secret": " s p ",  # strip=False: spaces are part of a password
        "kind": "a",
        "verb": "POST",
        "on": True,
        "wait": 1.0,
    }
    assert parse(Sample, {"name": "n", "on": "FALSE", "wait": 2})["on"] is False


def test_update_answers_only_what_was_sent_and_refuses_null_for_a_not_null_field():
    assert parse(SampleUpdate, {}) == {}
    assert parse(SampleUpdate, {"note": None, "wait": 3}) == {"note": "", "wait": 3.0}
    assert refusals(SampleUpdate, {"name": None, "kind": None, "on": None, "wait": None}) == {
        "name": "name is required",
        "kind": "kind is required",
        "on": "on must be true or false",
        "wait": "wait must be a number",
    }


def test_the_json_schema_states_the_same_limits_the_validators_enforce():
    create, update = json_schema(Sample), json_schema(SampleUpdate)
    assert create["required"] == ["name"] and create["additionalProperties"] is False
    props = create["properties"]
    assert props["name"] == {"type": "string", "maxLength": 10, "minLength": 1}
    assert props["note"] == {"type": ["string", "null"], "maxLength": 5, "default": ""}
    assert props["kind"] == {"type": "string", "enum": ["a", "b"], "default": "a"}
    assert props["on"] == {"type": "boolean", "default": True}
    assert props["wait"] == {"type": "number", "minimum": 0.5, "maximum": 10, "default": 1.0}
    # An update: the same rules, nothing required, no defaults (left out means unchanged).
    assert "required" not in update and update["additionalProperties"] is False
    assert update["properties"]["name"] == props["name"]
    assert not [name for name, prop in update["properties"].items() if "default" in prop]


class Limited(Resource):
    """A resource with an optional whole number."""

    rate: Annotated[int | None, Count(0, 100, nullable=True)] = None


@pytest.mark.parametrize(
    "value, message",
    [
        ("5", "rate must be a whole number"),
        (False, "rate must be a whole number"),
        (2.5, "rate must be a whole number"),
        (101, "rate must be between 0 and 100"),
        (-1, "rate must be between 0 and 100"),
    ],
)
def test_a_count_refuses_what_is_not_a_whole_number_in_range(value, message):
    assert refusals(Limited, {"rate": value}) == {"rate": message}


def test_a_count_takes_null_and_whole_numbers_json_may_spell_with_a_zero_fraction():
    assert parse(Limited, {"rate": None})["rate"] is None
    five = parse(Limited, {"rate": 5.0})["rate"]
    assert five == 5 and isinstance(five, int)
    schema = json_schema(Limited)["properties"]["rate"]
    assert (schema["type"], schema["minimum"], schema["maximum"]) == (["integer", "null"], 0, 100)


class Optional_(Resource):
    """A nullable number (upstream resilience: an endpoint's timeout, null for the connection's)."""

    limit: Annotated[float | None, Number(0.1, 600, nullable=True)] = None


def test_a_nullable_number_takes_null_and_still_refuses_what_a_number_refuses():
    assert parse(Optional_, {"limit": None})["limit"] is None
    assert parse(Optional_, {"limit": 2})["limit"] == 2.0
    assert refusals(Optional_, {"limit": "2"}) == {"limit": "limit must be a number"}
    assert refusals(Optional_, {"limit": 0}) == {"limit": "limit must be between 0.1 and 600"}
    assert json_schema(Optional_)["properties"]["limit"]["type"] == ["number", "null"]
