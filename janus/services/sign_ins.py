"""Sign-ins (portal cookies and admin-API/mcp-cli tokens): server-side sessions, throttling, audit rows.

The portal's cookie holds a random value; its SHA-256 is a row in portal_sessions
(kind "portal"). An admin-API token (janus.auth.session_jwt) carries another random
value, `sid`, whose SHA-256 is a row of kind "api". A sign-in ends when the user
signs out (`POST /logout`, `POST /api/v1/logout`, `mcp-cli logout`), after its
lifetime, a portal one also after PORTAL_IDLE_MINUTES without a request, or at
once when the user is disabled, deleted or given a new password — in every worker
and replica, since the row is the truth and the cookie or token alone is worth
nothing once it is ended.

Sign-in attempts pass two process-local guards before any password is hashed
(issue 10, items 5 and 13):
- LOGIN_RATE_PER_IP attempts per minute from one client address: beyond it, 429
  with Retry-After; nothing is looked up, hashed or stored but one
  `login.throttled` row per address, minute and process.
- LOGIN_MAX_FAILURES failures for one (username, client address) pair within
  LOGIN_LOCKOUT_MINUTES: that pair gets 429 until the oldest of those failures
  is older than the window (refusals do not extend it); the same username from
  another address is unaffected, so guessing cannot lock the real admin out.
  Break-glass on the server: `flask --app janus janus users unlock|set-password`.
Counters live in the worker's memory: with W workers (or replicas) a client gets
at most W times the limits. Password hashing runs off the gevent loop (a small
thread pool), so sign-ins in progress never stall the worker's other requests.

Failed sign-ins are audit rows (`login.failure`): a known username under its own
name, any other under one fixed placeholder, so the log holds no attacker-chosen
text and grows at most LOGIN_RATE_PER_IP rows a minute per address.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update

from janus.extensions import db
from janus.models import AdminAuditLog, PortalSession, User
from janus.models._types import utcnow
from janus.services import admin_audit
from janus.services import users as users_service
from janus.services._common import affected_rows
from janus.services.errors import NotFound, ServiceError
from janus.services.off_loop import OffLoop

TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most this often per sign-in
USER_AGENT_MAX = 255
UNKNOWN_USER = "(unknown user)"  # the audit actor of a failed sign-in whose username does not exist
ANY_USER = "(any user)"  # the audit actor of an address refused by the rate limit
RATE_WINDOW_SECONDS = 60
MAX_TRACKED_ADDRESSES = 100_000  # memory bound of the per-address rate buckets; the longest idle goes first
MAX_TRACKED_PAIRS = 100_000  # memory bound of the lockout counters; the oldest pair is forgotten first
HASH_THREADS = 2  # concurrent password hashes per worker: each scrypt takes ~32 MB and a core
PORTAL, API = "portal", "api"
UNLOCK_ACTION = "login.unlock"
USERNAME_KEY_MAX = 151  # one past the longest valid username: a cut name can never match a real one


class TooManyAttempts(ServiceError):
    status = 429
    error = "too_many_attempts"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = max(1, int(retry_after))


@dataclass(frozen=True)
class Limits:
    session_hours: float = 12.0
    idle_minutes: float = 60.0
    max_failures: int = 5
    lockout_minutes: float = 15.0
    rate_per_ip: int = 20
    api_session_hours: float = 12.0

    @classmethod
    def from_config(cls, cfg: Any) -> Limits:
        return cls(
            session_hours=float(cfg.get("PORTAL_SESSION_HOURS", 12.0)),
            idle_minutes=float(cfg.get("PORTAL_IDLE_MINUTES", 60.0)),
            max_failures=int(cfg.get("LOGIN_MAX_FAILURES", 5)),
            lockout_minutes=float(cfg.get("LOGIN_LOCKOUT_MINUTES", 15.0)),
            rate_per_ip=int(cfg.get("LOGIN_RATE_PER_IP", 20)),
            api_session_hours=float(cfg.get("SESSION_JWT_HOURS", 12.0)),
        )


def client_address(remote_addr: str | None, forwarded_for: str | None, trusted_hops: int) -> str:
    """The address sign-in limits are keyed by.

    The peer's address unless TRUSTED_PROXY_HOPS says that many proxies each append
    the address they saw to X-Forwarded-For: then the entry the nearest trusted proxy
    wrote. Anything further left was written by the client and is never believed.
    """
    peer = (remote_addr or "")[:64] or "unknown"
    if trusted_hops <= 0 or not forwarded_for:
        return peer
    hops = [part.strip() for part in forwarded_for.split(",") if part.strip()]
    if len(hops) < trusted_hops:
        return peer
    return hops[-trusted_hops][:64] or peer


class Guard:
    """Per-process sign-in counters: an attempt budget per address, failures per (username, address)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._attempts: OrderedDict[str, tuple[float, float]] = OrderedDict()  # address -> (tokens, when)
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._noted: dict[tuple[str, ...], float] = {}

    def admit(self, address: str, rate: int) -> int:
        """0 when the attempt may go on; otherwise the seconds until this address may try again.

        A token bucket per address: `rate` attempts at once, then one more every minute / `rate`.
        Unlike counting per clock minute, crossing a minute boundary gives nothing back (a fixed
        window let a client spend 2 x rate around the boundary, and refused nothing it should have).
        Refused attempts cost nothing, so hammering does not extend the wait.
        """
        if rate <= 0:
            return 0
        now = self._clock()
        refill = rate / RATE_WINDOW_SECONDS  # attempts regained per second
        with self._lock:
            tokens, last = self._attempts.pop(address, (float(rate), now))
            tokens = min(float(rate), tokens + (now - last) * refill)
            admitted = tokens >= 1.0
            if admitted:
                tokens -= 1.0
            self._attempts[address] = (tokens, now)  # most recent last
            while len(self._attempts) > MAX_TRACKED_ADDRESSES:
                self._attempts.popitem(last=False)  # the longest idle: its bucket has refilled the most
        return 0 if admitted else int((1.0 - tokens) / refill) + 1

    def locked_for(
        self,
        username: str,
        address: str,
        limits: Limits,
        unlocked_at: Callable[[str], float | None] = lambda username: None,
    ) -> int:
        """0 unless the pair has failed max_failures times within the window; then the seconds left.

        `unlocked_at` (asked only for a locked pair) is when the username was last unlocked on the
        server (break-glass, any process): failures before it no longer count.
        """
        if limits.max_failures <= 0:
            return 0
        window = limits.lockout_minutes * 60
        now = self._clock()
        with self._lock:
            failures = self._failures.get((username, address))
            if not failures or len(failures) < limits.max_failures or now - failures[0] >= window:
                return 0
            oldest = failures[0]
        unlocked = unlocked_at(username)
        if unlocked is not None and unlocked >= oldest:
            self.succeeded(username, address)
            return 0
        return int(window - (now - oldest)) + 1

    def failed(self, username: str, address: str, limits: Limits) -> None:
        if limits.max_failures <= 0:
            return
        key = (username, address)
        with self._lock:
            failures = self._failures.pop(key, None) or deque(maxlen=limits.max_failures)
            failures.append(self._clock())
            self._failures[key] = failures  # most recent last
            while len(self._failures) > MAX_TRACKED_PAIRS:
                self._failures.popitem(last=False)

    def succeeded(self, username: str, address: str) -> None:
        with self._lock:
            self._failures.pop((username, address), None)

    def unlock(self, username: str | None = None) -> int:
        with self._lock:
            keys = [k for k in self._failures if username is None or k[0] == username]
            for key in keys:
                del self._failures[key]
            return len(keys)

    def first_refusal(self, key: tuple[str, ...], seconds: float) -> bool:
        """True once per key and period: throttled attempts are counted as one audit row, not stored each."""
        now = self._clock()
        with self._lock:
            if len(self._noted) > MAX_TRACKED_PAIRS:
                self._noted = {k: t for k, t in self._noted.items() if t > now}
            if self._noted.get(key, 0.0) > now:
                return False
            self._noted[key] = now + seconds
            return True


def guard() -> Guard:
    """This app's guard in this process (a test's app gets its own)."""
    found = current_app.extensions.get("janus.sign_in_guard")
    if found is None:
        found = current_app.extensions["janus.sign_in_guard"] = Guard()
    return found


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_credentials(
    username: str, password: str, limits: Limits, *, via: str, remote_addr: str | None = None
) -> dict[str, Any] | None:
    """The user's view when the password is right; TooManyAttempts or None (and an audit row) otherwise.

    `remote_addr` is the client address (client_address()). Commits its audit row, so a failure is on
    record even though the caller answers with an error.
    """
    address = remote_addr or "unknown"
    # Valid usernames are at most 150 characters; a longer one is cut so that counters stay small
    # whatever a form sends (the portal's field has no length limit of its own).
    username = username[:USERNAME_KEY_MAX]
    counters = guard()
    wait = counters.admit(address, limits.rate_per_ip)
    if wait:
        if counters.first_refusal(("rate", address), wait):
            admin_audit.record(
                ANY_USER,
                "login.throttled",
                "user",
                None,
                via=via,
                remote_addr=address,
                reason=f"more than {limits.rate_per_ip} sign-in attempts a minute from this address; "
                "further refusals this minute are not recorded",
            )
            db.session.commit()
        raise TooManyAttempts(
            f"Too many sign-in attempts from this address; try again in {wait} seconds.", retry_after=wait
        )
    wait = counters.locked_for(username, address, limits, _unlocked_at)
    if wait:
        if counters.first_refusal(("lockout", username, address), wait):
            known = users_service.exists(username)
            admin_audit.record(
                username if known else UNKNOWN_USER,
                "login.throttled",
                "user",
                None,
                via=via,
                remote_addr=address,
                reason=f"{limits.max_failures} failed sign-ins from this address; further refusals "
                "until the lockout ends are not recorded",
            )
            db.session.commit()
        minutes = f"{limits.lockout_minutes:g}"
        raise TooManyAttempts(
            f"Too many failed sign-ins for this username from this address; try again in {minutes} minutes.",
            retry_after=wait,
            field="username",
        )
    known, user = users_service.authenticate_with_outcome(username, password, run=off_loop)
    if user is not None:
        counters.succeeded(username, address)
        admin_audit.record(user["username"], "login.success", "user", user["id"], via=via, remote_addr=address)
    else:
        counters.failed(username, address, limits)
        admin_audit.record(
            username if known else UNKNOWN_USER, "login.failure", "user", None, via=via, remote_addr=address
        )
    db.session.commit()
    return user


def _unlocked_at(username: str) -> float | None:
    """When `flask janus users unlock|set-password` last unlocked this username (an audit row), as a timestamp."""
    when = db.session.scalar(
        select(func.max(AdminAuditLog.created_at))
        .join(User, User.id == AdminAuditLog.target_id)
        .where(AdminAuditLog.action == UNLOCK_ACTION, User.username == username)
    )
    return None if when is None else when.timestamp()


def unlock(actor: str, username: str) -> dict[str, Any]:
    """Break-glass: forget the username's failed sign-ins in every process (they read the audit row)."""
    user = db.session.scalar(select(User).where(User.username == username)) if users_service.exists(username) else None
    if user is None:
        raise NotFound(f"user {username!r} not found")
    admin_audit.record(actor, UNLOCK_ACTION, "user", user.id, via="cli")
    db.session.commit()
    guard().unlock(username)
    return users_service.view(user)


# Password hashes run off the gevent loop (each scrypt ~0.2 s: hashlib releases the GIL meanwhile).
off_loop = OffLoop(HASH_THREADS)


def start(
    user_id: str, limits: Limits, *, remote_addr: str | None = None, user_agent: str | None = None, kind: str = PORTAL
) -> str:
    """A new sign-in for the user; returns its secret (for the cookie, or a token's `sid`), never stored as such."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    hours = limits.api_session_hours if kind == API else limits.session_hours
    db.session.add(
        PortalSession(
            id=_digest(secret),
            user_id=user_id,
            kind=kind,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=hours),
            remote_addr=(remote_addr or "")[:64] or None,
            user_agent=(user_agent or "")[:USER_AGENT_MAX] or None,
        )
    )
    db.session.commit()
    return secret


@dataclass(frozen=True)
class ApiSignIn:
    """What an admin-API token is minted from: the row's secret and the user's credential version."""

    sid: str
    user_id: str
    credential_version: int
    expires_at: datetime


def start_api(
    user_id: str, limits: Limits, *, remote_addr: str | None = None, user_agent: str | None = None
) -> ApiSignIn:
    """A new admin-API/mcp-cli sign-in, lasting SESSION_JWT_HOURS."""
    version = db.session.scalar(select(User.credential_version).where(User.id == user_id))
    if version is None:
        raise ServiceError("the user no longer exists")
    sid = start(user_id, limits, remote_addr=remote_addr, user_agent=user_agent, kind=API)
    return ApiSignIn(
        sid=sid,
        user_id=user_id,
        credential_version=int(version),
        expires_at=utcnow() + timedelta(hours=limits.api_session_hours),
    )


def resolve(secret: str | None, limits: Limits) -> dict[str, Any] | None:
    """The signed-in user's view for a live portal sign-in; None when it is unknown, ended, idle or expired."""
    found = _live(secret, PORTAL)
    if found is None:
        return None
    sign_in, user = found
    now = utcnow()
    if (
        not user.enabled
        or now >= sign_in.expires_at
        or now - sign_in.last_seen_at > timedelta(minutes=limits.idle_minutes)
    ):
        sign_in.ended_at = now
        db.session.commit()
        return None
    _touch(sign_in, now)
    return users_service.view(user)


def resolve_api(sid: str | None, user_id: str, credential_version: int) -> dict[str, Any] | None:
    """The user's view for a live admin-API sign-in of that very user at that credential version; else None.

    A token outlives nothing: ended (logout), expired, a disabled or deleted user (rows cascade away),
    a username re-created as a new user (another id), a changed password (another version) are all None.
    """
    found = _live(sid, API)
    if found is None:
        return None
    sign_in, user = found
    now = utcnow()
    if user.id != user_id or user.credential_version != credential_version:
        return None
    if not user.enabled or now >= sign_in.expires_at:
        sign_in.ended_at = now
        db.session.commit()
        return None
    _touch(sign_in, now)
    return users_service.view(user)


def _live(secret: str | None, kind: str) -> tuple[PortalSession, User] | None:
    if not isinstance(secret, str) or not secret or len(secret) > 128:
        return None
    row = db.session.execute(
        select(PortalSession, User)
        .join(User, User.id == PortalSession.user_id)
        .where(PortalSession.id == _digest(secret), PortalSession.kind == kind, PortalSession.ended_at.is_(None))
    ).first()
    return None if row is None else (row[0], row[1])


def _touch(sign_in: PortalSession, now: datetime) -> None:
    if now - sign_in.last_seen_at > TOUCH_EVERY:
        sign_in.last_seen_at = now
        db.session.commit()


def end(secret: str | None, kind: str = PORTAL) -> bool:
    """End one sign-in; False when it was unknown or already over (logging out twice is not an error)."""
    if not (isinstance(secret, str) and secret):
        return False
    result = db.session.execute(
        update(PortalSession)
        .where(PortalSession.id == _digest(secret), PortalSession.kind == kind, PortalSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )
    db.session.commit()
    return bool(affected_rows(result))
