"""Traffic and database numbers for the portal's Telemetry page, from the tool-call audit rollups.

Everything is summed in SQL over the per-minute and per-hour rollups of one bounded window
(janus.services.audit_rollups), so the page costs a few queries over at most a few thousand rollup
rows however many calls the window holds (1,000,000 audit rows: tens of milliseconds, not seconds).
Only a small window's p95 reads audit rows: one sorted index range of its latency bin.
"""

from __future__ import annotations

import math
import os
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, select, text

from janus.extensions import db
from janus.models import AdminAuditLog, AuditRollup, ClientToken, Connection, Endpoint, McpSession, ToolCallLog, User
from janus.services import audit_rollups
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
# Up to this many calls in a window the p95 is exact (one sorted index range); above, a rollup bin's edge.
EXACT_PERCENTILE_CALLS = 50_000
ESTIMATED_ROWS_FROM = 100_000  # PostgreSQL tables at least this big show the planner's row estimate
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
    (totals, percentile, buckets) all describe exactly the same rows. Those boundaries are whole
    minutes, so the window is exactly a set of rollup buckets (janus.services.audit_rollups):
    the new audit rows are rolled up first, then only rollup rows are summed.
    """
    spec = window(window_key)
    now = now or datetime.now(UTC)
    now_ts = math.floor(now.timestamp())
    size = spec.bucket_seconds
    first_ts = now_ts - now_ts % size - (spec.buckets - 1) * size
    end_ts = first_ts + spec.buckets * size
    start, end = _utc(first_ts), _utc(end_ts)
    audit_rollups.advance()
    pending = audit_rollups.pending()

    bins = audit_rollups.latency_bins(first_ts, end_ts, size)
    latency = _latency_classes(bins)
    # One grouped pass gives both the per-tool table and (summed here) the headline totals.
    groups = _tool_groups(audit_rollups.covering(AuditRollup, first_ts, end_ts, size))
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
    p95, estimated = _percentile(
        (ToolCallLog.created_at >= start, ToolCallLog.created_at < end), bins, PERCENTILE, max_ms
    )

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
        "p95_ms": p95,
        "p95_estimated": estimated,
        "volume": _volume(first_ts, end_ts, spec),
        "latency": latency,
        "tools": tools,
        "tool_count": len(groups),
        "pending_rows": pending,
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
    tables = [_row_count(model, kind) for model in MAIN_TABLES]
    return {
        "kind": kind,
        "size_bytes": size_bytes,
        "wal_bytes": wal_bytes,
        "tables": tables,
        "pool": _pool(engine.pool),
    }


def _percentile(
    in_window: tuple, bins: dict[int, int], fraction: float, max_ms: float | None
) -> tuple[float | None, bool]:
    """Nearest-rank percentile: the smallest duration with at least `fraction` of the calls at or below it.

    The latency bins say which bin holds that rank. Up to EXACT_PERCENTILE_CALLS in the window, that
    bin's rows are sorted for the exact value (a small index range); above, the answer is the bin's
    upper edge (at most 12 % above the true value, never above the window's maximum): (value, estimated).
    """
    total = sum(bins.values())
    if not total:
        return None, False
    rank = max(1, math.ceil(fraction * total))
    below = 0
    for index in sorted(bins):
        if below + bins[index] >= rank:
            break
        below += bins[index]
    low, high = audit_rollups.bin_bounds(index)
    if total <= EXACT_PERCENTILE_CALLS:
        conditions = [*in_window, ToolCallLog.duration_ms >= low] if index else list(in_window)
        if high is not None:
            conditions.append(ToolCallLog.duration_ms < high)
        value = db.session.scalar(
            select(ToolCallLog.duration_ms)
            .where(*conditions)
            .order_by(ToolCallLog.duration_ms)
            .offset(rank - below - 1)
            .limit(1)
        )
        if value is not None:
            return float(value), False
    estimate = high if high is not None else max_ms
    if max_ms is not None and (estimate is None or estimate > max_ms):
        estimate = max_ms
    return (float(estimate) if estimate is not None else None), True


def _volume(first_ts: int, end_ts: int, spec: Window) -> list[dict[str, Any]]:
    # Grouped by rollup bucket (at most a few hundred rows), which never straddles a window bucket.
    rows = db.session.execute(
        select(
            AuditRollup.bucket,
            func.sum(AuditRollup.calls),
            func.sum(case((AuditRollup.status == "success", AuditRollup.calls), else_=0)),
            func.sum(AuditRollup.duration_sum),
        )
        .where(audit_rollups.covering(AuditRollup, first_ts, end_ts, spec.bucket_seconds))
        .group_by(AuditRollup.bucket)
    ).all()
    found: dict[int, tuple[int, int, float]] = {}
    for bucket, n, ok, total_ms in rows:
        i = (int(bucket) - first_ts) // spec.bucket_seconds
        calls, good, spent = found.get(i, (0, 0, 0.0))
        found[i] = (calls + int(n), good + int(ok or 0), spent + float(total_ms or 0.0))
    buckets = []
    for i in range(spec.buckets):
        n, ok, total_ms = found.get(i, (0, 0, 0.0))
        start = first_ts + i * spec.bucket_seconds
        buckets.append(
            {
                "start": _iso(_utc(start)),
                "ts": start,
                "calls": n,
                "errors": n - ok,
                "avg_ms": total_ms / n if n else None,
            }
        )
    return buckets


def _latency_classes(bins: dict[int, int]) -> list[dict[str, Any]]:
    """The page's classes, summed from the rollups' finer bins (every class edge is a bin edge)."""
    edges = LATENCY_EDGES_MS
    counts = [0] * (len(edges) + 1)
    for index, calls in bins.items():
        counts[bisect_right(edges, audit_rollups.bin_bounds(index)[0])] += calls
    classes = []
    for i in range(len(edges) + 1):
        low = edges[i - 1] if i else 0
        high = edges[i] if i < len(edges) else None
        label = f"{_ms(low)}–{_ms(high)}" if high is not None else f"≥ {_ms(low)}"
        classes.append({"label": label, "low_ms": low, "high_ms": high, "calls": counts[i]})
    return classes


def _tool_groups(in_window: ColumnElement[bool]) -> list[dict[str, Any]]:
    """Every tool called in the window with its counts and latencies, busiest first."""

    def status_is(value: str):
        return func.sum(case((AuditRollup.status == value, AuditRollup.calls), else_=0))

    calls = func.sum(AuditRollup.calls).label("calls")
    rows = db.session.execute(
        select(
            AuditRollup.tool_name,
            calls,
            status_is("success"),
            status_is("failure"),
            status_is("denied"),
            status_is("cancelled"),
            func.sum(AuditRollup.duration_sum),
            func.max(AuditRollup.duration_max),
        )
        .where(in_window)
        .group_by(AuditRollup.tool_name)
        .order_by(calls.desc(), AuditRollup.tool_name)
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


def _row_count(model, kind: str) -> dict[str, Any]:
    """A table's rows: exact, except a big table on PostgreSQL, where counting means reading it all
    (~0.2 s a million rows): there the planner's estimate (kept by autovacuum's ANALYZE) is shown as one."""
    if kind == "postgresql":
        estimate = db.session.scalar(
            text("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(:name)"), {"name": model.__tablename__}
        )
        if estimate is not None and estimate >= ESTIMATED_ROWS_FROM:
            return {"table": model.__tablename__, "rows": int(estimate), "estimated": True}
    return {"table": model.__tablename__, "rows": db.session.scalar(select(func.count()).select_from(model))}


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
