"""Start-up use cases: migrate, bootstrap the first admin, seed the demo.

Called by `mcp-gateway` (before gunicorn forks), by the stdio transport and by
`flask janus bootstrap` — never by create_app.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
from datetime import UTC, datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import delete, inspect, select, text
from werkzeug.security import generate_password_hash

from janus.extensions import db, init_migrations
from janus.gateway.catalog import hash_token
from janus.models import SCHEMA_REVISION, AdminAuditLog, ClientToken, Connection, Endpoint, PortalSession, User
from janus.services._common import affected_rows
from janus.services.startup_lock import startup_lock
from janus.services.token_key import server_key

log = logging.getLogger(__name__)

DEMO_CONNECTION = "LCH DPG & Collateral Services"
DEMO_TOKEN = "lch_member_test_token_889"  # noqa: S105 - the demo seed's published token (SEED_DEMO_DATA only)
_MOCK_URL = re.compile(r"^http://127\.0\.0\.1:\d+/api/mock$")


def current_revision() -> str | None:
    engine = db.engine
    if not inspect(engine).has_table("alembic_version"):
        return None
    with engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def ensure_schema() -> bool:
    """Bring the schema to head; returns True when Alembic ran.

    The common case (already at head) costs one query and no Alembic import.
    """
    if current_revision() == SCHEMA_REVISION:
        return False
    with startup_lock():
        return _migrate_if_needed()


def _migrate_if_needed() -> bool:
    if current_revision() == SCHEMA_REVISION:
        return False
    from flask_migrate import upgrade

    init_migrations(current_app)
    log.info("migrating the database schema to %s", SCHEMA_REVISION)
    upgrade()
    return True


def ensure_admin_user() -> str | None:
    """Create the first admin on an empty users table; returns a generated password, if any."""
    if db.session.scalar(select(User.id).limit(1)) is not None:
        return None
    username = current_app.config["ADMIN_USERNAME"] or "admin"
    password = current_app.config["ADMIN_PASSWORD"]
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(18)
    db.session.add(User(username=username, password_hash=generate_password_hash(password), role="admin"))
    db.session.add(AdminAuditLog(actor="system", action="user.bootstrap", target_type="user", target_id=username))
    db.session.commit()
    if generated:
        # Printed once, on stderr only (stdout may be the stdio transport).
        print(
            f"\n*** Janus created the admin user {username!r} with password: {generated}\n"
            f"*** Set ADMIN_PASSWORD to choose it yourself; this is shown only once.\n",
            file=sys.stderr,
            flush=True,
        )
    return generated


def seed_demo_data(*, move_mock: bool = True) -> bool:
    """Idempotently add the reference's LCH demo; returns True when something was added.

    `move_mock=False` (stdio processes) only adds what is missing: a stdio
    process's PORT is usually unset (default 8899) and says nothing about where
    the running server's mock lives, so it must never rewrite the shared row.
    """
    port = current_app.config["PORT"]
    base_url = f"http://127.0.0.1:{port}/api/mock"
    changed = False
    conn = db.session.scalar(select(Connection).where(Connection.name == DEMO_CONNECTION))
    if conn is None:
        conn = Connection(
            name=DEMO_CONNECTION,
            base_url=base_url,
            prefix="lch_",
            description="LCH demo: DPG trade volumes and non-cash collateral (served by this gateway's mock)",
            auth_type="none",
            timeout_seconds=10.0,
        )
        conn.endpoints = [
            Endpoint(
                tool_name="get_dpg_trade_volume",
                method="GET",
                path_template="/dpg/trade-volume",
                description="Daily cleared trade volumes with a currency breakdown for an LCH member.",
                input_schema=_member_schema(),
            ),
            Endpoint(
                tool_name="get_non_cash_collateral",
                method="GET",
                path_template="/collateral/non-cash",
                description="Non-cash collateral holdings (ISIN, market value, haircut) for an LCH member.",
                input_schema=_member_schema(),
            ),
        ]
        db.session.add(conn)
        changed = True
    elif move_mock and _MOCK_URL.match(conn.base_url) and conn.base_url != base_url:
        conn.base_url = base_url  # the mock moved with PORT
        changed = True
    demo_hash = hash_token(DEMO_TOKEN, server_key())
    if db.session.scalar(select(ClientToken.id).where(ClientToken.token_hash == demo_hash)) is None:
        db.session.add(
            ClientToken(
                name="LCH Member Test Token",
                token_hash=demo_hash,
                token_hint=DEMO_TOKEN[:6],
                role="developer",
                scopes="lch_*",
            )
        )
        changed = True
    if changed:
        db.session.add(AdminAuditLog(actor="system", action="demo.seed", target_type="connection", target_id=conn.id))
    db.session.commit()
    return changed


def warn_if_demo_token() -> bool:
    exists = (
        db.session.scalar(
            select(ClientToken.id).where(
                ClientToken.token_hash == hash_token(DEMO_TOKEN, server_key()), ClientToken.enabled.is_(True)
            )
        )
        is not None
    )
    if exists:
        log.warning(
            "the well-known demo token %r is enabled: anyone who read the docs can call lch_* tools; "
            "disable or delete it outside demos",
            DEMO_TOKEN,
        )
    return exists


def purge_ended_sessions(older_than: timedelta = timedelta(days=7)) -> int:
    """Housekeeping at server start: MCP sessions and portal sign-ins over (or idle) for a week go."""
    from janus.services.sessions import SessionStore

    cutoff = datetime.now(UTC) - older_than
    removed = SessionStore(db.engine).purge(older_than)
    removed += (
        affected_rows(
            db.session.execute(
                delete(PortalSession).where((PortalSession.ended_at < cutoff) | (PortalSession.expires_at < cutoff))
            )
        )
        or 0
    )
    db.session.commit()
    if removed:
        log.info("removed %d sessions that ended more than %d days ago", removed, older_than.days)
    return removed


def bootstrap(app: Flask, *, create_admin: bool = True, move_demo_mock: bool | None = None) -> None:
    """Everything a process does before serving. Concurrent starters (gunicorn
    masters, stdio processes, replicas) take turns, so exactly one migrates,
    creates the first admin and seeds the demo.

    stdio passes create_admin=False: its stderr ends up in desktop clients' log
    files, no place for a generated password; the server creates the admin.
    Nor may stdio move the demo connection to its own PORT: only the server,
    which serves the mock, knows where the mock is (see seed_demo_data).
    move_demo_mock defaults to create_admin, so both stdio entry points
    (`mcp-gateway -stdio`, `flask janus stdio`) leave the row alone.
    """
    with app.app_context():
        # The common stdio start (schema current, nothing to seed) takes no lock at all.
        if create_admin or app.config["SEED_DEMO_DATA"] or current_revision() != SCHEMA_REVISION:
            with startup_lock():
                _migrate_if_needed()
                # Right after migrating: the first start after schema 0005 re-keys the stored token hashes.
                server_key(app, under_startup_lock=True)
                if create_admin:
                    ensure_admin_user()
                    purge_ended_sessions()
                if app.config["SEED_DEMO_DATA"]:
                    seed_demo_data(move_mock=create_admin if move_demo_mock is None else move_demo_mock)
        warn_if_demo_token()
        db.session.remove()


def _member_schema() -> dict:
    return {
        "type": "object",
        "properties": {
            "member_id": {"type": "string", "description": "LCH clearing member identifier, e.g. MEM-LCH-001"}
        },
        "required": ["member_id"],
    }
