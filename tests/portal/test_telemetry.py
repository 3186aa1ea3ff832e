"""Telemetry: exact numbers from seeded audit rows (SQLite and PostgreSQL) and the page that shows them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from janus.extensions import db
from janus.models import Connection, ToolCallLog
from janus.services import telemetry
from janus.services.errors import ValidationError

NOW = datetime(2026, 6, 29, 8, 30, tzinfo=UTC)


def _call(at: datetime, tool: str, duration_ms: float, status: str = "success") -> ToolCallLog:
    return ToolCallLog(
        created_at=at,
        tool_name=tool,
        status=status,
        duration_ms=duration_ms,
        http_status=200,
        token_name="Ops",
        transport="streamable_http",
    )


def _seed(app) -> None:
    """26 calls inside the 24 h window ending 09:00 on 29 June, and two just outside it."""
    with app.app_context():
        rows = [
            _call(NOW.replace(minute=10), "acc_get_balance", float(ms), "failure" if ms in (3, 17) else "success")
            for ms in range(1, 21)
        ]
        rows += [
            _call(
                datetime(2026, 6, 29, 6, 59, 59, tzinfo=UTC),
                "dog_random_image",
                ms,
                "denied" if ms == 5000 else "success",
            )
            for ms in (100.0, 200.0, 300.0, 400.0, 5000.0)
        ]
        rows.append(_call(datetime(2026, 6, 28, 9, 0, tzinfo=UTC), "weather_now", 50.0))  # first instant
        rows.append(_call(datetime(2026, 6, 28, 8, 59, 59, tzinfo=UTC), "weather_now", 9999.0))  # before it
        rows.append(_call(datetime(2026, 6, 29, 9, 0, tzinfo=UTC), "weather_now", 9999.0))  # after the last bucket
        db.session.add_all(rows)
        db.session.commit()


def test_traffic_numbers_over_a_day_are_exact(app):
    _seed(app)
    with app.app_context():
        day = telemetry.traffic("24h", now=NOW)
    assert day["window"] == {
        "key": "24h",
        "label": "Last 24 hours, per hour",
        "start": "2026-06-28T09:00:00Z",
        "end": "2026-06-29T09:00:00Z",
        "bucket_seconds": 3600,
    }
    assert (day["total"], day["successes"], day["failures"], day["denied"]) == (26, 23, 2, 1)
    assert day["success_rate"] == pytest.approx(23 / 26)
    # Nearest rank: the 25th of 26 sorted durations (1…20, 50, 100, 200, 300, 400, 5000).
    assert day["p95_ms"] == 400.0
    assert day["max_ms"] == 5000.0
    assert day["avg_ms"] == pytest.approx((210 + 50 + 6000) / 26)
    volume = day["volume"]
    assert (
        len(volume) == 24
        and volume[0]["start"] == "2026-06-28T09:00:00Z"
        and volume[-1]["start"] == "2026-06-29T08:00:00Z"
    )
    busy = {b["start"]: (b["calls"], b["errors"]) for b in volume if b["calls"]}
    assert busy == {"2026-06-28T09:00:00Z": (1, 0), "2026-06-29T06:00:00Z": (5, 1), "2026-06-29T08:00:00Z": (20, 2)}
    assert volume[-1]["avg_ms"] == pytest.approx(10.5) and volume[1]["avg_ms"] is None
    assert [c["calls"] for c in day["latency"]] == [9, 11, 0, 1, 2, 2, 0, 0, 0, 1]
    assert [c["label"] for c in day["latency"]][:2] == ["0 ms–10 ms", "10 ms–25 ms"] and day["latency"][-1][
        "label"
    ] == "≥ 5 s"
    tools = [(t["tool"], t["calls"], t["successes"], t["avg_ms"], t["max_ms"]) for t in day["tools"]]
    assert tools == [
        ("acc_get_balance", 20, 18, 10.5, 20.0),
        ("dog_random_image", 5, 4, 1200.0, 5000.0),
        ("weather_now", 1, 1, 50.0, 50.0),
    ]
    assert day["tool_count"] == 3


def test_traffic_over_the_last_hour_uses_five_minute_buckets(app):
    _seed(app)
    with app.app_context():
        hour = telemetry.traffic("1h", now=NOW + timedelta(minutes=2, seconds=30))
    assert (hour["window"]["start"], hour["window"]["end"]) == ("2026-06-29T07:35:00Z", "2026-06-29T08:35:00Z")
    assert [b["calls"] for b in hour["volume"]] == [0] * 7 + [20] + [0] * 4
    assert hour["total"] == 20 and hour["success_rate"] == 0.9 and hour["p95_ms"] == 19.0  # rank ceil(19) of 1…20


@pytest.mark.parametrize(
    "durations",
    [
        [10.0, 10.0, 25.0, 25.0, 9.999, 0.0],  # values exactly on class edges
        [float(ms) for ms in range(0, 6000, 7)],  # every class, ranks deep inside one
        [3.0] * 40 + [7000.0],  # the rank in the first class, an outlier last
        [2500.0] * 3 + [4999.5] * 30 + [5000.0] * 2,  # the rank in a high class
    ],
)
def test_the_p95_equals_the_nearest_rank_of_the_sorted_durations(app, durations):
    """The percentile sorts only the latency class holding the rank; it must match sorting everything."""
    with app.app_context():
        db.session.add_all([_call(NOW.replace(minute=5), "t", ms) for ms in durations])
        db.session.commit()
        p95 = telemetry.traffic("1h", now=NOW)["p95_ms"]
    expected = sorted(durations)[max(1, -(-95 * len(durations) // 100)) - 1]
    assert p95 == pytest.approx(expected)


def test_an_empty_window_has_no_rate_and_no_percentile(app):
    with app.app_context():
        empty = telemetry.traffic("7d", now=NOW)
    assert (empty["total"], empty["success_rate"], empty["p95_ms"], empty["avg_ms"]) == (0, None, None, None)
    assert len(empty["volume"]) == 28 and all(b["calls"] == 0 for b in empty["volume"])
    assert empty["tools"] == [] and sum(c["calls"] for c in empty["latency"]) == 0


def test_an_unknown_window_is_refused_naming_its_field(app):
    with app.app_context(), pytest.raises(ValidationError) as refused:
        telemetry.traffic("5y")
    assert refused.value.field == "window" and "window must be one of 1h, 24h, 7d" in refused.value.message


def test_database_telemetry_reports_backend_size_rows_and_pool(app):
    _seed(app)
    with app.app_context():
        facts = telemetry.database()
    assert facts["kind"] == app.config["DATABASE_KIND"]  # sqlite | postgresql
    assert facts["size_bytes"] > 0
    rows = {t["table"]: t["rows"] for t in facts["tables"]}
    assert rows["tool_call_logs"] == 28 and rows["connections"] == 0 and "admin_audit_logs" in rows
    assert facts["pool"]["status"].startswith("Pool size") and facts["pool"]["checkedout"] >= 1


def test_the_page_shows_the_numbers_as_tables_and_carries_the_chart_data_as_json(admin):
    with admin.app.app_context():
        now = datetime.now(UTC)
        db.session.add_all(
            [
                _call(now - timedelta(seconds=30), "acc_get_balance", 120.0),
                _call(now - timedelta(seconds=20), "acc_get_balance", 80.0),
                _call(now - timedelta(seconds=10), "dog_random_image", 862.0, "failure"),
                Connection(name="Accounts", base_url="http://127.0.0.1:9", prefix="acc_"),
            ]
        )
        db.session.commit()
    reply = admin.get("/telemetry")
    html = reply.get_data(as_text=True)
    assert reply.status_code == 200 and 'aria-current="page">Telemetry' in html
    assert re.search(r'data-stat="success_rate">66\.7%<', html) and re.search(r'data-stat="p95">862ms<', html)
    assert re.search(r'data-stat="total">3<', html) and re.search(r'data-stat="errors">1 / 0<', html)
    tools = html.split('id="tools-table"', 1)[1].split("</table>", 1)[0]
    assert tools.index("acc_get_balance") < tools.index("dog_random_image")
    assert '<meter min="0" max="2" value="2"' in tools and "50%" not in tools and "100%" in tools
    assert re.search(r'data-stat="db_kind">SQLite<', html)
    assert re.search(r"<code>connections</code></td><td>1</td>", html)
    data = json.loads(
        re.search(r'<script type="application/json" id="telemetry-data">(.*?)</script>', html, re.S).group(1)
    )
    assert sum(b["calls"] for b in data["volume"]) == 3 and len(data["volume"]) == 24
    assert sum(c["calls"] for c in data["latency"]) == 3 and data["bucket_seconds"] == 3600
    # The tables are open without JavaScript; charts are drawn from the JSON by our own script.
    assert html.count("open data-chart-table") == 2
    assert "/static/vendor/uplot/uPlot.iife.min.js" in html and "/static/js/telemetry.js" in html
    assert "style=" not in html and not re.search(r"<script(?![^>]*\b(src|type=\"application/json\"))[^>]*>", html)


def test_the_window_picker_changes_the_buckets_and_a_bad_window_is_answered_next_to_it(admin):
    hour = admin.get("/telemetry?window=1h").get_data(as_text=True)
    assert 'value="1h" selected' in hour and hour.count("<time datetime=") == 12
    reply = admin.get("/telemetry?window=forever")
    html = reply.get_data(as_text=True)
    assert reply.status_code == 422
    assert re.search(r'<p class="error" id="e-window" role="alert">window must be one of 1h, 24h, 7d</p>', html)
    assert 'aria-describedby="e-window"' in html and 'aria-invalid="true"' in html
    assert "telemetry-data" not in html and 'id="db-tables"' in html  # the database part still shows


def test_viewers_see_telemetry_and_strangers_are_sent_to_sign_in(viewer, portal_app):
    assert viewer.get("/telemetry").status_code == 200
    reply = portal_app.test_client().get("/telemetry")
    assert reply.status_code == 302 and reply.headers["Location"].startswith("/login")


def test_a_large_window_marks_its_p95_as_read_from_the_rollups(app, monkeypatch):
    """Above EXACT_PERCENTILE_CALLS the p95 is the upper edge of the rank's latency bin (never above the max)."""
    monkeypatch.setattr(telemetry, "EXACT_PERCENTILE_CALLS", 10)
    with app.app_context():
        db.session.add_all([_call(NOW.replace(minute=5), "t", float(ms)) for ms in [*range(1, 41), 100]])
        db.session.commit()
        hour = telemetry.traffic("1h", now=NOW)
        db.session.add_all([_call(NOW.replace(minute=6) + timedelta(days=1), "t", 36.0) for _ in range(20)])
        db.session.commit()
        # The next day, 20 calls of 36 ms: the bin's edge (40) is above every call, so the max answers.
        capped = telemetry.traffic("1h", now=NOW + timedelta(days=1))
    # Rank 39 of 41 is 39 ms, in the bin [35.5, 40): the answer is that bin's upper edge.
    assert hour["p95_estimated"] and hour["p95_ms"] == 40.0 and hour["max_ms"] == 100.0
    assert capped["total"] == 20 and capped["p95_estimated"] and capped["p95_ms"] == 36.0
    assert hour["pending_rows"] == 0


@pytest.mark.postgres
def test_a_big_table_on_postgresql_shows_the_planners_estimate(app, monkeypatch):
    if app.config["DATABASE_KIND"] != "postgresql":
        pytest.skip("the estimate is PostgreSQL's")
    monkeypatch.setattr(telemetry, "ESTIMATED_ROWS_FROM", 10)
    with app.app_context():
        db.session.add_all([_call(NOW, "t", 1.0) for _ in range(40)])
        db.session.commit()
        db.session.execute(text("ANALYZE tool_call_logs"))
        db.session.commit()
        rows = {t["table"]: t for t in telemetry.database()["tables"]}
    assert rows["tool_call_logs"] == {"table": "tool_call_logs", "rows": 40, "estimated": True}
    assert rows["connections"] == {"table": "connections", "rows": 0}  # small: counted
