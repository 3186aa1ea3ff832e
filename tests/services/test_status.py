"""The dashboard's headline numbers (SQLite and PostgreSQL), summed from the audit rollups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from janus.extensions import db
from janus.models import ToolCallLog
from janus.services import status


def _call(at: datetime, duration_ms: float) -> ToolCallLog:
    return ToolCallLog(created_at=at, tool_name="t", status="success", duration_ms=duration_ms)


def test_the_dashboard_counts_the_calls_of_the_last_24_hours_and_their_mean(app):
    now = datetime.now(UTC)
    with app.app_context():
        # In: the last minutes, whole hours and the first minutes of the day. Out: older than 24 h and a minute.
        inside = [now - timedelta(seconds=5), now - timedelta(hours=3), now - timedelta(hours=23, minutes=58)]
        db.session.add_all([_call(at, 10.0 * (i + 1)) for i, at in enumerate(inside)])
        db.session.add_all([_call(now - timedelta(hours=24, minutes=2), 999.0), _call(now - timedelta(days=3), 1.0)])
        db.session.commit()
        first = status.dashboard()
        db.session.add(_call(now, 50.0))  # a call since: the next view counts it
        db.session.commit()
        second = status.dashboard()
    assert (first["requests_24h"], first["avg_latency_ms"]) == (3, 20.0)
    assert (second["requests_24h"], second["avg_latency_ms"]) == (4, 27.5)
