from __future__ import annotations

import json

import pytest

from janus.gateway import templating
from janus.gateway.templating import (
    ArgumentError,
    TemplateError,
    placeholders,
    render_body,
    render_path,
    validate_body_template,
)

# -- paths ----------------------------------------------------------------------


def test_double_and_single_brace_placeholders_fill_the_path_and_report_consumed_names():
    path, used = render_path("/balance/{{ client_id }}/tx/{tx}", {"client_id": "c1", "tx": 7, "other": 1})
    assert path == "/balance/c1/tx/7"
    assert used == frozenset({"client_id", "tx"})


def test_literal_braces_that_are_not_placeholders_stay_as_written():
    assert render_path("/a/{not a name}/{{}}", {}) == ("/a/{not a name}/{{}}", frozenset())


@pytest.mark.parametrize(
    ("value", "segment"),
    [
        ("../../etc/passwd", "..%2F..%2Fetc%2Fpasswd"),
        ("%2F", "%252F"),
        ("?q=1#x", "%3Fq%3D1%23x"),
        ("//evil.example", "%2F%2Fevil.example"),
        ("http://evil/", "http%3A%2F%2Fevil%2F"),
        ("\x00\r\n", "%00%0D%0A"),
        ("日本", "%E6%97%A5%E6%9C%AC"),
        (False, "false"),
        (10**20, "100000000000000000000"),
        (-0.5, "-0.5"),
    ],
)
def test_a_value_becomes_exactly_one_percent_encoded_segment(value, segment):
    path, _ = render_path("/x/{{v}}/y", {"v": value})
    assert path == f"/x/{segment}/y"
    assert path.count("/") == 3


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "must not be empty"),
        (".", "'.' or '..'"),
        ("..", "'.' or '..'"),
        (None, "not null"),
        ({}, "not an object"),
        ([], "not an array"),
        (float("nan"), "finite"),
    ],
)
def test_values_that_would_change_the_route_are_rejected_naming_the_parameter(value, reason):
    with pytest.raises(ArgumentError, match=reason) as caught:
        render_path("/x/{{v}}", {"v": value})
    assert "'v'" in str(caught.value)
    assert caught.value.parameter == "v"


def test_a_value_beside_a_literal_dot_cannot_form_a_dot_segment():
    with pytest.raises(ArgumentError, match="'b'"):
        render_path("/x/.{b}/y", {"b": "."})
    assert render_path("/x/.{b}/y", {"b": "a"}) == ("/x/.a/y", frozenset({"b"}))


def test_missing_path_argument_names_the_parameter():
    with pytest.raises(ArgumentError, match="missing required path parameter 'id'"):
        render_path("/items/{{id}}", {})


def test_values_after_a_literal_query_mark_are_encoded_too():
    path, used = render_path("/search?type={{t}}", {"t": "a&b=c"})
    assert path == "/search?type=a%26b%3Dc"
    assert used == {"t"}


def test_a_path_template_is_parsed_once_and_then_served_from_the_cache():
    template = "/cache-probe/{{id}}"
    render_path(template, {"id": 1})
    hits = templating._compile_path.cache_info().hits
    render_path(template, {"id": 2})
    assert templating._compile_path.cache_info().hits == hits + 1


# -- bodies ------------------------------------------------------------------------


def test_whole_string_placeholder_keeps_the_argument_json_type():
    body, used = render_body(
        '{"id": "{{id}}", "n": "{{ n }}", "ok": "{{ok}}", "obj": "{{obj}}", "none": "{{none}}", "f": "active"}',
        {"id": "abc", "n": 3, "ok": True, "obj": {"a": [1]}, "none": None},
    )
    assert body == {"id": "abc", "n": 3, "ok": True, "obj": {"a": [1]}, "none": None, "f": "active"}
    assert used == {"id", "n", "ok", "obj", "none"}


def test_placeholder_inside_a_longer_string_is_replaced_by_the_value_text():
    body, _ = render_body(
        '{"s": "id={{id}}, n={{n}}, o={{o}}, b={{b}}"}', {"id": "x", "n": 2, "o": {"k": "v"}, "b": False}
    )
    assert body == {"s": 'id=x, n=2, o={"k":"v"}, b=false'}


def test_bare_placeholders_outside_strings_become_typed_values():
    body, _ = render_body(
        '{"count": {{n}}, "items": [{{a}}, {{ b }}], "s": "{{n}} in a string"}', {"n": 5, "a": {"x": 1}, "b": "two"}
    )
    assert body == {"count": 5, "items": [{"x": 1}, "two"], "s": "5 in a string"}


def test_braces_inside_template_strings_do_not_confuse_the_bare_placeholder_scanner():
    body, _ = render_body('{"text": "literal {{ not a name }} and \\"{{n}}\\"", "n": {{n}}}', {"n": 1})
    assert body == {"text": 'literal {{ not a name }} and "1"', "n": 1}


def test_object_keys_are_not_templated():
    body, used = render_body('{"{{k}}": "v"}', {"k": "evil"})
    assert body == {"{{k}}": "v"}
    assert used == frozenset()


@pytest.mark.parametrize("evil", ['"}, "admin": true, "x": {"', "\\", '\\"', "{{x}}", "]}", "\u2028\x00"])
def test_no_argument_can_inject_json_structure(evil):
    body, _ = render_body('{"a": "{{v}}", "b": "<{{v}}>", "c": [{{v}}], "admin": false}', {"v": evil})
    assert body == {"a": evil, "b": f"<{evil}>", "c": [evil], "admin": False}
    assert json.loads(json.dumps(body)) == body


def test_rendering_twice_never_shares_mutable_structure():
    template = '{"list": [1, 2], "n": {{n}}}'
    first, _ = render_body(template, {"n": 1})
    first["list"].append(3)
    second, _ = render_body(template, {"n": 2})
    assert second == {"list": [1, 2], "n": 2}


def test_missing_body_argument_names_the_parameter():
    with pytest.raises(ArgumentError, match="missing required body parameter 'invoice_id'"):
        render_body('{"id": "{{invoice_id}}"}', {})


def test_invalid_template_json_is_a_value_error_at_the_admins_position():
    with pytest.raises(ValueError, match="line 2 column 13") as caught:
        render_body('{"a": {{n}},\n "b": {{m}} "c": 1}', {"n": 1, "m": 2})
    assert isinstance(caught.value, TemplateError)
    assert not isinstance(caught.value, ArgumentError)


def test_validate_body_template_lists_problems_an_admin_should_fix():
    assert validate_body_template('{"id": "{{id}}", "n": {{n}}}') == []
    assert validate_body_template('{"a": }')[0].startswith("body template is not valid JSON")
    problems = validate_body_template('{"{{k}}": "{{ two words }}"}')
    assert any("two words" in p for p in problems)
    assert any("object key" in p for p in problems)


def test_placeholders_lists_names_in_order_of_first_appearance():
    assert placeholders("/a/{{b}}/{c}/{{ b }}/{d}") == ["b", "c", "d"]
    assert placeholders('{"x": "{{y}}", "n": {{n}}, "again": "{{y}}-{{z}}"}', kind="body") == ["y", "n", "z"]
    assert placeholders('{"half": {{typed', kind="body") == []
    assert placeholders('{"half": "{{typed}}', kind="body") == ["typed"]
