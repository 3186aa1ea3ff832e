"""The editor's test-in-place: the gateway's shaping on a pasted sample, with every problem explained."""

from __future__ import annotations

import json

import pytest

from janus.services.response_shaping import MAX_SAMPLE_CHARS, preview

SAMPLE = json.dumps({"rows": [{"id": 1, "mail": "a@example.com"}, {"id": 2, "mail": "b@example.com"}]})


def test_the_preview_is_what_a_call_would_return_unmasked():
    shown = preview("rows[].id", SAMPLE)
    assert shown == {"text": "[\n  1,\n  2\n]", "marker": {"projection": "rows[].id"}, "structured": False}


def test_the_preview_shows_the_caps_notes_and_keeps_structured_content_when_it_can():
    shown = preview("", SAMPLE, max_items=1)
    assert shown["structured"] is True
    assert shown["text"].endswith("[truncated by Janus: rows: 1 of 2 items shown]")
    assert shown["marker"] == {"items": [{"path": "rows", "total": 2, "kept": 1}]}


@pytest.mark.parametrize(
    "args, problem",
    [
        (("rows[", SAMPLE), "response_projection is not a valid JMESPath expression: "),
        (("rows", ""), "paste a sample JSON answer to test against"),
        (("rows", "{"), "the sample is not valid JSON: "),
        (("rows", " " * (MAX_SAMPLE_CHARS + 1) + "{}"), f"the sample is longer than {MAX_SAMPLE_CHARS} characters"),
        (("length(rows[0].id)", SAMPLE), "the endpoint's response projection failed on this answer: "),
        (("rows", SAMPLE, "x"), "max_items must be a whole number of at least 1"),
        (("rows", SAMPLE, None, 50), "max_text_chars must be a whole number of at least 100"),
    ],
)
def test_each_problem_is_explained(args, problem):
    assert preview(*args)["problem"].startswith(problem)
