"""Time of an OpenAPI import of GitHub's REST API description (~13 MB, 1,100+ operations) on a fresh SQLite database.

Three steps through the service (janus.services.openapi_import, what the admin API, CLI and portal call): a
dry-run of every operation (read + convert + plan), applying all of them (one transaction, every endpoint
validated and audited), and a re-plan (everything unchanged). Needs scripts/install-openapi-fixtures. No network.

  .venv/bin/python bench/openapi_import.py
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SPEC = ROOT / "tools/openapi-fixtures/node_modules/@octokit/openapi/generated/api.github.com.json"


def main() -> None:
    from janus import create_app
    from janus.services import openapi_import
    from janus.services.bootstrap import ensure_schema

    if not SPEC.is_file():
        sys.exit(f"{SPEC} is missing: run scripts/install-openapi-fixtures")
    text = SPEC.read_text()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"DATABASE_PATH": f"{tmp}/bench.db", "JWT_SECRET": secrets.token_urlsafe(32)})
        with app.app_context():
            ensure_schema()
            steps = (
                ("dry-run of all", {"dry_run": True}),
                ("apply of all", {}),
                ("re-plan", {"dry_run": True}),
            )
            for label, extra in steps:
                started = time.perf_counter()
                plan = openapi_import.import_openapi("bench", {"spec": text, "prefix": "gh_", **extra})
                took = time.perf_counter() - started
                counts = ", ".join(f"{v} {k}" for k, v in plan["counts"].items())
                print(f"{label:15} {took:6.2f} s  ({counts}; applied {len(plan['applied'])})")


if __name__ == "__main__":
    main()
