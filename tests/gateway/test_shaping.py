"""Response shaping and DLP through the executor, against a real upstream on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json

import pytest

from janus.gateway import dlp
from janus.gateway.executor import Executor
from janus.gateway.shaping import MARKER, ProjectionError, compile_projection, markdown_table, shaping_for
from janus.services.response_shaping import preview
from tests.support.fake_credentials import card_number, email_address

ORDERS = {
    "total": 4,
    "owner": {"name": "Ann", "email": "ann@example.com"},
    "items": [{"id": i, "sku": f"S-{i}", "buyer": f"b{i}@example.com", "ref": "4111 1111 1111 1112"} for i in range(4)],
}


def shaped(tool, projection=None, max_items=None, max_text_chars=None, render_table=False, redaction=None):
    spec = tool()
    connection = dataclasses.replace(spec.connection, redaction=redaction)
    shaping = shaping_for(projection, max_items, max_text_chars, render_table)
    return dataclasses.replace(spec, shaping=shaping, connection=connection)


def test_the_projection_shapes_the_text_and_structured_content_alike(upstream, executor, tool):
    upstream.reply(200, ORDERS)
    outcome = executor.execute(shaped(tool, "{count: total, skus: items[].sku}"), {"id": "1"})
    result = outcome.result
    assert result["structuredContent"] == {"count": 4, "skus": ["S-0", "S-1", "S-2", "S-3"]}
    assert json.loads(result["content"][0]["text"]) == result["structuredContent"]
    assert result["_meta"] == {MARKER: {"projection": "{count: total, skus: items[].sku}"}}
    assert len(result["content"]) == 1 and outcome.status == "success"


def test_a_projection_to_an_array_has_no_structured_content(upstream, executor, tool):
    upstream.reply(200, ORDERS)
    result = executor.execute(shaped(tool, "items[].id"), {"id": "1"}).result
    assert json.loads(result["content"][0]["text"]) == [0, 1, 2, 3]
    assert "structuredContent" not in result  # MCP requires an object there


def test_the_array_cap_keeps_the_first_items_with_a_note_and_a_marker(upstream, executor, tool):
    upstream.reply(200, ORDERS)
    result = executor.execute(shaped(tool, max_items=2), {"id": "1"}).result
    assert [i["id"] for i in result["structuredContent"]["items"]] == [0, 1]
    assert json.loads(result["content"][0]["text"]) == result["structuredContent"]
    assert result["content"][1] == {"type": "text", "text": "[truncated by Janus: items: 2 of 4 items shown]"}
    assert result["_meta"][MARKER] == {"items": [{"path": "items", "total": 4, "kept": 2}]}


def test_an_array_within_the_cap_is_left_unmarked(upstream, executor, tool):
    upstream.reply(200, ORDERS)
    result = executor.execute(shaped(tool, max_items=4), {"id": "1"}).result
    assert len(result["structuredContent"]["items"]) == 4
    assert "_meta" not in result and len(result["content"]) == 1


def test_the_text_cap_cuts_the_text_and_drops_the_structured_content_it_no_longer_spells(upstream, executor, tool):
    upstream.reply(200, ORDERS)
    full = executor.execute(tool(), {"id": "1"}).result["content"][0]["text"]
    result = executor.execute(shaped(tool, max_text_chars=100), {"id": "1"}).result
    assert result["content"][0]["text"] == full[:100]
    assert result["content"][1]["text"] == f"[truncated by Janus: 100 of {len(full)} characters shown]"
    assert result["_meta"][MARKER] == {"text": {"total_chars": len(full), "kept_chars": 100}}
    assert "structuredContent" not in result


def test_a_plain_text_answer_is_capped_too(upstream, executor, tool):
    upstream.reply(200, "x" * 500, "text/plain")
    result = executor.execute(shaped(tool, max_text_chars=100), {"id": "1"}).result
    assert result["content"][0]["text"] == "x" * 100
    assert result["_meta"][MARKER] == {"text": {"total_chars": 500, "kept_chars": 100}}


def test_an_array_of_objects_renders_as_a_markdown_table_beside_the_data(upstream, executor, tool):
    upstream.reply(200, {"rows": [{"id": 1, "name": "a|b"}, {"id": 2, "note": "two\nlines"}]})
    result = executor.execute(shaped(tool, "rows", render_table=True), {"id": "1"}).result
    assert result["content"][0]["text"] == (
        "| id | name | note |\n|---|---|---|\n| 1 | a\\|b |  |\n| 2 |  | two lines |"
    )


def test_a_table_is_not_forced_on_what_is_not_an_array_of_objects(upstream, executor, tool):
    upstream.reply(200, {"rows": [1, 2]})
    result = executor.execute(shaped(tool, render_table=True), {"id": "1"}).result
    assert json.loads(result["content"][0]["text"]) == {"rows": [1, 2]}
    assert markdown_table([]) is None and markdown_table([{"a": 1}, 2]) is None


def test_dlp_masks_what_the_projection_kept_and_counts_only_that(upstream, tool):
    upstream.reply(200, ORDERS)
    with Executor(redaction=True) as executor:
        outcome = executor.execute(shaped(tool, "items[:2]", render_table=True), {"id": "1"})
    text = outcome.result["content"][0]["text"]
    assert "b0@example.com" not in text and "[redacted:email]" in text
    assert "4111 1111 1111 1112" in text  # not Luhn-valid: an order reference, left alone
    assert "ann@example.com" not in json.dumps(outcome.result)
    assert outcome.result["_meta"][MARKER] == {"projection": "items[:2]", "redacted": {"email": 2}}
    assert outcome.result["content"][-1]["text"] == "[redacted by Janus: 2 email]"
    assert outcome.redactions == "email:2"


def test_dlp_masks_structured_content_and_text_consistently(upstream, tool):
    upstream.reply(200, {"owner": "ann@example.com", "iban": "GB29NWBK60161331926819"})
    with Executor(redaction=True) as executor:
        outcome = executor.execute(tool(), {"id": "1"})
    expected = {"owner": "[redacted:email]", "iban": "[redacted:iban]"}
    assert outcome.result["structuredContent"] == expected
    assert json.loads(outcome.result["content"][0]["text"]) == expected
    assert outcome.redactions == "email:1,iban:1"


def test_masking_comes_before_the_text_cap(upstream, tool):
    upstream.reply(200, "mail: jane@example.com " + "y" * 200, "text/plain")
    with Executor(redaction=True) as executor:
        result = executor.execute(shaped(tool, max_text_chars=100), {"id": "1"}).result
    assert result["content"][0]["text"].startswith("mail: [redacted:email] yyy")
    assert set(result["_meta"][MARKER]) == {"redacted", "text"}


def test_error_answers_are_masked_too(upstream, tool):
    upstream.reply(404, {"error": "no user jane@example.com"})
    with Executor(redaction=True) as executor:
        outcome = executor.execute(tool(), {"id": "1"})
    assert outcome.result["isError"] is True
    assert "jane@example.com" not in json.dumps(outcome.result)
    assert outcome.redactions == "email:1"


@pytest.mark.parametrize(
    "global_setting, connection, masked",
    [(False, None, False), (True, None, True), (True, False, False), (False, True, True)],
)
def test_the_connection_overrides_the_global_setting(upstream, tool, global_setting, connection, masked):
    upstream.reply(200, {"owner": "ann@example.com"})
    with Executor(redaction=global_setting) as executor:
        outcome = executor.execute(shaped(tool, redaction=connection), {"id": "1"})
    assert ("ann@example.com" in outcome.result["content"][0]["text"]) is not masked
    assert outcome.redactions == ("email:1" if masked else None)


@pytest.mark.parametrize(
    "projection, max_items, max_text_chars, render_table",
    [
        (None, None, None, False),
        ("people", 2, None, True),
        ("people[].{who: mail, card: card}", None, 120, False),
        ("{first: people[0]}", 1, None, False),
    ],
    ids=["whole", "table-capped", "projected-cut", "object"],
)
@pytest.mark.parametrize("global_setting, connection", [(False, None), (True, None), (True, False), (False, True)])
def test_the_editors_preview_is_exactly_what_the_call_returns(
    upstream, tool, projection, max_items, max_text_chars, render_table, global_setting, connection
):
    """One pipeline, one masking rule: the portal's test-in-place against the executor, answer for answer."""
    answer = {"people": [{"id": i, "mail": email_address(), "card": card_number()} for i in range(3)]}
    upstream.reply(200, answer)
    spec = shaped(tool, projection, max_items, max_text_chars, render_table, redaction=connection)
    with Executor(redaction=global_setting) as executor:
        result = executor.execute(spec, {"id": "1"}).result
    shown = preview(
        projection or "",
        json.dumps(answer),
        max_items,
        max_text_chars,
        render_table,
        redact=dlp.enabled(global_setting, connection),
    )
    assert shown["text"] == "\n\n".join(block["text"] for block in result["content"])
    assert shown["marker"] == result.get("_meta", {}).get(MARKER)
    assert shown["structured"] is ("structuredContent" in result)
    assert shown["redacted"] == (result.get("_meta", {}).get(MARKER) or {}).get("redacted", {})
    masked = connection if connection is not None else global_setting
    assert bool(shown["redacted"]) is masked


def test_a_clean_answer_with_dlp_on_is_exactly_the_unshaped_one(upstream, executor, tool):
    upstream.reply(200, {"id": 7, "created": "2026-12-07", "amount": 1234567890123})
    plain = executor.execute(tool(), {"id": "1"}).result
    with Executor(redaction=True) as dlp_on:
        assert dlp_on.execute(tool(), {"id": "1"}).result == plain


def test_a_projection_that_fails_on_the_answer_is_a_tool_error(upstream, executor, tool):
    upstream.reply(200, {"items": [{"n": 1}, {"n": "x"}]})
    outcome = executor.execute(shaped(tool, "sort_by(items, &n)"), {"id": "1"})
    assert outcome.result["isError"] is True
    assert "response projection failed" in outcome.result["content"][0]["text"]
    assert outcome.error == "response projection failed"


@pytest.mark.parametrize("expression", ["items[0:2:0]", "length(items[0])"])
def test_a_projection_that_cannot_run_on_this_answer_is_a_tool_error_not_a_crash(upstream, executor, tool, expression):
    upstream.reply(200, {"items": [1, 2]})
    outcome = executor.execute(shaped(tool, expression), {"id": "1"})
    assert outcome.result["isError"] is True and outcome.error == "response projection failed"


def test_a_bad_expression_is_refused_with_the_parsers_message():
    with pytest.raises(ProjectionError, match="column"):
        compile_projection("items[?x==]")
    with pytest.raises(ProjectionError, match="nested too deeply"):
        compile_projection("(" * 3000 + "a" + ")" * 3000)
    assert compile_projection("items[0]") is compile_projection("items[0]")  # compiled once


def test_nothing_to_shape_is_no_shaping_at_all():
    assert shaping_for(None, None, None, False) is None
    assert shaping_for("", 0, 0, None) is None
