"""Per-minute and per-hour rollups of the tool-call audit rows, kept current by the reads that need them.

Telemetry and the dashboard call `advance()` and then sum rollup rows (a 7-day window is at most
168 hours × tools × statuses rows, however many calls it held). `advance()` counts the audit rows
past a watermark, the highest tool_call_logs.id already counted, in batches of BATCH rows, each in
its own short transaction, until it has caught up or spent its time budget. It depends on nothing
but the audit table, so whichever process writes audit rows (the audit writer, a spool replayed
after an outage, another replica) and whichever reads telemetry, the sums stay right:

- A row is bucketed by its created_at, so a late row (created_at long past, id new) lands in its
  own old minute.
- Ids are handed out before commit: on PostgreSQL a row with a lower id can commit after a higher
  one was counted. The ids the watermark passes but does not see are remembered as gaps
  (audit_rollup_gaps) and counted when they appear; after GAP_TTL a gap is taken to be a rolled-back
  insert and forgotten.
- One advancer at a time (an advisory lock on PostgreSQL, the write lock on SQLite), and each batch
  reads one snapshot (REPEATABLE READ on PostgreSQL, one transaction on SQLite), so two processes
  never count a row twice.

Latencies go into BIN_EDGES_MS, a fixed log scale (the R20 preferred numbers, 12 % steps, from
0.01 ms to 1,000 s) that contains the telemetry page's class edges, so the latency classes are exact
and a percentile is known to within one bin.
"""

from __future__ import annotations

import contextlib
import time
from bisect import bisect_right
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    delete,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from janus.extensions import db
from janus.models import AuditRollup, AuditRollupGap, AuditRollupLatency, AuditRollupState, ToolCallLog

MINUTE, HOUR = 60, 3600
SPANS = (MINUTE, HOUR)
BATCH = 5_000  # audit rows per rollup transaction: SQLite's write lock is held for tens of milliseconds
READ_BUDGET_SECONDS = 1.0  # a page view rolls up at most this long; the rest waits for the next read
GAP_TTL = timedelta(minutes=10)  # far longer than any audit insert's transaction
GAP_IDS_PER_STATEMENT = 500
STATE = "tool_calls"
_PG_ROLLUP_LOCK = 0x4A414E5552  # "JANUR"
_R20 = [
    "1",
    "1.12",
    "1.25",
    "1.4",
    "1.6",
    "1.8",
    "2",
    "2.24",
    "2.5",
    "2.8",
    "3.15",
    "3.55",
    "4",
    "4.5",
    "5",
    "5.6",
    "6.3",
    "7.1",
    "8",
    "9",
]
# Bin i holds durations in [BIN_EDGES_MS[i-1], BIN_EDGES_MS[i]); bin 0 everything below the first edge,
# the last bin everything from the last edge up. Decimal literals: 2.5e1 is exactly 25.0.
BIN_EDGES_MS: tuple[float, ...] = (*(float(f"{m}e{d}") for d in range(-2, 6) for m in _R20), 1e6)


def bin_of(duration_ms: float) -> int:
    return bisect_right(BIN_EDGES_MS, duration_ms)


def bin_bounds(index: int) -> tuple[float, float | None]:
    """[low, high) of a bin; high None for the last, open-ended one."""
    low = BIN_EDGES_MS[index - 1] if index else 0.0
    return low, (BIN_EDGES_MS[index] if index < len(BIN_EDGES_MS) else None)


def advance(*, budget_seconds: float | None = READ_BUDGET_SECONDS, batch: int = BATCH) -> int:
    """Roll up the audit rows not yet counted; returns how many were. None: no time budget (until caught up)."""
    if not behind():
        return 0
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    counted = 0
    while True:
        n, more = _one_batch(batch)
        counted += n
        if not more or (deadline is not None and time.monotonic() >= deadline):
            return counted


def behind() -> bool:
    """Whether there is anything to roll up: rows past the watermark or open gaps (one cheap statement)."""
    last, newest, gaps = _position()
    return (newest or 0) > (last or 0) or bool(gaps)


def pending() -> int:
    """Roughly how many audit rows are not counted yet (ids past the watermark); 0 when caught up."""
    last, newest, _gaps = _position()
    return max(0, (newest or 0) - (last or 0))


def watermark() -> int:
    return db.session.scalar(select(AuditRollupState.last_id).where(AuditRollupState.name == STATE)) or 0


def covering(model, start: int, end: int, coarsest: int = HOUR) -> ColumnElement[bool]:
    """The rollup rows of `model` that make up [start, end) (epoch seconds, whole minutes): whole hours
    where `coarsest` allows (a window's buckets must not be finer than the rollups used), minutes at the edges."""
    if coarsest >= HOUR and coarsest % HOUR == 0:
        first_hour = -(-start // HOUR) * HOUR
        last_hour = end // HOUR * HOUR
        if first_hour < last_hour:
            return or_(
                and_(model.span == HOUR, model.bucket >= first_hour, model.bucket < last_hour),
                and_(model.span == MINUTE, model.bucket >= start, model.bucket < first_hour),
                and_(model.span == MINUTE, model.bucket >= last_hour, model.bucket < end),
            )
    return and_(model.span == MINUTE, model.bucket >= start, model.bucket < end)


def latency_bins(start: int, end: int, coarsest: int = HOUR) -> dict[int, int]:
    """Calls per latency bin in [start, end)."""
    rows = db.session.execute(
        select(AuditRollupLatency.bin, func.sum(AuditRollupLatency.calls))
        .where(covering(AuditRollupLatency, start, end, coarsest))
        .group_by(AuditRollupLatency.bin)
    ).all()
    return {int(b): int(n) for b, n in rows}


def _position() -> tuple[int | None, int | None, bool]:
    row = db.session.execute(
        select(
            select(AuditRollupState.last_id).where(AuditRollupState.name == STATE).scalar_subquery(),
            select(func.max(ToolCallLog.id)).scalar_subquery(),
            exists(select(AuditRollupGap.low)),
        )
    ).one()
    return row[0], row[1], bool(row[2])


@contextlib.contextmanager
def _exclusive() -> Iterator[Connection]:
    """A connection whose next transaction no other advancer overlaps and which reads one snapshot.

    PostgreSQL: a session advisory lock taken before the REPEATABLE READ transaction begins (taken
    inside it, the snapshot would predate the wait). SQLite: the transaction's first statement writes,
    which takes the database's write lock and a fresh snapshot at once.
    """
    with db.engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            yield conn
            return
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_ROLLUP_LOCK})
        conn.commit()
        try:
            yield conn.execution_options(isolation_level="REPEATABLE READ")
        finally:
            conn.rollback()
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_ROLLUP_LOCK})
            conn.commit()


def _one_batch(batch: int) -> tuple[int, bool]:
    """Count the rows of open gaps that have appeared and up to `batch` new rows; (counted, more to do)."""
    now = datetime.now(UTC)
    with _exclusive() as conn, conn.begin():
        conn.execute(_insert(conn, AuditRollupState).values(name=STATE, last_id=0).on_conflict_do_nothing())
        last = conn.scalar(select(AuditRollupState.last_id).where(AuditRollupState.name == STATE)) or 0
        found = _fill_gaps(conn, now)
        ids = list(
            conn.scalars(select(ToolCallLog.id).where(ToolCallLog.id > last).order_by(ToolCallLog.id).limit(batch))
        )
        if ids:
            # On the first run the ids below the oldest row are history (pruned, or a table reset), not gaps.
            _remember_gaps(conn, ids[0] - 1 if last == 0 else last, ids, now)
            _roll(conn, and_(ToolCallLog.id > last, ToolCallLog.id <= ids[-1]))
            conn.execute(update(AuditRollupState).where(AuditRollupState.name == STATE).values(last_id=ids[-1]))
        for i in range(0, len(found), GAP_IDS_PER_STATEMENT):
            _roll(conn, ToolCallLog.id.in_(found[i : i + GAP_IDS_PER_STATEMENT]))
    return len(ids) + len(found), len(ids) == batch


def _fill_gaps(conn: Connection, now: datetime) -> list[int]:
    """Ids of gap rows that exist now; the gaps shrink to what is still missing, expired ones go."""
    gaps = conn.execute(select(AuditRollupGap.low, AuditRollupGap.high, AuditRollupGap.seen_at)).all()
    if not gaps:
        return []
    present = conn.execute(
        select(AuditRollupGap.low, ToolCallLog.id)
        .join(ToolCallLog, ToolCallLog.id.between(AuditRollupGap.low, AuditRollupGap.high))
        .order_by(ToolCallLog.id)
    ).all()
    by_gap: dict[int, list[int]] = {}
    for low, row_id in present:
        by_gap.setdefault(low, []).append(row_id)
    expired = now - GAP_TTL
    for low, high, seen_at in gaps:
        appeared = by_gap.get(low)
        if not appeared and seen_at >= expired:
            continue
        conn.execute(delete(AuditRollupGap).where(AuditRollupGap.low == low))
        if seen_at >= expired:
            remaining = _missing(low - 1, [*appeared, high + 1] if appeared else [high + 1])
            if remaining:
                conn.execute(
                    insert(AuditRollupGap),
                    [{"low": a, "high": b, "seen_at": seen_at} for a, b in remaining],
                )
    return [row_id for _low, row_id in present]


def _remember_gaps(conn: Connection, last: int, ids: list[int], now: datetime) -> None:
    missing = _missing(last, ids)
    if missing:
        conn.execute(insert(AuditRollupGap), [{"low": a, "high": b, "seen_at": now} for a, b in missing])


def _missing(after: int, ids: list[int]) -> list[tuple[int, int]]:
    """The ranges of ids between `after` and the last of `ids` (ascending) that `ids` skips."""
    ranges, previous = [], after
    for row_id in ids:
        if row_id > previous + 1:
            ranges.append((previous + 1, row_id - 1))
        previous = row_id
    return ranges


def _roll(conn: Connection, rows: ColumnElement[bool]) -> None:
    """Add the audit rows matching `rows` into both spans of both rollup tables (upserts: sums add up)."""
    sqlite = conn.dialect.name == "sqlite"
    for span in SPANS:
        bucket = _bucket(span, sqlite)
        span_value: ColumnElement[int] = literal_column(str(span))
        sums = (
            select(
                span_value,
                bucket,
                ToolCallLog.tool_name,
                ToolCallLog.status,
                func.count(),
                func.sum(ToolCallLog.duration_ms),
                func.max(ToolCallLog.duration_ms),
            )
            .where(rows)
            .group_by(bucket, ToolCallLog.tool_name, ToolCallLog.status)
        )
        upsert = _insert(conn, AuditRollup).from_select(
            ["span", "bucket", "tool_name", "status", "calls", "duration_sum", "duration_max"], sums
        )
        larger = func.max if sqlite else func.greatest  # SQLite's two-argument max() is a scalar function
        conn.execute(
            upsert.on_conflict_do_update(
                index_elements=["span", "bucket", "tool_name", "status"],
                set_={
                    "calls": AuditRollup.calls + upsert.excluded.calls,
                    "duration_sum": AuditRollup.duration_sum + upsert.excluded.duration_sum,
                    "duration_max": larger(AuditRollup.duration_max, upsert.excluded.duration_max),
                },
            )
        )
        latency_bin = _bin_expression()
        counts = select(span_value, bucket, latency_bin, func.count()).where(rows).group_by(bucket, latency_bin)
        upsert = _insert(conn, AuditRollupLatency).from_select(["span", "bucket", "bin", "calls"], counts)
        conn.execute(
            upsert.on_conflict_do_update(
                index_elements=["span", "bucket", "bin"],
                set_={"calls": AuditRollupLatency.calls + upsert.excluded.calls},
            )
        )


def _bucket(span: int, sqlite: bool):
    """The start (epoch seconds) of the `span`-second bucket holding a row's created_at."""
    column = f"{ToolCallLog.__tablename__}.created_at"
    if sqlite:  # SQLite keeps UTC text; strftime('%s') is whole seconds, integer division floors (>= 1970)
        return literal_column(f"(CAST(strftime('%s', {column}) AS INTEGER) / {span}) * {span}")
    return literal_column(f"CAST(floor(extract(epoch FROM {column}) / {span}) * {span} AS BIGINT)")


def _bin_expression(low: int = 0, high: int = len(BIN_EDGES_MS)):
    """A CASE giving the latency bin of duration_ms, nested as a binary search: ~8 comparisons a row.

    Literals, not bound parameters: PostgreSQL matches a GROUP BY expression to the selected one
    by its text, and two renderings of one bound value would be two different parameters."""
    if low == high:
        return literal_column(str(low))
    middle = (low + high) // 2
    edge = repr(BIN_EDGES_MS[middle])
    return literal_column(
        f"CASE WHEN {ToolCallLog.__tablename__}.duration_ms < {edge} "
        f"THEN {_bin_expression(low, middle)} ELSE {_bin_expression(middle + 1, high)} END"
    )


def _insert(conn: Connection, model):
    return (sqlite_insert if conn.dialect.name == "sqlite" else pg_insert)(model.__table__)
