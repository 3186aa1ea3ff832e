"""Audit rollups (SQLite and PostgreSQL): the sums equal the raw rows' aggregates, whatever order the rows
arrive and commit in, however often and from how many threads the rollup runs."""

from __future__ import annotations

import math
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from janus.extensions import db
from janus.models import AuditRollup, AuditRollupGap, AuditRollupLatency, AuditRollupState, ToolCallLog
from janus.services import audit_rollups, telemetry

NOW = datetime(2026, 6, 29, 8, 30, 17, tzinfo=UTC)
TOOLS = ("alpha", "beta", "gamma", "delta")
STATUSES = ("success", "success", "success", "failure", "denied", "cancelled")


def _seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible test data, not secrets


def _random_calls(rng: random.Random, count: int, *, spread: timedelta) -> list[ToolCallLog]:
    return [
        ToolCallLog(
            created_at=NOW - spread * rng.random(),
            tool_name=rng.choice(TOOLS),
            status=rng.choice(STATUSES),
            duration_ms=round(rng.lognormvariate(3.5, 1.5), 3) if rng.random() > 0.02 else 10.0,
            token_name="Ops",
            transport="streamable_http",
        )
        for _ in range(count)
    ]


def _add(rows: list[ToolCallLog]) -> None:
    db.session.add_all(rows)
    db.session.commit()


def _raw(window_key: str) -> dict:
    """The window's numbers straight from the audit rows, computed in Python."""
    spec = telemetry.WINDOWS[window_key]
    now_ts = math.floor(NOW.timestamp())
    first = now_ts - now_ts % spec.bucket_seconds - (spec.buckets - 1) * spec.bucket_seconds
    end = first + spec.buckets * spec.bucket_seconds
    rows = [r for r in db.session.scalars(select(ToolCallLog)) if first <= math.floor(r.created_at.timestamp()) < end]
    tools: dict[str, list] = {}
    for r in rows:
        tools.setdefault(r.tool_name, []).append(r)
    volume = [0] * spec.buckets
    for r in rows:
        volume[(math.floor(r.created_at.timestamp()) - first) // spec.bucket_seconds] += 1
    classes = [0] * (len(telemetry.LATENCY_EDGES_MS) + 1)
    for r in rows:
        classes[sum(1 for edge in telemetry.LATENCY_EDGES_MS if r.duration_ms >= edge)] += 1
    return {
        "total": len(rows),
        "statuses": [sum(1 for r in rows if r.status == s) for s in ("success", "failure", "denied", "cancelled")],
        "tools": sorted(
            (name, len(calls), max(c.duration_ms for c in calls), round(sum(c.duration_ms for c in calls), 3))
            for name, calls in tools.items()
        ),
        "volume": volume,
        "latency": classes,
        "durations": sorted(r.duration_ms for r in rows),
    }


def _shown(window_key: str) -> dict:
    day = telemetry.traffic(window_key, now=NOW)
    return {
        "total": day["total"],
        "statuses": [day["successes"], day["failures"], day["denied"], day["cancelled"]],
        "tools": sorted((t["tool"], t["calls"], t["max_ms"], round(t["avg_ms"] * t["calls"], 3)) for t in day["tools"]),
        "volume": [b["calls"] for b in day["volume"]],
        "latency": [c["calls"] for c in day["latency"]],
        "p95": (day["p95_ms"], day["p95_estimated"]),
        "pending": day["pending_rows"],
    }


def _assert_matches(window_key: str) -> None:
    raw, shown = _raw(window_key), _shown(window_key)
    durations = raw.pop("durations")
    p95, estimated = shown.pop("p95")
    assert shown.pop("pending") == 0
    assert shown == raw, window_key
    if durations:
        assert not estimated and p95 == pytest.approx(durations[math.ceil(0.95 * len(durations)) - 1])


def _rollup_tables() -> tuple[list[tuple], list[tuple]]:
    return (
        sorted(tuple(r) for r in db.session.execute(select(AuditRollup.__table__)).all()),
        sorted(tuple(r) for r in db.session.execute(select(AuditRollupLatency.__table__)).all()),
    )


def test_rollups_equal_the_raw_aggregates_for_random_data_in_every_window(app):
    rng = _seeded(5)
    with app.app_context():
        _add(_random_calls(rng, 300, spread=timedelta(days=8)))
        _add(_random_calls(rng, 200, spread=timedelta(hours=2)))
        audit_rollups.advance(batch=97)  # several batches, boundaries mid-minute
        # Late rows: new ids, created_at long before the watermark's rows (a spool replayed after an outage).
        _add(_random_calls(rng, 150, spread=timedelta(days=6)))
        for key in telemetry.WINDOWS:
            _assert_matches(key)


def test_rolling_up_again_changes_nothing(app):
    with app.app_context():
        _add(_random_calls(_seeded(7), 120, spread=timedelta(days=2)))
        assert audit_rollups.advance() == 120
        sums, bins = _rollup_tables()
        assert audit_rollups.advance() == 0 and audit_rollups.advance(budget_seconds=None) == 0
        assert _rollup_tables() == (sums, bins)
        assert sum(r[4] for r in sums if r[0] == 60) == 120 == sum(r[4] for r in sums if r[0] == 3600)
        assert sum(r[3] for r in bins if r[0] == 60) == 120 == sum(r[3] for r in bins if r[0] == 3600)


def test_a_row_committed_after_a_higher_id_was_counted_is_counted_once_when_it_appears(app):
    """PostgreSQL hands out ids before commit: the watermark passes ids it could not see yet."""
    with app.app_context():
        _add(_random_calls(_seeded(1), 3, spread=timedelta(minutes=30)))
        audit_rollups.advance()
        last = audit_rollups.watermark()
        late = _random_calls(_seeded(2), 2, spread=timedelta(minutes=30))
        late[0].id, late[1].id = last + 5, last + 2
        _add([late[0]])
        assert audit_rollups.advance() == 1 and audit_rollups.watermark() == last + 5
        assert [(g.low, g.high) for g in db.session.scalars(select(AuditRollupGap))] == [(last + 1, last + 4)]
        _add([late[1]])  # the slow transaction commits
        assert audit_rollups.advance() == 1
        assert sorted((g.low, g.high) for g in db.session.scalars(select(AuditRollupGap))) == [
            (last + 1, last + 1),
            (last + 3, last + 4),
        ]
        assert audit_rollups.advance() == 0  # counted once
        _assert_matches("1h")
        # A gap nothing fills (a rolled-back insert) is forgotten after GAP_TTL.
        db.session.execute(update(AuditRollupGap).values(seen_at=datetime.now(UTC) - audit_rollups.GAP_TTL * 2))
        db.session.commit()
        assert audit_rollups.behind() and audit_rollups.advance() == 0 and not audit_rollups.behind()
        assert db.session.scalar(select(func.count()).select_from(AuditRollupGap)) == 0


def test_concurrent_rollups_while_calls_are_written_count_every_call_once(app):
    rng = _seeded(11)
    written = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        with app.app_context():
            try:
                for _ in range(20):
                    _add(_random_calls(rng, 15, spread=timedelta(minutes=50)))
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)
            finally:
                written.set()

    def roller() -> None:
        with app.app_context():
            try:
                for _ in range(200):  # bounded
                    audit_rollups.advance(batch=7)
                    if written.is_set():
                        break
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=writer), threading.Thread(target=roller), threading.Thread(target=roller)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and not any(t.is_alive() for t in threads)
    with app.app_context():
        audit_rollups.advance(budget_seconds=None)
        minute_calls = db.session.scalar(select(func.sum(AuditRollup.calls)).where(AuditRollup.span == 60))
        assert minute_calls == 300 == db.session.scalar(select(func.count()).select_from(ToolCallLog))
        _assert_matches("1h")


def test_a_backlog_is_rolled_up_within_the_read_budget_and_reported_as_pending(app):
    with app.app_context():
        _add(_random_calls(_seeded(3), 50, spread=timedelta(minutes=20)))
        assert audit_rollups.advance(budget_seconds=0, batch=10) == 10  # one batch, then the budget is spent
        assert audit_rollups.pending() == 40 and audit_rollups.behind()
        assert (
            db.session.scalar(select(AuditRollupState.last_id).where(AuditRollupState.name == audit_rollups.STATE))
            == audit_rollups.watermark()
        )
        audit_rollups.advance()
        assert audit_rollups.pending() == 0 and not audit_rollups.behind()


@pytest.mark.parametrize("duration", [0.0, 0.009, 0.01, 9.999, 10.0, 25.0, 4999.99, 5000.0, 1e6, 5e6])
def test_the_sql_latency_bin_equals_the_python_one(app, duration):
    with app.app_context():
        _add([ToolCallLog(created_at=NOW, tool_name="t", status="success", duration_ms=duration)])
        audit_rollups.advance()
        stored = db.session.scalars(select(AuditRollupLatency.bin).where(AuditRollupLatency.span == 60)).all()
    assert stored == [audit_rollups.bin_of(duration)]
    low, high = audit_rollups.bin_bounds(stored[0])
    assert low <= duration and (high is None or duration < high)
