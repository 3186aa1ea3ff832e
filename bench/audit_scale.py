"""/telemetry and the dashboard at 1,000,000 tool-call audit rows, on SQLite and PostgreSQL (issue 14, item 5).

Generates N audit rows (default 1,000,000: 20 tools, ~94 % successes, log-normal latencies, spread evenly
over the last 7 days, oldest first as a gateway appends them, so every window holds rows) into a fresh SQLite file and a fresh PostgreSQL database
(bulk inserts of 50,000 rows: executemany on SQLite, COPY on PostgreSQL), then times, inside the app
(server time, no network):

  - telemetry.traffic(window) for every window (1h, 24h, 7d): what /telemetry computes;
  - status.dashboard(): the dashboard's headline numbers;
  - GET /telemetry?window=… through Flask's test client (routing, auth, template), signed in.

With rollups, the whole backlog is rolled up first and timed on its own ("rollup backfill": what
`flask janus audit rollup`, or the first reads within their budget, do once after the upgrade). Each
measurement's first call is reported on its own ("first"), then --repeat calls, and the p50 is printed. Bounded: N ≤ 2,000,000, repeat ≤ 20.

  PYTHONPATH=. .venv/bin/python bench/audit_scale.py [--rows 1000000] [--repeat 5] [--backends sqlite,postgres]

Run with main's code on PYTHONPATH for the "before" numbers. JANUS_BENCH_PG_URL names the server
(default postgresql://postgres@127.0.0.1:5432/postgres); the bench database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, os.environ.get("JANUS_BENCH_ROOT") or str(Path(__file__).resolve().parent.parent))

PASSWORD = "bench audit scale password"
CHUNK = 50_000
STATUSES = ("success",) * 94 + ("failure",) * 4 + ("denied",) * 1 + ("cancelled",) * 1
SPAN_SECONDS = 7 * 24 * 3600 - 600  # inside the 7-day window whichever 6-hour bucket `now` falls in


def rows(count: int, now: datetime):
    rng = random.Random(145)  # noqa: S311 - reproducible bench data, not secrets
    for i in range(count):
        status = STATUSES[i % len(STATUSES)]
        # Oldest first with a little jitter, as a gateway appends them (ids grow with time).
        age = SPAN_SECONDS * (1 - i / count) - rng.random() * 5
        yield (
            now - timedelta(seconds=max(0.0, age)),
            f"Team {i % 40}",
            f"svc{i % 20:02d}_get_item",
            status,
            200 if status == "success" else 502,
            round(rng.lognormvariate(4.0, 1.0), 3),
            None if status == "success" else "upstream answered 502",
            f"{rng.getrandbits(256):064x}",
            "streamable_http",
        )


COLUMNS = (
    "created_at",
    "token_name",
    "tool_name",
    "status",
    "http_status",
    "duration_ms",
    "error_message",
    "arguments_digest",
    "transport",
)


def seed(app, count: int, now: datetime) -> float:
    from janus.extensions import db
    from janus.models import ToolCallLog
    from janus.services import users
    from janus.services.bootstrap import ensure_schema

    with app.app_context():
        ensure_schema()
        users.create_user("bench", {"username": "bench", "password": PASSWORD, "role": "admin"})
        started = time.perf_counter()
        table = ToolCallLog.__table__
        generated = rows(count, now)
        if db.engine.dialect.name == "postgresql":
            raw = db.engine.raw_connection()
            try:
                cursor = raw.cursor()
                while True:
                    chunk = [next(generated, None) for _ in range(CHUNK)]
                    chunk = [r for r in chunk if r is not None]
                    if not chunk:
                        break
                    buffer = io.StringIO()
                    for r in chunk:
                        buffer.write(
                            "\t".join(
                                "\\N" if v is None else (v.isoformat() if isinstance(v, datetime) else str(v))
                                for v in r
                            )
                            + "\n"
                        )
                    buffer.seek(0)
                    cursor.copy_expert(f"COPY tool_call_logs ({', '.join(COLUMNS)}) FROM STDIN", buffer)
                raw.commit()
                cursor.execute("ANALYZE tool_call_logs")
                raw.commit()
                cursor.close()
            finally:
                raw.close()
        else:
            with db.engine.begin() as conn:
                while True:
                    chunk = [next(generated, None) for _ in range(CHUNK)]
                    chunk = [dict(zip(COLUMNS, r, strict=True)) for r in chunk if r is not None]
                    if not chunk:
                        break
                    conn.execute(table.insert(), chunk)
            with db.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        return time.perf_counter() - started


def timed(fn, repeat: int) -> tuple[float, float]:
    started = time.perf_counter()
    fn()
    first = (time.perf_counter() - started) * 1000
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return first, statistics.median(samples)


def measure(app, repeat: int) -> dict[str, tuple[float, float]]:
    from janus.extensions import db
    from janus.services import status, telemetry

    results: dict[str, tuple[float, float]] = {}
    with app.app_context():
        try:
            from janus.services import audit_rollups
        except ImportError:  # main's code before the rollups: nothing to catch up
            audit_rollups = None
        if audit_rollups is not None:  # what `flask janus audit rollup` (or the first reads) does once after upgrading
            started = time.perf_counter()
            audit_rollups.advance(budget_seconds=None)
            results["rollup backfill (one-off)"] = ((time.perf_counter() - started) * 1000, 0.0)
        for key in telemetry.WINDOWS:

            def traffic(key=key):
                telemetry.traffic(key)
                db.session.rollback()

            results[f"traffic {key}"] = timed(traffic, repeat)

        def dashboard():
            status.dashboard()
            db.session.rollback()

        results["dashboard()"] = timed(dashboard, repeat)
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    signed_in = client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token})
    assert signed_in.status_code == 303, signed_in.status_code
    for key in telemetry.WINDOWS:

        def page(key=key):
            reply = client.get(f"/telemetry?window={key}")
            assert reply.status_code == 200, reply.status_code
            reply.close()

        results[f"GET /telemetry?window={key}"] = timed(page, repeat)

    def home():
        reply = client.get("/")
        assert reply.status_code == 200, reply.status_code
        reply.close()

    results["GET / (dashboard)"] = timed(home, repeat)
    return results


def run(backend: str, count: int, repeat: int) -> dict:
    from sqlalchemy import create_engine, text

    from janus import create_app

    tmp = Path(tempfile.mkdtemp(prefix="janus-audit-scale-"))
    config = {"VAULT_LOCAL_PATH": str(tmp / "secrets.json"), "LOG_LEVEL": "WARNING"}
    admin_engine = None
    database = None
    if backend == "postgres":
        base = os.environ.get("JANUS_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
        server = base.split("://", 1)[1].rsplit("/", 1)[0]
        database = f"janus_bench_audit_{uuid.uuid4().hex[:8]}"
        admin_engine = create_engine(f"postgresql+psycopg2://{server}/postgres", isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{database}"'))
        config["SQLALCHEMY_DATABASE_URI"] = f"postgresql+psycopg2://{server}/{database}"
    else:
        config["DATABASE_PATH"] = str(tmp / "janus.db")
    try:
        app = create_app(config)
        now = datetime.now(UTC)
        seeded = seed(app, count, now)
        results = measure(app, repeat)
        from janus.extensions import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        return {"backend": backend, "rows": count, "seed_seconds": round(seeded, 1), "results": results}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the SQLite file of a million rows is ~300 MB
        if admin_engine is not None:
            with admin_engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            admin_engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    count = max(1, min(args.rows, 2_000_000))
    repeat = max(1, min(args.repeat, 20))
    report = []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        outcome = run(backend, count, repeat)
        report.append(outcome)
        print(f"\n{backend}: {count:,} audit rows (seeded in {outcome['seed_seconds']} s), p50 of {repeat}")
        print(f"{'what':32} {'first ms':>10} {'p50 ms':>10}")
        for name, (first, p50) in outcome["results"].items():
            print(f"{name:32} {first:10.1f} {p50:10.1f}")
    print(
        json.dumps(
            [
                {
                    "backend": r["backend"],
                    "rows": r["rows"],
                    **{k: [round(a, 1), round(b, 1)] for k, (a, b) in r["results"].items()},
                }
                for r in report
            ]
        )
    )


if __name__ == "__main__":
    main()
