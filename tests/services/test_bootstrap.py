"""Start-up: concurrent first starts migrate once, on SQLite and PostgreSQL; stdio serves from either."""

from __future__ import annotations

import json
import subprocess

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import _pg_engine_url
from tests.support.stdio import MCP_GATEWAY, gateway_env

LIST = b'{"jsonrpc":"2.0","method":"tools/list","id":1}\n'


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_database(request, tmp_path):
    """Environment for a brand-new, unmigrated database of each kind."""
    if request.param == "sqlite":
        yield {"DATABASE_PATH": str(tmp_path / "fresh.db")}
        return
    base = request.getfixturevalue("pg_schema")
    schema = f"{base}_fresh"
    engine = create_engine(_pg_engine_url())
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _pg_engine_url(schema).replace("postgresql+psycopg2://", "postgres://")
    yield {"DATABASE_URL": url, "DATABASE_PATH": str(tmp_path / "unused.db")}
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def test_concurrent_first_starts_migrate_once_and_all_serve(fresh_database, tmp_path):
    env = gateway_env(
        fresh_database["DATABASE_PATH"],
        SEED_DEMO_DATA="true",
        **{k: v for k, v in fresh_database.items() if k != "DATABASE_PATH"},
    )
    procs = [
        subprocess.Popen(
            [MCP_GATEWAY, "-stdio"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(LIST, timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
        tools = json.loads(out)["result"]["tools"]
        assert [t["name"] for t in tools] == ["lch_get_dpg_trade_volume", "lch_get_non_cash_collateral"]
    migrations = sum(err.decode().count("Running upgrade  -> 0001_initial") for _, err in outputs)
    assert migrations == 1
    seeded = sum(1 for _, err in outputs if b"admin user" in err)
    assert seeded == 0  # ADMIN_PASSWORD is set by gateway_env: nothing is printed
