"""The editor's test-in-place: the gateway's shaping on a pasted sample, with every problem explained."""

from __future__ import annotations

import json

import pytest

from janus.services.errors import NotFound
from janus.services.response_shaping import MAX_SAMPLE_CHARS, masking, preview
from tests.support.catalog import add_connection
from tests.support.fake_credentials import card_number, email_address

SAMPLE = json.dumps({"rows": [{"id": 1, "mail": "a@example.com"}, {"id": 2, "mail": "b@example.com"}]})


def test_the_preview_is_what_a_call_would_return_unmasked():
    shown = preview("rows[].id", SAMPLE)
    assert shown == {
        "text": "[\n  1,\n  2\n]",
        "marker": {"projection": "rows[].id"},
        "structured": False,
        "redacted": {},
    }


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


def test_the_preview_masks_what_dlp_finds_when_masking_is_on_and_counts_it():
    mail, card = email_address(), card_number()
    sample = json.dumps({"owner": {"mail": mail}, "payments": [{"card": card, "amount": 12}]})
    masked = preview("", sample, redact=True)
    assert mail not in masked["text"] and card not in masked["text"]
    assert '"mail": "[redacted:email]"' in masked["text"] and '"card": "[redacted:card]"' in masked["text"]
    assert masked["text"].endswith("[redacted by Janus: 1 email, 1 card]")
    assert masked["redacted"] == {"email": 1, "card": 1} == masked["marker"]["redacted"]
    plain = preview("", sample, redact=False)
    assert mail in plain["text"] and card in plain["text"]
    assert plain["redacted"] == {} and plain["marker"] is None


def test_masking_is_applied_after_the_projection_so_only_what_is_kept_is_counted():
    sample = json.dumps({"rows": [{"id": 1, "mail": email_address()}, {"id": 2, "mail": email_address()}]})
    assert preview("rows[0]", sample, redact=True)["redacted"] == {"email": 1}
    assert preview("rows[].id", sample, redact=True)["redacted"] == {}


@pytest.mark.parametrize(
    "gateway, override, expected",
    [
        (False, None, {"on": False, "by": "gateway"}),
        (True, None, {"on": True, "by": "gateway"}),
        (False, True, {"on": True, "by": "connection"}),
        (True, False, {"on": False, "by": "connection"}),
    ],
    ids=["follows-off", "follows-on", "override-on", "override-off"],
)
def test_masking_is_the_connections_override_else_redaction_enabled(sqlite_app, gateway, override, expected):
    conn = add_connection(sqlite_app, "HR", "http://127.0.0.1:9", "hr_", redaction=override)
    sqlite_app.config["REDACTION_ENABLED"] = gateway
    with sqlite_app.app_context():
        assert masking(conn) == {**expected, "connection": "HR"}
        assert masking(None) == {"on": gateway, "by": "gateway", "connection": None}  # no connection chosen yet


def test_masking_for_an_unknown_connection_is_not_found(sqlite_app):
    with sqlite_app.app_context(), pytest.raises(NotFound, match="connection 'nope' not found"):
        masking("nope")
