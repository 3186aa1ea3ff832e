"""Portal sign-ins: server-side sessions, sign-in throttling, and their audit rows.

The portal's cookie holds a random value; its SHA-256 is a row in portal_sessions.
A sign-in ends when the user signs out, after PORTAL_IDLE_MINUTES without a
request, after PORTAL_SESSION_HOURS in all, or at once when the user is disabled,
deleted or given a new password — in every worker and replica, since the row is
the truth and the cookie alone is worth nothing once it is ended.

Failed sign-ins are audit rows (`login.failure`), and they are also the throttle:
after LOGIN_MAX_FAILURES for one username within LOGIN_LOCKOUT_MINUTES (counted
since its last success), further attempts are refused without checking the
password, and recorded as `login.throttled`, which does not extend the lockout.
The portal and the admin API share this, so neither is a way around the other.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from janus.extensions import db
from janus.models import AdminAuditLog, PortalSession, User
from janus.models._types import utcnow
from janus.services import admin_audit
from janus.services import users as users_service
from janus.services.errors import ServiceError

TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most this often per sign-in
USER_AGENT_MAX = 255


class TooManyAttempts(ServiceError):
    status = 429
    error = "too_many_attempts"


@dataclass(frozen=True)
class Limits:
    session_hours: float = 12.0
    idle_minutes: float = 60.0
    max_failures: int = 5
    lockout_minutes: float = 15.0

    @classmethod
    def from_config(cls, cfg: Any) -> "Limits":
        return cls(session_hours=float(cfg.get("PORTAL_SESSION_HOURS", 12.0)),
                   idle_minutes=float(cfg.get("PORTAL_IDLE_MINUTES", 60.0)),
                   max_failures=int(cfg.get("LOGIN_MAX_FAILURES", 5)),
                   lockout_minutes=float(cfg.get("LOGIN_LOCKOUT_MINUTES", 15.0)))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_credentials(username: str, password: str, limits: Limits, *, via: str,
                      remote_addr: str | None = None) -> dict[str, Any]:
    """The user's view when the password is right; TooManyAttempts or None (and an audit row) otherwise.

    Commits its audit row, so a failure is on record even though the caller answers with an error.
    """
    if _locked_out(username, limits):
        admin_audit.record(username[:200], "login.throttled", "user", None, via=via, remote_addr=remote_addr)
        db.session.commit()
        minutes = f"{limits.lockout_minutes:g}"
        raise TooManyAttempts(f"Too many failed sign-ins for this username; try again in {minutes} minutes.",
                              field="username")
    user = users_service.authenticate(username, password)
    action = "login.success" if user else "login.failure"
    admin_audit.record((user or {}).get("username") or username[:200], action, "user", (user or {}).get("id"),
                       via=via, remote_addr=remote_addr)
    db.session.commit()
    return user


def _locked_out(username: str, limits: Limits) -> bool:
    if limits.max_failures <= 0:
        return False
    since = utcnow() - timedelta(minutes=limits.lockout_minutes)
    last_success = db.session.scalar(select(func.max(AdminAuditLog.created_at)).where(
        AdminAuditLog.action == "login.success", AdminAuditLog.actor == username,
        AdminAuditLog.created_at >= since))
    if last_success is not None:
        since = max(since, last_success)
    failures = db.session.scalar(select(func.count(AdminAuditLog.id)).where(
        AdminAuditLog.action == "login.failure", AdminAuditLog.actor == username,
        AdminAuditLog.created_at > since))
    return (failures or 0) >= limits.max_failures


def start(user_id: str, limits: Limits, *, remote_addr: str | None = None, user_agent: str | None = None) -> str:
    """A new sign-in for the user; returns the secret for the cookie (never stored as such)."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(PortalSession(id=_digest(secret), user_id=user_id, created_at=now, last_seen_at=now,
                                 expires_at=now + timedelta(hours=limits.session_hours),
                                 remote_addr=(remote_addr or "")[:64] or None,
                                 user_agent=(user_agent or "")[:USER_AGENT_MAX] or None))
    db.session.commit()
    return secret


def resolve(secret: str | None, limits: Limits) -> dict[str, Any] | None:
    """The signed-in user's view for a live sign-in; None when it is unknown, ended, idle or expired."""
    if not isinstance(secret, str) or not secret or len(secret) > 128:
        return None
    row = db.session.execute(
        select(PortalSession, User).join(User, User.id == PortalSession.user_id)
        .where(PortalSession.id == _digest(secret), PortalSession.ended_at.is_(None))
    ).first()
    if row is None:
        return None
    sign_in, user = row
    now = utcnow()
    if (not user.enabled or now >= sign_in.expires_at
            or now - sign_in.last_seen_at > timedelta(minutes=limits.idle_minutes)):
        sign_in.ended_at = now
        db.session.commit()
        return None
    if now - sign_in.last_seen_at > TOUCH_EVERY:
        sign_in.last_seen_at = now
        db.session.commit()
    return users_service.view(user)


def end(secret: str | None) -> None:
    if isinstance(secret, str) and secret:
        db.session.execute(update(PortalSession).where(PortalSession.id == _digest(secret),
                                                       PortalSession.ended_at.is_(None)).values(ended_at=utcnow()))
        db.session.commit()


def end_all_for(user_id: str) -> int:
    """End every sign-in of a user (disabled, new password); part of the caller's transaction."""
    result = db.session.execute(update(PortalSession).where(PortalSession.user_id == user_id,
                                                            PortalSession.ended_at.is_(None)).values(ended_at=utcnow()))
    return result.rowcount or 0
