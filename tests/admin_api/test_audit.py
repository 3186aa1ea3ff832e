"""The audit trails over the API: filters, pagination, newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from janus.extensions import db
from janus.models import AdminAuditLog, ToolCallLog

CALLS = "/api/v1/audit/tool-calls"
EVENTS = "/api/v1/audit/admin"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PAGING = "page must be at least 1 and per_page between 1 and 500"
# Upstream requests per call (hour): 4 and 8 retried, 6 refused by an open circuit (0), the rest sent once or none.
ATTEMPTS = {1: 1, 4: 3, 5: 1, 6: 0, 8: 2}
REDACTIONS = {5: "email:1", 8: "card:1,iban:2"}  # what DLP masked, by class


@pytest.fixture
def calls(app):
    """Ten calls an hour apart: tools a/b alternating, every third denied, tokens T1/T2 by halves; some retried
    (ATTEMPTS), some masked (REDACTIONS)."""
    with app.app_context():
        for i in range(10):
            db.session.add(
                ToolCallLog(
                    created_at=T0 + timedelta(hours=i),
                    tool_name="w_a" if i % 2 == 0 else "w_b",
                    status="denied" if i % 3 == 0 else "success",
                    token_name="T1" if i < 5 else "T2",
                    http_status=None if i % 3 == 0 else 200,
                    duration_ms=1.5 * i,
                    transport="streamable",
                    arguments_digest="0" * 64,
                    error_message="scope" if i % 3 == 0 else None,
                    trace_id=TRACE if i in (2, 7) else None,
                    attempts=ATTEMPTS.get(i),
                    redactions=REDACTIONS.get(i),
                )
            )
        db.session.commit()


def _hours(items) -> list[int]:
    return [
        int((datetime.fromisoformat(c["created_at"].replace("Z", "+00:00")) - T0).total_seconds() // 3600)
        for c in items
    ]


def test_tool_calls_are_listed_newest_first_with_the_page_shape(app, api, admin, calls):
    body = api.get(CALLS, headers=admin).json
    assert (body["total"], body["page"], body["per_page"]) == (10, 1, 50)
    assert _hours(body["items"]) == list(range(9, -1, -1))
    first = body["items"][-1]
    assert first | {"id": 0, "created_at": ""} == {
        "id": 0,
        "created_at": "",
        "token_name": "T1",
        "tool_name": "w_a",
        "status": "denied",
        "http_status": None,
        "duration_ms": 0.0,
        "error_message": "scope",
        "arguments_digest": "0" * 64,
        "transport": "streamable",
        "trace_id": None,
        "attempts": None,
        "redactions": None,
    }
    assert body["items"][2]["trace_id"] == TRACE
    assert [(c["attempts"], c["redactions"]) for c in body["items"][:2]] == [(None, None), (2, "card:1,iban:2")]


@pytest.mark.parametrize(
    "query, hours",
    [
        ({"tool": "w_a"}, [8, 6, 4, 2, 0]),
        ({"status": "denied"}, [9, 6, 3, 0]),
        ({"token": "T2"}, [9, 8, 7, 6, 5]),
        ({"tool": "w_b", "status": "success", "token": "T1"}, [1]),
        ({"since": (T0 + timedelta(hours=7)).isoformat()}, [9, 8, 7]),
        ({"until": "2026-11-01T14:00:00Z"}, [2, 1, 0]),
        ({"since": "2026-11-01T13:00:00", "until": "2026-11-01T14:30:00+00:00"}, [2, 1]),  # no zone: UTC
        ({"tool": "nothing"}, []),
        ({"trace": TRACE}, [7, 2]),
        ({"trace": TRACE.upper()}, [7, 2]),  # the same id, spelt as some tools show it
        ({"trace": "1" * 32}, []),
        ({"tool": "W_"}, [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]),  # any part of the name, in any letter case
        ({"tool": "_b", "token": "t"}, [9, 7, 5, 3, 1]),
        ({"tool": "%"}, []),  # LIKE's wildcards match only themselves
        ({"retried": "true"}, [8, 4]),  # more than one request upstream
        ({"retried": "false"}, [9, 7, 6, 5, 3, 2, 1, 0]),  # once, none due (null), or refused by the circuit (0)
        ({"redacted": "true"}, [8, 5]),
        ({"redacted": "false"}, [9, 7, 6, 4, 3, 2, 1, 0]),
        ({"retried": "true", "redacted": "true"}, [8]),
        ({"retried": "1", "redacted": "no"}, [4]),  # 1/0 and yes/no as well
        ({"retried": "", "redacted": ""}, list(range(9, -1, -1))),  # blank: no filter
        ({"redacted": "true", "tool": "w_b"}, [5]),
    ],
)
def test_tool_calls_can_be_filtered(app, api, admin, calls, query, hours):
    body = api.get(CALLS, headers=admin, query_string=query).json
    assert _hours(body["items"]) == hours and body["total"] == len(hours)


def test_tool_calls_are_paginated(app, api, admin, calls):
    pages = [api.get(CALLS, headers=admin, query_string={"page": p, "per_page": 4}).json for p in (1, 2, 3, 4)]
    assert [_hours(p["items"]) for p in pages] == [[9, 8, 7, 6], [5, 4, 3, 2], [1, 0], []]
    assert {(p["total"], p["per_page"]) for p in pages} == {(10, 4)}
    assert [p["page"] for p in pages] == [1, 2, 3, 4]
    far = api.get(CALLS, headers=admin, query_string={"page": 10**30, "per_page": 500}).json
    assert (far["items"], far["total"]) == ([], 10)


@pytest.mark.parametrize(
    "query, message",
    [
        ({"status": "ok"}, "status must be one of success, failure, denied, cancelled, throttled"),
        ({"page": "0"}, PAGING),
        ({"per_page": "501"}, PAGING),
        ({"per_page": "0"}, PAGING),
        ({"page": "two"}, "page and per_page must be whole numbers"),
        ({"page": "1.5"}, "page and per_page must be whole numbers"),
        ({"page": ""}, "page and per_page must be whole numbers"),
        ({"since": "yesterday"}, "since must be an ISO 8601 date-time, e.g. 2026-11-25T00:00:00Z"),
        ({"until": "9999-12-31T23:59:59-05:00"}, "until must be an ISO 8601 date-time, e.g. 2026-11-25T00:00:00Z"),
        ({"tool": "w\u0000a"}, "tool must not contain NUL characters"),
        ({"trace": "4bf92f35"}, "trace must be a trace id: 32 hexadecimal digits"),
        ({"trace": "00-" + TRACE + "-00f067aa0ba902b7-01"}, "trace must be a trace id: 32 hexadecimal digits"),
        ({"retried": "maybe"}, "retried must be true or false"),
        ({"redacted": "2"}, "redacted must be true or false"),
    ],
)
def test_invalid_tool_call_filters_answer_400_with_a_specific_message(app, api, admin, calls, query, message):
    response = api.get(CALLS, headers=admin, query_string=query)
    assert (response.status_code, response.json) == (400, {"error": "validation_error", "message": message})


def test_admin_events_can_be_filtered_by_actor_and_action_and_paginated(app, api, admin, viewer):
    with app.app_context():
        for i, (actor, action) in enumerate(
            [
                ("root", "connection.create"),
                ("ann", "connection.create"),
                ("root", "token.create"),
                ("root", "connection.create"),
            ]
        ):
            db.session.add(
                AdminAuditLog(
                    created_at=T0 + timedelta(minutes=i),
                    actor=actor,
                    action=action,
                    target_type=action.split(".")[0],
                    target_id=str(i),
                    details={"n": i},
                )
            )
        db.session.commit()
    body = api.get(EVENTS, headers=viewer, query_string={"actor": "root", "action": "connection.create"}).json
    assert [e["target_id"] for e in body["items"]] == ["3", "0"] and body["total"] == 2
    assert body["items"][0] | {"id": 0, "created_at": ""} == {
        "id": 0,
        "created_at": "",
        "actor": "root",
        "action": "connection.create",
        "target_type": "connection",
        "target_id": "3",
        "details": {"n": 3},
    }
    page = api.get(EVENTS, headers=viewer, query_string={"per_page": 1, "page": 2, "actor": "root"}).json
    assert ([e["target_id"] for e in page["items"]], page["total"]) == (["2"], 3)
    since = api.get(EVENTS, headers=viewer, query_string={"since": (T0 + timedelta(minutes=2)).isoformat()}).json
    assert [e["target_id"] for e in since["items"]] == ["3", "2"]
    response = api.get(EVENTS, headers=viewer, query_string={"actor": "x\u0000"})
    assert (response.status_code, response.json["message"]) == (400, "actor must not contain NUL characters")


def test_a_time_range_is_exported_with_every_column_oldest_first(app, api, viewer, calls):
    import json

    query = {"since": "2026-11-01T13:00:00Z", "until": "2026-11-01T15:00:00Z"}
    reply = api.get(f"{CALLS}/export", headers=viewer, query_string=query)
    assert reply.status_code == 200 and reply.mimetype == "application/x-ndjson"
    assert reply.headers["Content-Disposition"].endswith('.jsonl"')
    rows = [json.loads(line) for line in reply.get_data(as_text=True).splitlines()]
    assert [r["created_at"] for r in rows] == ["2026-11-01T13:00:00Z", "2026-11-01T14:00:00Z", "2026-11-01T15:00:00Z"]
    assert {"id", "tool_name", "status", "duration_ms", "arguments_digest"} <= set(rows[0])
    as_csv = api.get(f"{CALLS}/export", headers=viewer, query_string={**query, "format": "csv"})
    lines = as_csv.get_data(as_text=True).splitlines()
    assert as_csv.mimetype == "text/csv" and lines[0].startswith("id,created_at,") and len(lines) == 4


@pytest.mark.parametrize(
    ("query", "message"),
    [({"since": "yesterday"}, "since must be an ISO 8601 date-time"), ({"format": "xml"}, "format must be one of")],
)
def test_a_bad_export_request_answers_400_before_any_row(app, api, admin, calls, query, message):
    reply = api.get(f"{CALLS}/export", headers=admin, query_string=query)
    assert reply.status_code == 400 and message in reply.json["message"]
