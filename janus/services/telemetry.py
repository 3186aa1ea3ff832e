"""Traffic and database numbers for the portal's Telemetry page, from the tool-call audit rows.

Everything is aggregated in SQL over one bounded window (count, sums, GROUP BY time bucket,
GROUP BY latency class, ORDER BY … OFFSET for the percentile), so the page costs a few
queries however many rows the window holds, and the same statements run on SQLite and
PostgreSQL: only the timestamp → epoch-seconds expression differs between them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, case, cast, func, literal, select, text

from janus.extensions import db
from janus.models import AdminAuditLog, ClientToken, Connection, Endpoint, McpSession, ToolCallLog, User
from janus.services.errors import ValidationError


@dataclass(frozen=True)
class Window:
    key: str
    label: str
    seconds: int
    bucket_seconds: int

    @property
    def buckets(self) -> int:
        return self.seconds // self.bucket_seconds


WINDOWS = {
    w.key: w
    for w in (
        Window("1h", "Last hour, per 5 minutes", 3600, 300),
        Window("24h", "Last 24 hours, per hour", 24 * 3600, 3600),
        Window("7d", "Last 7 days, per 6 hours", 7 * 24 * 3600, 6 * 3600),
    )
}
DEFAULT_WINDOW = "24h"
PERCENTILE = 0.95
# Upper edges (ms) of the latency classes; the last class is everything from the last edge up.
LATENCY_EDGES_MS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
TOOLS_SHOWN = 50
MAIN_TABLES = (Connection, Endpoint, ClientToken, User, McpSession, ToolCallLog, AdminAuditLog)


def window(key: str | None) -> Window:
    if not key:
        return WINDOWS[DEFAULT_WINDOW]
    if key not in WINDOWS:
        raise ValidationError(f"window must be one of {', '.join(WINDOWS)}", field="window")
    return WINDOWS[key]


def traffic(window_key: str | None = None, *, now: datetime | None = None) -> dict[str, Any]:
    """Success rate, p95, volume per bucket, latency classes and calls per tool in one window.

    The window ends with the bucket holding `now` and starts on a bucket boundary, so every
    bucket spans the same wall-clock interval (e.g. whole hours) and the numbers on the page
    (totals, percentile, buckets) all describe exactly the same rows.
    """
    spec = window(window_key)
    now = now or datetime.now(UTC)
    now_ts = math.floor(now.timestamp())
    size = spec.bucket_seconds
    first_ts = now_ts - now_ts % size - (spec.buckets - 1) * size
    end_ts = first_ts + spec.buckets * size
    start, end = _utc(first_ts), _utc(end_ts)
    in_window = (ToolCallLog.created_at >= start, ToolCallLog.created_at < end)

    latency = _latency_classes(in_window)
    # One grouped pass gives both the per-tool table and (summed here) the headline totals.
    groups = _tool_groups(in_window)
    total = sum(g["calls"] for g in groups)
    successes = sum(g["successes"] for g in groups)
    failures = sum(g["failures"] for g in groups)
    denials = sum(g["denied"] for g in groups)
    cancellations = sum(g["cancelled"] for g in groups)
    avg_ms = sum(g["sum_ms"] for g in groups) / total if total else None
    max_ms = max((g["max_ms"] for g in groups), default=None)
    tools = [
        {
            "tool": g["tool"],
            "calls": g["calls"],
            "successes": g["successes"],
            "success_rate": g["successes"] / g["calls"] if g["calls"] else None,
            "avg_ms": g["sum_ms"] / g["calls"],
            "max_ms": g["max_ms"],
        }
        for g in groups[:TOOLS_SHOWN]
    ]

    return {
        "window": {
            "key": spec.key,
            "label": spec.label,
            "start": _iso(start),
            "end": _iso(end),
            "bucket_seconds": size,
        },
        "as_of": _iso(now.astimezone(UTC).replace(microsecond=0)),
        "total": total,
        "successes": successes,
        "failures": failures,
        "denied": denials,
        "cancelled": cancellations,
        "success_rate": (successes / total) if total else None,
        "avg_ms": float(avg_ms) if avg_ms is not None else None,
        "max_ms": float(max_ms) if max_ms is not None else None,
        "p95_ms": _percentile(in_window, total, PERCENTILE, latency),
        "volume": _volume(in_window, first_ts, spec),
        "latency": latency,
        "tools": tools,
        "tool_count": len(groups),
    }


def database() -> dict[str, Any]:
    """Backend kind, on-disk size, rows per main table and the connection pool of this process."""
    engine = db.engine
    kind = engine.dialect.name
    size_bytes, wal_bytes = None, None
    if kind == "sqlite":
        path = engine.url.database
        if path and path != ":memory:" and os.path.exists(path):
            size_bytes = os.path.getsize(path)
            wal_bytes = os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0
        else:  # in memory: what the pages would take
            size_bytes = (
                db.session.execute(text("PRAGMA page_count")).scalar_one()
                * db.session.execute(text("PRAGMA page_size")).scalar_one()
            )
    elif kind == "postgresql":
        size_bytes = db.session.execute(text("SELECT pg_database_size(current_database())")).scalar()
    tables = [
        {"table": model.__tablename__, "rows": db.session.scalar(select(func.count()).select_from(model))}
        for model in MAIN_TABLES
    ]
    return {
        "kind": kind,
        "size_bytes": size_bytes,
        "wal_bytes": wal_bytes,
        "tables": tables,
        "pool": _pool(engine.pool),
    }


def _percentile(in_window: tuple, total: int, fraction: float, classes: list[dict[str, Any]]) -> float | None:
    """Nearest-rank percentile: the smallest duration with at least `fraction` of the calls at or below it.

    The latency classes already say which class holds that rank, so only that class's rows are
    sorted (an exact answer without ordering the whole window).
    """
    if not total:
        return None
    rank = max(1, math.ceil(fraction * total))
    below = 0
    for klass in classes:
        if below + klass["calls"] >= rank:
            break
        below += klass["calls"]
    conditions = [*in_window, ToolCallLog.duration_ms >= klass["low_ms"]] if klass["low_ms"] else list(in_window)
    if klass["high_ms"] is not None:
        conditions.append(ToolCallLog.duration_ms < klass["high_ms"])
    value = db.session.scalar(
        select(ToolCallLog.duration_ms)
        .where(*conditions)
        .order_by(ToolCallLog.duration_ms)
        .offset(rank - below - 1)
        .limit(1)
    )
    return float(value) if value is not None else None


def _volume(in_window: tuple, first_ts: int, spec: Window) -> list[dict[str, Any]]:
    # Rows are at or after first_ts, so integer division truncates to the bucket's floor on both backends.
    index = cast((_epoch(ToolCallLog.created_at) - literal(first_ts)) / literal(spec.bucket_seconds), Integer)
    if db.engine.dialect.name == "postgresql":
        index = cast(func.floor((_epoch(ToolCallLog.created_at) - first_ts) / spec.bucket_seconds), Integer)
    bucket = index.label("bucket")
    rows = db.session.execute(
        select(
            bucket,
            func.count(ToolCallLog.id),
            func.sum(case((ToolCallLog.status == "success", 1), else_=0)),
            func.avg(ToolCallLog.duration_ms),
        )
        .where(*in_window)
        .group_by(bucket)
    ).all()
    found = {int(i): (n, ok, avg) for i, n, ok, avg in rows}
    buckets = []
    for i in range(spec.buckets):
        n, ok, avg = found.get(i, (0, 0, None))
        start = first_ts + i * spec.bucket_seconds
        buckets.append(
            {
                "start": _iso(_utc(start)),
                "ts": start,
                "calls": int(n),
                "errors": int(n) - int(ok or 0),
                "avg_ms": float(avg) if avg is not None else None,
            }
        )
    return buckets


def _latency_classes(in_window: tuple) -> list[dict[str, Any]]:
    edges = LATENCY_EDGES_MS
    klass = case(*((ToolCallLog.duration_ms < edge, i) for i, edge in enumerate(edges)), else_=len(edges))
    labelled = klass.label("class")
    counts: dict[int, int] = dict(
        db.session.execute(select(labelled, func.count(ToolCallLog.id)).where(*in_window).group_by(labelled)).all()
    )
    classes = []
    for i in range(len(edges) + 1):
        low = edges[i - 1] if i else 0
        high = edges[i] if i < len(edges) else None
        label = f"{_ms(low)}–{_ms(high)}" if high is not None else f"≥ {_ms(low)}"
        classes.append({"label": label, "low_ms": low, "high_ms": high, "calls": int(counts.get(i, 0))})
    return classes


def _tool_groups(in_window: tuple) -> list[dict[str, Any]]:
    """Every tool called in the window with its counts and latencies, busiest first."""

    def status_is(value: str):
        return func.sum(case((ToolCallLog.status == value, 1), else_=0))

    calls = func.count(ToolCallLog.id).label("calls")
    rows = db.session.execute(
        select(
            ToolCallLog.tool_name,
            calls,
            status_is("success"),
            status_is("failure"),
            status_is("denied"),
            status_is("cancelled"),
            func.sum(ToolCallLog.duration_ms),
            func.max(ToolCallLog.duration_ms),
        )
        .where(*in_window)
        .group_by(ToolCallLog.tool_name)
        .order_by(calls.desc(), ToolCallLog.tool_name)
    ).all()
    return [
        {
            "tool": name,
            "calls": int(n),
            "successes": int(ok or 0),
            "failures": int(bad or 0),
            "denied": int(no or 0),
            "cancelled": int(withdrawn or 0),
            "sum_ms": float(total_ms or 0.0),
            "max_ms": float(peak),
        }
        for name, n, ok, bad, no, withdrawn, total_ms, peak in rows
    ]


def _epoch(column):
    """Seconds since 1970 of a timestamp column (SQLite keeps UTC text, PostgreSQL timestamptz)."""
    if db.engine.dialect.name == "sqlite":
        return cast(func.strftime("%s", column), Integer)
    return func.extract("epoch", column)


def _pool(pool) -> dict[str, Any]:
    info: dict[str, Any] = {"class": type(pool).__name__, "status": pool.status()}
    for name in ("size", "checkedin", "checkedout", "overflow"):
        probe = getattr(pool, name, None)
        if callable(probe):
            info[name] = probe()
    return info


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _ms(value: float) -> str:
    return f"{value / 1000:g} s" if value >= 1000 else f"{value:g} ms"
