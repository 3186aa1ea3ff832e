"""Per-minute and per-hour sums of the tool-call audit rows, so telemetry reads thousands of rows, not millions.

janus.services.audit_rollups keeps them: it rolls up the audit rows past a watermark (the highest
tool_call_logs.id already counted) in bounded batches, and remembers the ids it skipped (gaps: rows
another transaction had not committed yet) for a while so they are counted when they appear.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from janus.extensions import Model
from janus.models._types import UTCDateTime


class AuditRollup(Model):
    """Calls of one tool with one status in one bucket (span 60: a minute, 3600: an hour)."""

    __tablename__ = "audit_rollups"

    span: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # epoch seconds of the bucket's start
    tool_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    calls: Mapped[int] = mapped_column(BigInteger, default=0)
    duration_sum: Mapped[float] = mapped_column(Float, default=0.0)
    duration_max: Mapped[float] = mapped_column(Float, default=0.0)


class AuditRollupLatency(Model):
    """Calls per latency bin in one bucket (janus.services.audit_rollups.BIN_EDGES_MS): percentiles and classes."""

    __tablename__ = "audit_rollup_latency"

    span: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    bin: Mapped[int] = mapped_column(Integer, primary_key=True)
    calls: Mapped[int] = mapped_column(BigInteger, default=0)


class AuditRollupState(Model):
    """The watermark: every tool_call_logs row with id <= last_id is counted (except open gaps)."""

    __tablename__ = "audit_rollup_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)


class AuditRollupGap(Model):
    """Ids at or below the watermark that were missing when it passed them (uncommitted or rolled back)."""

    __tablename__ = "audit_rollup_gaps"

    low: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    high: Mapped[int] = mapped_column(BigInteger)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
