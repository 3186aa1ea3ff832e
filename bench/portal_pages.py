"""Server-side render time of every portal page on a large catalog (the portal issue's goal: < 100 ms).

Seeds a fresh SQLite database with 50 connections × 10 tools (500 tools), 50 client tokens and
20,000 audit rows, signs in through the real login form, then requests each page through the app
(Flask's test client: routing, auth, services, database, Jinja; no network), interleaved in rounds.
Prints p50 / p95 / max milliseconds and SQL statements per request. Bounded: --rounds (default 20)
times the page list, no network.

  .venv/bin/python bench/portal_pages.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "bench portal password"


def seed(app) -> None:
    from janus.extensions import db
    from janus.models import ClientToken, Connection, Endpoint, ToolCallLog
    from janus.services import users
    from janus.services.bootstrap import ensure_schema

    with app.app_context():
        ensure_schema()
        users.create_user("bench", {"username": "bench", "password": PASSWORD, "role": "admin"})
        schema = {
            "type": "object",
            "properties": {"id": {"type": "string"}, "q": {"type": "string"}},
            "required": ["id"],
        }
        for c in range(50):
            conn = Connection(
                name=f"Service {c:02d}",
                base_url=f"http://127.0.0.1:9/s{c}",
                prefix=f"svc{c:02d}_",
                description=f"Downstream service number {c}",
            )
            db.session.add(conn)
            db.session.flush()
            for t in range(10):
                db.session.add(
                    Endpoint(
                        connection_id=conn.id,
                        tool_name=f"get_item_{t}",
                        method="GET",
                        path_template="/items/{{id}}",
                        description=f"Fetch item kind {t}",
                        input_schema=schema,
                    )
                )
        for k in range(50):
            db.session.add(ClientToken(name=f"Team {k}", token_hash=f"{k:064x}", scopes=f"svc{k % 50:02d}_*"))
        now = datetime.now(UTC)
        db.session.add_all(
            ToolCallLog(
                created_at=now - timedelta(seconds=4 * i),
                tool_name=f"svc{i % 50:02d}_get_item_{i % 10}",
                status="success" if i % 17 else "failure",
                http_status=200 if i % 17 else 502,
                duration_ms=5 + (i % 400),
                token_name=f"Team {i % 50}",
                transport="streamable_http",
            )
            for i in range(20_000)
        )
        db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20, help="times each page is requested (max 200)")
    parser.add_argument("--pages", default="", help="comma-separated paths (default: every sidebar page + the forms)")
    args = parser.parse_args()
    rounds = max(1, min(args.rounds, 200))

    from sqlalchemy import event

    from janus import create_app

    tmp = Path(tempfile.mkdtemp(prefix="janus-portal-bench-"))
    app = create_app(
        {"DATABASE_PATH": str(tmp / "janus.db"), "VAULT_LOCAL_PATH": str(tmp / "secrets.json"), "LOG_LEVEL": "WARNING"}
    )
    seed(app)
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    assert (
        client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token}).status_code == 303
    )

    from janus.portal import NAVIGATION

    pages = [app.url_map.bind("localhost").build(e) for e, _ in NAVIGATION if e in app.view_functions]
    pages += ["/connections/new", "/tools/new"]
    if args.pages:
        pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    statements = {"n": 0}
    with app.app_context():
        from janus.extensions import db

        event.listen(
            db.engine, "before_cursor_execute", lambda *a, **k: statements.__setitem__("n", statements["n"] + 1)
        )
    timings: dict[str, list[float]] = {p: [] for p in pages}
    queries: dict[str, int] = {}
    gc.freeze()  # as each gunicorn worker does once it has loaded the app (janus/gunicorn_conf.py)
    for url in pages:  # warm-up: templates compiled, caches filled
        assert client.get(url).status_code == 200, url
    for _ in range(rounds):
        for url in pages:
            statements["n"] = 0
            started = time.perf_counter()
            reply = client.get(url)
            timings[url].append((time.perf_counter() - started) * 1000)
            queries[url] = statements["n"]
            assert reply.status_code == 200, (url, reply.status_code)
    print(f"portal pages, 50 connections / 500 tools / 50 tokens / 20,000 audit rows, {rounds} rounds (SQLite)")
    print(f"{'page':28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'SQL/request':>12}")
    for url, samples in timings.items():
        samples.sort()
        p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
        print(f"{url:28} {statistics.median(samples):8.1f} {p95:8.1f} {samples[-1]:8.1f} {queries[url]:12d}")
    print(json.dumps({url: round(statistics.median(s), 1) for url, s in timings.items()}))


if __name__ == "__main__":
    main()
