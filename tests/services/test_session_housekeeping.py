"""Server start removes sessions and sign-ins that ended (or went idle) more than a week ago, and no others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from janus.extensions import db
from janus.models import McpSession, PortalSession
from janus.services import users as users_service
from janus.services.bootstrap import purge_ended_sessions


def test_purge_keeps_live_and_recent_sessions_and_drops_week_old_ones(app):
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=8), now - timedelta(days=1)
    with app.app_context():
        user = users_service.create_user(
            "setup", {"username": "ops", "password": "long enough password", "role": "admin"}
        )
        db.session.add_all(
            [
                McpSession(id="live", transport="streamable", token_hash="h", created_at=old, last_seen_at=now),
                McpSession(
                    id="ended-recently",
                    transport="sse",
                    token_hash="h",
                    created_at=old,
                    last_seen_at=recent,
                    ended_at=recent,
                ),
                McpSession(
                    id="ended-long-ago", transport="sse", token_hash="h", created_at=old, last_seen_at=old, ended_at=old
                ),
                McpSession(id="idle-long", transport="streamable", token_hash="h", created_at=old, last_seen_at=old),
                PortalSession(
                    id="a" * 64,
                    user_id=user["id"],
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + timedelta(hours=12),
                ),
                PortalSession(
                    id="b" * 64,
                    user_id=user["id"],
                    created_at=old,
                    last_seen_at=old,
                    expires_at=old + timedelta(hours=12),
                    ended_at=old,
                ),
                PortalSession(
                    id="c" * 64,
                    user_id=user["id"],
                    created_at=old,
                    last_seen_at=old,
                    expires_at=old + timedelta(hours=12),
                ),
            ]
        )
        db.session.commit()
        assert purge_ended_sessions() == 4
        assert set(db.session.scalars(select(McpSession.id))) == {"live", "ended-recently"}
        assert set(db.session.scalars(select(PortalSession.id))) == {"a" * 64}
