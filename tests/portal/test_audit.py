"""Audit Logs page: both trails listed, filtered, paged and exported as CSV through the services."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from janus.extensions import db
from janus.gateway.tool_backend import CallRecord, arguments_digest
from janus.models import ToolCallLog
from janus.services import audit_queries
from janus.services import connections as connections_service
from janus.services.audit import AuditWriter

T0 = datetime(2026, 6, 29, 8, 0, tzinfo=UTC)


def _add_calls(app, *rows: dict) -> None:
    """Tool-call rows straight into the table; each dict overrides the defaults below."""
    with app.app_context():
        for row in rows:
            db.session.add(
                ToolCallLog(
                    **{
                        "created_at": T0,
                        "tool_name": "bank_get_balance",
                        "status": "success",
                        "duration_ms": 12.0,
                        "http_status": 200,
                        "token_name": "Ops Team",
                        "transport": "streamable_http",
                        **row,
                    }
                )
            )
        db.session.commit()


def _rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def _csv(reply) -> list[list[str]]:
    return list(csv.reader(io.StringIO(reply.get_data().decode("utf-8"), newline="")))


def test_tool_calls_from_the_audit_writer_are_listed_newest_first_without_argument_values(admin, tmp_path):
    with admin.app.app_context():
        engine = db.engine
    writer = AuditWriter(engine, tmp_path / "spool", interval=0.01)
    secret_argument = {"account": "DE89 3704 0044 0532 0130 00"}
    writer.record(
        CallRecord(
            tool_name="lch_get_collateral",
            status="success",
            duration_ms=4.2,
            token_id=None,
            token_name="LCH Member Test Client",
            transport="sse",
            http_status=200,
            arguments_digest=arguments_digest(secret_argument),
            created_at=T0,
        )
    )
    writer.record(
        CallRecord(
            tool_name="bank_transfer",
            status="failure",
            duration_ms=862.4,
            token_id=None,
            token_name="master",
            transport="stdio",
            http_status=502,
            error_message="upstream answered 502 Bad Gateway",
            created_at=T0 + timedelta(minutes=5),
        )
    )
    assert writer.flush(timeout=10)
    writer.close()

    reply = admin.get("/audit")
    html = reply.get_data(as_text=True)
    assert reply.status_code == 200 and 'aria-current="page">Audit Logs' in html
    rows = _rows(html)
    assert len(rows) == 2
    newest, oldest = rows
    assert "bank_transfer" in newest and "FAILURE" in newest and "502" in newest and "862ms" in newest
    assert "upstream answered 502 Bad Gateway" in newest and "master" in newest and "stdio" in newest
    assert "2026-06-29 08:05:00" in newest
    assert (
        "lch_get_collateral" in oldest
        and "SUCCESS" in oldest
        and "LCH Member Test Client" in oldest
        and "4ms" in oldest
    )
    assert "DE89" not in html  # only the digest of the arguments exists, and the page does not even show that
    assert "style=" not in html and "<script>" not in html  # nothing the CSP would block
    restored = admin.client.get("/audit", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restored.get_data(as_text=True)  # htmx restoring uncached history needs the whole page


def test_filters_narrow_the_tool_calls_and_htmx_gets_only_the_panel(admin):
    _add_calls(
        admin.app,
        {"tool_name": "bank_get_balance", "status": "success", "token_name": "Ops Team"},
        {
            "tool_name": "bank_get_balance",
            "status": "failure",
            "token_name": "Ops Team",
            "created_at": T0 + timedelta(hours=1),
        },
        {
            "tool_name": "dog_random_image",
            "status": "denied",
            "token_name": "Intern",
            "created_at": T0 + timedelta(hours=2),
        },
        {
            "tool_name": "dog_random_image",
            "status": "success",
            "token_name": "Ops Team",
            "created_at": T0 + timedelta(hours=3),
        },
    )
    cases = [
        ("tool=dog_random_image", 2),
        ("status=failure", 1),
        ("token=Intern", 1),
        ("tool=bank_get_balance&token=Ops+Team&status=success", 1),
        ("since=2026-06-29T09:00&until=2026-06-29T10:00", 2),  # what a datetime-local input sends, read as UTC
        ("since=2026-06-29T10:30", 1),
        ("tool=&status=&token=&since=&until=", 4),  # blank inputs are no filter
    ]
    for query, expected in cases:
        reply = admin.get(f"/audit?{query}")
        assert reply.status_code == 200, query
        assert len(_rows(reply.get_data(as_text=True))) == expected, query
    reply = admin.get("/audit?tool=&status=denied&token=&since=&until=", htmx=True)
    assert reply.headers["HX-Push-Url"] == "/audit?status=denied"  # the address bar without the blank inputs
    fragment = reply.get_data(as_text=True)
    assert "<html" not in fragment and fragment.lstrip().startswith('<div id="audit-panel"')
    assert 'hx-push-url="true"' in fragment and "selected>denied" in fragment
    assert len(_rows(fragment)) == 1 and "Intern" in fragment
    assert 'href="/audit/export.csv?status=denied"' in fragment  # the export follows the filter
    suggestions = fragment.split('id="audit-tools"', 1)[1].split("</datalist>", 1)[0]
    assert re.findall(r'<option value="([^"]+)">', suggestions) == ["bank_get_balance", "dog_random_image"]


def test_pages_hold_fifty_rows_and_their_links_keep_the_filters(admin):
    _add_calls(
        admin.app,
        *(
            {"status": "failure", "created_at": T0 + timedelta(seconds=i), "http_status": 500 + i % 4}
            for i in range(120)
        ),
    )
    _add_calls(admin.app, {"status": "success", "created_at": T0 + timedelta(days=1)})
    first = admin.get("/audit?status=failure").get_data(as_text=True)
    assert len(_rows(first)) == 50 and "Showing 1–50 of 120 tool calls" in first and "Page 1 of 3" in first
    older = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert older == "/audit?page=2&status=failure"
    second = admin.get(older).get_data(as_text=True)
    assert "Showing 51–100 of 120" in second and 'rel="prev" href="/audit?page=1&amp;status=failure"' in second
    last = admin.get("/audit?status=failure&page=3").get_data(as_text=True)
    assert len(_rows(last)) == 20 and 'rel="next"' not in last and "08:00:19" in last  # the oldest row comes last
    past = admin.get("/audit?status=failure&page=9")
    assert past.status_code == 200 and "past the end" in past.get_data(as_text=True)


def test_bad_filters_are_answered_next_to_their_input_with_422(admin):
    cases = [
        ("since=yesterday", "since", "since must be an ISO 8601 date-time"),
        ("until=2026-13-40T25:00", "until", "until must be an ISO 8601 date-time"),
        ("since=2026-06-29T10:00&until=2026-06-29T09:00", "until", "until must not be before since"),
        ("status=exploded", "status", "status must be one of success, failure, denied"),
        ("page=0", "page", "page must be at least 1"),
        ("page=two", "page", "page and per_page must be whole numbers"),
    ]
    for query, field, message in cases:
        for htmx in (False, True):
            reply = admin.get(f"/audit?{query}", htmx=htmx)
            html = reply.get_data(as_text=True)
            assert reply.status_code == 422, (query, html)
            shown = dict(re.findall(r'<p class="error" id="e-(\w+)" role="alert">([^<]*)</p>', html))
            assert message in shown.get(field, ""), (query, shown)
            if field != "page":
                assert f'aria-describedby="e-{field}"' in html and 'aria-invalid="true"' in html
            assert ("<html" in html) is not htmx
    reply = admin.get("/audit/export.csv?since=yesterday")
    assert reply.status_code == 422 and "text/html" in reply.content_type
    assert "since must be an ISO 8601 date-time" in reply.get_data(as_text=True)
    assert admin.get("/audit/admin?until=soon").status_code == 422


def test_the_csv_export_streams_the_filtered_calls_quoted_utf8_and_defused(admin):
    _add_calls(
        admin.app,
        {
            "tool_name": "bank_get_balance",
            "status": "failure",
            "token_name": "Zürich ✓ team",
            "duration_ms": 1.25,
            "error_message": 'upstream said "no", then\nclosed, badly',
            "created_at": T0 + timedelta(minutes=1),
        },
        {
            "tool_name": "bank_get_balance",
            "status": "failure",
            "token_name": "+cmd|' /C calc'!A0",
            "error_message": '=HYPERLINK("http://evil.example","click")',
            "created_at": T0 + timedelta(minutes=2),
        },
        {
            "tool_name": "bank_get_balance",
            "status": "failure",
            "token_name": "@SUM(A1:A9)",
            "error_message": "-2+3",
            "created_at": T0 + timedelta(minutes=3),
        },
        {"tool_name": "other_tool", "status": "failure", "created_at": T0 + timedelta(minutes=4)},
    )
    reply = admin.get("/audit/export.csv?tool=bank_get_balance&status=failure")
    assert reply.status_code == 200 and reply.is_streamed
    assert reply.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="janus-tool-calls-\d{8}T\d{6}Z\.csv"', reply.headers["Content-Disposition"]
    )
    table = _csv(reply)
    assert table[0] == list(audit_queries.TOOL_CALL_COLUMNS)
    assert len(table) == 4  # the header and the three matching rows, newest first
    col = {name: i for i, name in enumerate(table[0])}
    at_sign, formula, plain = table[1:]
    assert plain[col["token_name"]] == "Zürich ✓ team"
    assert plain[col["error_message"]] == 'upstream said "no", then\nclosed, badly'  # quoting survives a round trip
    assert plain[col["created_at"]] == "2026-06-29T08:01:00Z" and plain[col["duration_ms"]] == "1.25"
    assert formula[col["error_message"]] == '\'=HYPERLINK("http://evil.example","click")'
    assert formula[col["token_name"]] == "'+cmd|' /C calc'!A0"
    assert at_sign[col["token_name"]] == "'@SUM(A1:A9)" and at_sign[col["error_message"]] == "'-2+3"
    assert "Zürich ✓ team".encode() in reply.get_data()  # UTF-8 bytes on the wire


def test_a_long_log_is_exported_batch_by_batch_without_gaps_or_repeats(admin, monkeypatch):
    monkeypatch.setattr(audit_queries, "EXPORT_BATCH", 7)
    _add_calls(admin.app, *({"created_at": T0 + timedelta(seconds=i), "http_status": i} for i in range(30)))
    reply = admin.get("/audit/export.csv")
    chunks = [c if isinstance(c, bytes) else c.encode() for c in reply.response]
    assert len(chunks) == 5  # header with rows 1-7, 8-14, 15-21, 22-28, then 29-30: one query per batch
    table = list(csv.reader(io.StringIO(b"".join(chunks).decode("utf-8"), newline="")))
    assert [int(r[table[0].index("http_status")]) for r in table[1:]] == list(range(29, -1, -1))


def test_admin_changes_show_who_changed_which_field_and_export_with_redacted_details(admin):
    with admin.app.app_context():
        conn = connections_service.create_connection("alice", {"name": "Bank", "base_url": "http://127.0.0.1:9"})
        connections_service.update_connection("carol", conn["id"], {"name": "Bank v2"})
    html = admin.get("/audit/admin").get_data(as_text=True)
    rows = _rows(html)
    # After the fixture's two user.create and alice's login.success.
    assert len(rows) == 5 and 'aria-current="page">Admin changes' in html
    assert "login.success" in rows[2] and "alice" in rows[2]
    update, create = rows[:2]
    assert "carol" in update and "connection.update" in update and conn["id"] in update
    assert re.search(
        r"2 fields: name, updated_at</summary>.*<dt>name</dt><dd><code>Bank</code> .*changed to</span> <code>Bank v2</code>",
        update,
        re.S,
    )
    assert "alice" in create and "connection.create" in create
    only_updates = admin.get("/audit/admin?action=connection.update&actor=carol").get_data(as_text=True)
    assert len(_rows(only_updates)) == 1
    assert len(_rows(admin.get("/audit/admin?actor=nobody").get_data(as_text=True))) == 0
    reply = admin.get("/audit/admin/export.csv?actor=carol")
    assert 'filename="janus-admin-changes-' in reply.headers["Content-Disposition"]
    table = _csv(reply)
    assert table[0] == list(audit_queries.ADMIN_EVENT_COLUMNS) and len(table) == 2
    assert '"name": "Bank v2"' in table[1][table[0].index("details")]


def test_viewers_read_and_export_the_logs_and_strangers_are_sent_to_sign_in(viewer, portal_app):
    _add_calls(portal_app, {})
    assert viewer.get("/audit").status_code == 200
    assert viewer.get("/audit/admin").status_code == 200
    assert viewer.get("/audit/export.csv").status_code == 200
    stranger = portal_app.test_client()
    for url in ("/audit", "/audit/export.csv", "/audit/admin/export.csv"):
        reply = stranger.get(url)
        assert reply.status_code == 302 and reply.headers["Location"].startswith("/login")


def test_export_and_suggestions_run_the_same_on_sqlite_and_postgresql(app, monkeypatch):
    monkeypatch.setattr(audit_queries, "EXPORT_BATCH", 2)
    _add_calls(
        app,
        *(
            {
                "created_at": T0 + timedelta(minutes=i),
                "tool_name": f"tool_{i % 2}",
                "token_name": None,
                "error_message": "=1+1" if i == 4 else None,
            }
            for i in range(5)
        ),
    )
    with app.app_context():
        text = "".join(audit_queries.export_tool_calls_csv(tool="tool_0", since="2026-06-29T08:01:00Z"))
        choices = audit_queries.filter_choices()
    table = list(csv.reader(io.StringIO(text, newline="")))
    col = table[0].index
    assert [(r[col("created_at")], r[col("error_message")], r[col("token_name")]) for r in table[1:]] == [
        ("2026-06-29T08:04:00Z", "'=1+1", ""),
        ("2026-06-29T08:02:00Z", "", ""),
    ]
    assert choices["tools"] == ["tool_0", "tool_1"] and choices["tokens"] == []


def test_the_trace_id_is_shown_links_to_its_trace_and_filters_by_exact_match(admin):
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    _add_calls(
        admin.app,
        {"tool_name": "bank_get_balance", "trace_id": trace},
        {"tool_name": "bank_transfer", "trace_id": trace, "created_at": T0 + timedelta(minutes=1)},
        {"tool_name": "dog_random_image", "trace_id": "1" * 32, "created_at": T0 + timedelta(minutes=2)},
        {"tool_name": "no_trace", "created_at": T0 + timedelta(minutes=3)},
    )
    rows = _rows(admin.get("/audit").get_data(as_text=True))
    assert len(rows) == 4
    assert "no_trace" in rows[0] and "<code>" not in rows[0].split("audit-trace", 1)[1]
    assert f'href="/audit?trace={trace}"' in rows[2] and f"<code>{trace}</code>" in rows[2]
    narrowed = admin.get(f"/audit?trace={trace}").get_data(as_text=True)
    assert [("bank_transfer" in r, "bank_get_balance" in r) for r in _rows(narrowed)] == [(True, False), (False, True)]
    assert f'href="/audit/export.csv?trace={trace}"' in narrowed
    exported = _csv(admin.get(f"/audit/export.csv?trace={trace}"))
    column = exported[0].index("trace_id")
    assert [r[column] for r in exported[1:]] == [trace, trace]
    refused = admin.get("/audit?trace=not-a-trace")
    assert refused.status_code == 422
    assert "trace must be a trace id: 32 hexadecimal digits" in refused.get_data(as_text=True)


def test_retries_and_dlp_masking_are_shown_only_on_the_calls_that_had_them(admin):
    _add_calls(
        admin.app,
        {"tool_name": "plain_call", "attempts": None},  # no upstream request was due (e.g. denied)
        {"tool_name": "first_try", "attempts": 1, "created_at": T0 + timedelta(minutes=1)},
        {"tool_name": "circuit_open", "attempts": 0, "created_at": T0 + timedelta(minutes=2)},
        {"tool_name": "retried_call", "attempts": 3, "created_at": T0 + timedelta(minutes=3)},
        {
            "tool_name": "masked_call",
            "attempts": 2,
            "redactions": "email:2,jwt:1",
            "created_at": T0 + timedelta(minutes=4),
        },
    )
    html = admin.get("/audit").get_data(as_text=True)
    assert '<th scope="col">Attempts</th><th scope="col">DLP masked</th>' in html
    cells = {
        re.search(r'class="audit-tool">([^<]+)<', row).group(1): (
            re.search(r'<td class="audit-attempts">(.*?)</td>', row, re.S).group(1),
            re.search(r'<td class="audit-redactions">(.*?)</td>', row, re.S).group(1),
        )
        for row in _rows(html)
    }
    assert cells == {
        "masked_call": ("2 attempts", "email×2, jwt×1"),
        "retried_call": ("3 attempts", ""),
        "circuit_open": ("", ""),
        "first_try": ("", ""),
        "plain_call": ("", ""),
    }
    exported = _csv(admin.get("/audit/export.csv"))
    col = exported[0].index
    assert [(r[col("tool_name")], r[col("attempts")], r[col("redactions")]) for r in exported[1:]] == [
        ("masked_call", "2", "email:2,jwt:1"),
        ("retried_call", "3", ""),
        ("circuit_open", "0", ""),
        ("first_try", "1", ""),
        ("plain_call", "", ""),
    ]


def test_the_retried_and_masked_filters_find_those_calls_and_the_export_follows(admin):
    _add_calls(
        admin.app,
        {"tool_name": "plain_call"},
        {"tool_name": "first_try", "attempts": 1, "created_at": T0 + timedelta(minutes=1)},
        {"tool_name": "retried_call", "attempts": 3, "created_at": T0 + timedelta(minutes=2)},
        {"tool_name": "masked_call", "redactions": "card:1", "created_at": T0 + timedelta(minutes=3)},
        {"tool_name": "both", "attempts": 2, "redactions": "email:1", "created_at": T0 + timedelta(minutes=4)},
    )

    def tools(query: str) -> list[str]:
        html = admin.get(f"/audit?{query}").get_data(as_text=True)
        return [re.search(r'class="audit-tool">([^<]+)<', row).group(1) for row in _rows(html)]

    assert tools("retried=true") == ["both", "retried_call"]
    assert tools("retried=false") == ["masked_call", "first_try", "plain_call"]
    assert tools("redacted=true") == ["both", "masked_call"]
    assert tools("redacted=false") == ["retried_call", "first_try", "plain_call"]
    assert tools("retried=true&redacted=true") == ["both"]
    assert tools("retried=&redacted=") == ["both", "masked_call", "retried_call", "first_try", "plain_call"]
    panel = admin.get("/audit?retried=true&redacted=false", htmx=True)
    assert panel.headers["HX-Push-Url"] == "/audit?retried=true&redacted=false"
    fragment = panel.get_data(as_text=True)
    assert '<option value="true" selected>retried only</option>' in fragment
    assert '<option value="false" selected>nothing masked</option>' in fragment
    assert 'href="/audit/export.csv?retried=true&amp;redacted=false"' in fragment
    exported = _csv(admin.get("/audit/export.csv?redacted=true"))
    assert [r[exported[0].index("tool_name")] for r in exported[1:]] == ["both", "masked_call"]
    for query, field in (("retried=maybe", "retried"), ("redacted=2", "redacted")):
        refused = admin.get(f"/audit?{query}")
        assert refused.status_code == 422
        html = refused.get_data(as_text=True)
        assert f'<p class="error" id="e-{field}" role="alert">{field} must be true or false</p>' in html
        assert f'aria-describedby="e-{field}"' in html
